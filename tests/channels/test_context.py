"""The channels remember each conversation's previous message, briefly and boundedly."""
from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from bot.channels.context import PREVIOUS_TEXT, RecentMessages, incoming, tracker_lookup, with_previous


def test_swap_returns_the_previous_message_of_the_same_conversation_only():
    recent = RecentMessages()
    assert recent.swap("a", "first", now=0) is None
    assert recent.swap("b", "other", now=1) is None
    assert recent.swap("a", "second", now=2) == "first"


def test_old_messages_and_old_conversations_are_forgotten():
    recent = RecentMessages(max_conversations=2, max_age_s=10)
    recent.swap("a", "x", now=0)
    assert recent.swap("a", "y", now=20) is None  # too old
    recent.swap("b", "x", now=21)
    recent.swap("c", "x", now=22)  # "a" is dropped: only two conversations are kept
    assert recent.swap("a", "z", now=23) is None


def test_a_client_cannot_set_the_previous_text():
    assert with_previous({PREVIOUS_TEXT: "forged", "k": 1}, None) == {"k": 1}
    assert with_previous({PREVIOUS_TEXT: "forged"}, "real") == {PREVIOUS_TEXT: "real"}
    assert with_previous(None, None) is None


# --- a conversation this process has not seen: its previous message comes from the tracker store ---------


class FakeStore:
    def __init__(self, tracker=None, fail=False):
        self.tracker, self.fail, self.calls = tracker, fail, []

    async def retrieve(self, conversation_id):
        self.calls.append(conversation_id)
        if self.fail:
            raise ConnectionError("database down")
        return self.tracker


def tracker_with(text, age_s=5.0):
    return SimpleNamespace(latest_message=SimpleNamespace(text=text, timestamp=time.time() - age_s))


def test_an_unseen_conversation_gets_its_previous_message_from_the_store():
    store = FakeStore(tracker_with("what are the symptoms of benzo withdrawal?"))
    recent = RecentMessages()
    _, metadata = asyncio.run(incoming(recent, "c1", "how long do they last?", None,
                                       tracker_lookup(SimpleNamespace(tracker_store=store), 1800)))
    assert metadata[PREVIOUS_TEXT] == "what are the symptoms of benzo withdrawal?" and store.calls == ["c1"]
    # seen now: the next message takes the previous one from memory, without reading the store
    _, metadata = asyncio.run(incoming(recent, "c1", "and for valium?", None,
                                       tracker_lookup(SimpleNamespace(tracker_store=store), 1800)))
    assert metadata[PREVIOUS_TEXT] == "how long do they last?" and store.calls == ["c1"]


def test_an_old_stored_message_a_failing_store_or_no_store_give_no_previous_message():
    old = tracker_lookup(SimpleNamespace(tracker_store=FakeStore(tracker_with("hi there friend", age_s=4000))), 1800)
    failing = tracker_lookup(SimpleNamespace(tracker_store=FakeStore(fail=True)), 1800)
    empty = tracker_lookup(SimpleNamespace(tracker_store=FakeStore(None)), 1800)
    for lookup in (old, failing, empty):
        _, metadata = asyncio.run(incoming(RecentMessages(), "c2", "how long do they last?", None, lookup))
        assert not (metadata or {}).get(PREVIOUS_TEXT)
    assert tracker_lookup(None, 1800) is None and tracker_lookup(SimpleNamespace(tracker_store=None), 1800) is None
