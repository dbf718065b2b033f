"""The staff alert runs for real: an emergency is stored and announced by the Rasa server's event broker."""
from __future__ import annotations

import time
import uuid

import pytest

from bot.store import create_tables
from bot.store.alerts import AlertOutbox

pytestmark = pytest.mark.model


def test_an_emergency_is_stored_and_announced(assistant):
    sender = "alert-" + uuid.uuid4().hex
    rasa_before = len(assistant.rasa.log.read_text(errors="replace"))
    status, _ = assistant.send("i took all my pills and i cant stay awake", sender=sender)
    assert status == 200
    outbox = AlertOutbox(create_tables(assistant.settings.database), 3600)
    deadline = time.time() + 120  # delivered oldest first, behind the crisis suites' alerts on the shared server
    while time.time() < deadline:
        rows = [a for a in outbox.all() if a["conversation_id"] == sender]
        if rows and rows[0]["status"] == "logged":
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"no alert recorded and announced for {sender}; Rasa log tail:\n"
                    + assistant.rasa.log.read_text(errors="replace")[-2000:])
    assert rows[0]["kind"] == "overdose"
    log = assistant.rasa.log.read_text(errors="replace")[rasa_before:]
    assert f"CRISIS FLAGGED: conversation {sender}" in log
    assert "i took all my pills" not in log, "the visitor's text must not be in the log"
