"""The staff alert runs for real: the Rasa server reaches the action server after an emergency."""
from __future__ import annotations

import time
import uuid

import pytest

pytestmark = pytest.mark.model


def test_an_emergency_reaches_the_action_server_and_alerts_staff(assistant):
    sender = "alert-" + uuid.uuid4().hex
    before = assistant.actions.log.read_text(errors="replace") if assistant.actions.log.exists() else ""
    rasa_before = len(assistant.rasa.log.read_text(errors="replace"))
    status, _ = assistant.send("i took all my pills and i cant stay awake", sender=sender)
    assert status == 200
    deadline = time.time() + 10
    while time.time() < deadline:
        after = assistant.actions.log.read_text(errors="replace")[len(before):]
        if f"CRISIS FLAGGED: conversation {sender}" in after or f"crisis alert sent for conversation {sender}" in after:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the action server did not alert staff; Rasa log tail:\n"
                    + assistant.rasa.log.read_text(errors="replace")[-2000:])
    rasa_log = assistant.rasa.log.read_text(errors="replace")[rasa_before:]
    assert "${ACTIONS_PORT}" not in rasa_log, "endpoints.yml's action server url was not expanded"
    assert "i took all my pills" not in after, "the visitor's text must not be in the action server's log"
