"""The tracker store publishes each visitor message to the broker once, without retrieving the stored tracker."""
from __future__ import annotations

from typing import Any, Dict, List

from rasa.core.brokers.broker import EventBroker
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

from bot.alerts.tracker_store import AlertingTrackerStore


class Recorder(EventBroker):
    def __init__(self) -> None:
        self.events: List[Dict[str, Any]] = []

    def publish(self, event: Dict[str, Any]) -> None:
        self.events.append(event)


async def test_each_visitor_message_is_published_once_with_its_sender():
    broker = Recorder()
    store = AlertingTrackerStore(Domain.empty(), event_broker=broker, host=None)
    tracker = await store.get_or_create_tracker("conv-1")
    tracker.update(UserUttered("I took the whole bottle", {"name": "emergency", "confidence": 1.0}))
    tracker.update(BotUttered("Call 911 now."))
    await store.save(tracker)
    await store.save(tracker)  # saved again with nothing new: not published again
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("do you take insurance?", {"name": "faq", "confidence": 0.9}))
    await store.save(tracker)
    published = [(e["sender_id"], e["event"], e["text"]) for e in broker.events]
    assert published == [("conv-1", "user", "I took the whole bottle"), ("conv-1", "user", "do you take insurance?")]
    assert broker.events[0]["parse_data"]["intent"]["name"] == "emergency"
    assert (await store.retrieve("conv-1")) is not None


async def test_without_a_broker_nothing_is_published_and_conversations_are_kept():
    store = AlertingTrackerStore(Domain.empty())
    tracker = await store.get_or_create_tracker("conv-2")
    tracker.update(UserUttered("hi", {"name": "greet", "confidence": 1.0}))
    await store.save(tracker)
    assert (await store.retrieve("conv-2")).latest_message.text == "hi"
