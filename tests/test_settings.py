"""Settings come from the environment; a malformed value names its variable."""
from __future__ import annotations

import pytest

from bot import settings


def test_defaults_and_overrides():
    assert settings.load({}).alert_webhook_url == ""
    got = settings.load({"ALERT_WEBHOOK_URL": " http://x/alert ", "ALERT_TIMEOUT_S": "1.5"})
    assert got.alert_webhook_url == "http://x/alert" and got.alert_timeout_s == 1.5


def test_malformed_number_names_the_variable():
    with pytest.raises(ValueError, match="ALERT_TIMEOUT_S"):
        settings.load({"ALERT_TIMEOUT_S": "soon"})
