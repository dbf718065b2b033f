"""The event broker: which Rasa events raise an alert, and that publishing never raises or blocks."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, List, Tuple

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

from bot import settings as settings_module
from bot.alerts.broker import CrisisAlertBroker, flagged
from bot.alerts.sender import AlertSender
from bot.store import create_tables
from bot.store.alerts import AlertOutbox

TEXT = "i took all my pills and i cant stay awake"


def user_event(intent: Any = "emergency", entities: Any = None, sender_id: Any = "conv-1", **extra: Any) -> dict:
    return {"event": "user", "sender_id": sender_id, "text": TEXT, "timestamp": 1.0,
            "parse_data": {"intent": {"name": intent, "confidence": 1.0}, "entities": entities or [],
                           "text": TEXT}, **extra}


class FakeSender:
    def __init__(self, fail: bool = False) -> None:
        self.calls: List[Tuple[str, str]] = []
        self.fail = fail

    def flag(self, conversation_id: str, kind: str) -> None:
        self.calls.append((conversation_id, kind))
        if self.fail:
            raise RuntimeError("sender broke")


async def close(broker: CrisisAlertBroker) -> None:
    """broker.close(), with a safety net (AlertSender.stop() can hang, see tests/alerts/test_sender.py)."""
    closing = asyncio.ensure_future(broker.close())
    done, _ = await asyncio.wait({closing}, timeout=5)
    if not done and broker.sender._task is not None:
        broker.sender._task.cancel()
        await asyncio.wait({closing}, timeout=5)


# --- flagged() --------------------------------------------------------------------------------

def test_an_emergency_with_its_kind():
    event = user_event(entities=[{"entity": "emergency_kind", "value": "overdose", "start": 0, "end": 4}])
    assert flagged(event) == ("conv-1", "overdose")


def test_an_emergency_without_a_kind_is_general():
    assert flagged(user_event()) == ("conv-1", "general")
    assert flagged(user_event(entities=[{"entity": "emergency_kind", "value": ""}])) == ("conv-1", "general")
    assert flagged(user_event(entities=[{"entity": "emergency_kind", "value": None}])) == ("conv-1", "general")
    assert flagged(user_event(entities=[{"entity": "also_answer", "value": "yes"}])) == ("conv-1", "general")


def test_the_kind_entity_is_found_among_others():
    entities = [{"entity": "also_answer", "value": "yes"}, {"entity": "emergency_kind", "value": "seizure"}]
    assert flagged(user_event(entities=entities)) == ("conv-1", "seizure")


@pytest.mark.parametrize("intent", ["faq", "faq/insurance", "greet", "nlu_fallback", "out_of_scope", "Emergency",
                                    "emergency/overdose", "", None])
def test_other_intents_raise_no_alert(intent):
    assert flagged(user_event(intent=intent,
                              entities=[{"entity": "emergency_kind", "value": "overdose"}])) is None


@pytest.mark.parametrize("event", [
    {"event": "bot", "text": "Call 911 now", "sender_id": "c"},
    {"event": "action", "name": "utter_emergency", "sender_id": "c"},
    {"event": "slot", "name": "crisis_flagged", "value": True, "sender_id": "c"},
    {"event": "session_started", "sender_id": "c"},
    {"event": "user", "sender_id": "c"},
    {"event": "user", "sender_id": "c", "parse_data": None},
    {"event": "user", "sender_id": "c", "parse_data": {}},
    {"event": "user", "sender_id": "c", "parse_data": {"intent": None}},
    {"event": "user", "sender_id": "c", "parse_data": {"intent": {}}},
    {},
])
def test_other_events_raise_no_alert(event):
    assert flagged(event) is None


def test_a_real_rasa_user_event_as_the_tracker_store_publishes_it():
    """TrackerStore._stream_new_events publishes {"sender_id": ...} updated with event.as_dict()."""
    uttered = UserUttered(TEXT, intent={"name": "emergency", "confidence": 1.0},
                          entities=[{"entity": "emergency_kind", "value": "overdose", "start": 0, "end": 1}])
    body = {"sender_id": "web-abc123", **uttered.as_dict()}
    assert flagged(body) == ("web-abc123", "overdose")
    for other in (BotUttered("Call 911"), ActionExecuted("utter_emergency"), SlotSet("crisis_flagged", True),
                  UserUttered("do you take insurance?", intent={"name": "faq/insurance", "confidence": 0.9})):
        assert flagged({"sender_id": "web-abc123", **other.as_dict()}) is None


# --- publish() --------------------------------------------------------------------------------

def test_publish_hands_an_emergency_to_the_sender_and_logs_a_warning_without_the_text(caplog):
    sender = FakeSender()
    broker = CrisisAlertBroker(sender)  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG):
        broker.publish(user_event(entities=[{"entity": "emergency_kind", "value": "suicide"}], sender_id="conv-9"))
        broker.publish(user_event(intent="faq/insurance", sender_id="conv-9"))
        broker.publish({"event": "bot", "text": "Call 911", "sender_id": "conv-9"})
    assert sender.calls == [("conv-9", "suicide")]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("conv-9" in r.getMessage() and "suicide" in r.getMessage() for r in warnings)
    assert not any(TEXT in r.getMessage() for r in caplog.records), "the visitor's text must not be logged"


@pytest.mark.parametrize("garbage", [
    None, "user", 42, [], ["event", "user"], {"event": "user", "parse_data": "emergency"},
    {"event": "user", "parse_data": {"intent": "emergency"}},
    {"event": "user", "parse_data": {"intent": ["emergency"]}},
    {"event": "user", "parse_data": {"intent": {"name": "emergency"}, "entities": "overdose"}},
    {"event": "user", "parse_data": {"intent": {"name": "emergency"}, "entities": [None, 3, "x"]}},
    {"event": "user", "parse_data": {"intent": {"name": "emergency"}, "entities": 7}},
    {"event": "user", "sender_id": object(), "parse_data": {"intent": {"name": "emergency"}}},
    {"event": object()},
    {"event": "user", "parse_data": {"intent": {"name": "emergency"}, "entities": [{"entity": "emergency_kind",
                                                                                     "value": object()}]}},
])
def test_publish_never_raises_on_garbage(garbage):
    CrisisAlertBroker(FakeSender()).publish(garbage)  # type: ignore[arg-type]


def test_publish_never_raises_when_the_sender_fails(caplog):
    sender = FakeSender(fail=True)
    broker = CrisisAlertBroker(sender)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        broker.publish(user_event())
    assert sender.calls == [("conv-1", "general")]
    assert any(r.levelno >= logging.ERROR for r in caplog.records), "a broken alert path is logged loudly"


def test_publish_outside_an_event_loop_does_not_raise(tmp_path):
    """The real sender needs a running loop; without one the broker still must not raise."""
    outbox = AlertOutbox(create_tables(f"sqlite:///{tmp_path / 'a.db'}"), 3600.0)
    CrisisAlertBroker(AlertSender(outbox, "", 1.0, 1.0)).publish(user_event())


async def test_publish_does_not_wait_for_a_slow_database(tmp_path):
    # the database takes 3 s; publishing must return long before (it took 0.7 s once on a loaded CI machine, so the
    # bound is the slow database's time, not a speed target: those live in bench/)
    class SlowOutbox(AlertOutbox):
        def record(self, *args: Any, **kwargs: Any) -> bool:
            time.sleep(3.0)
            return super().record(*args, **kwargs)

    outbox = SlowOutbox(create_tables(f"sqlite:///{tmp_path / 'a.db'}"), 3600.0)
    sender = AlertSender(outbox, "", 1.0, 1.0, poll_s=0.05)
    sender.start()
    broker = CrisisAlertBroker(sender)
    try:
        started = time.perf_counter()
        broker.publish(user_event(sender_id="conv-slow"))
        assert time.perf_counter() - started < 1.5
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not outbox.all():
            await asyncio.sleep(0.05)
        assert [r["conversation_id"] for r in outbox.all()] == ["conv-slow"]
    finally:
        await close(broker)


# --- from_endpoint_config ---------------------------------------------------------------------

async def test_from_endpoint_config_opens_the_outbox_in_var_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("ALERT_TIMEOUT_S", "1.5")
    monkeypatch.setenv("ALERT_RETRY_MAX_S", "7")
    monkeypatch.setenv("ALERT_DEDUP_WINDOW_S", "120")
    broker = await CrisisAlertBroker.from_endpoint_config(None)
    try:
        assert broker.sender.timeout_s == 1.5
        assert broker.sender.retry_max_s == 7.0
        assert broker.sender.outbox.dedup_window_s == 120.0
        broker.publish(user_event(sender_id="conv-cfg"))
        reader = AlertOutbox(create_tables(f"sqlite:///{tmp_path / 'assistant.db'}"), 120.0)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not [r for r in reader.all() if r["status"] == "logged"]:
            await asyncio.sleep(0.05)
        assert [(r["conversation_id"], r["status"]) for r in reader.all()] == [("conv-cfg", "logged")]
    finally:
        await close(broker)


@pytest.mark.parametrize("name, value", [
    ("ALERT_TIMEOUT_S", "abc"), ("ALERT_TIMEOUT_S", "0"), ("ALERT_RETRY_MAX_S", "-1"),
    ("ALERT_DEDUP_WINDOW_S", "soon"), ("ALERT_WEBHOOK_URL", "hooks.example.org/alert"),
    ("ALERT_WEBHOOK_URL", "ftp://hooks.example.org/alert"),
])
async def test_from_endpoint_config_refuses_invalid_alert_settings(tmp_path, monkeypatch, name, value):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv(name, value)
    with pytest.raises(settings_module.SettingsError, match=name):
        await CrisisAlertBroker.from_endpoint_config(None)
