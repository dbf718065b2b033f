"""The durable tracker store: round trips on SQLite and PostgreSQL, and outages that lose nothing."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import List

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.settings import ROOT
from bot.store import conversations, engine
from bot.store.tracker_store import DurableTrackerStore, stored_events


@pytest.fixture(scope="module")
def domain() -> Domain:
    """The project's domain (its slots rebuild trackers)."""
    return Domain.load(str(ROOT / "domain.yml"))


def _turn(tracker: DialogueStateTracker, text: str, intent: str = "greet", confidence: float = 0.9) -> None:
    tracker.update(UserUttered(text, {"name": intent, "confidence": confidence}))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(BotUttered(f"reply to {text}"))
    tracker.update(ActionExecuted("action_listen"))


def _texts(events: List[dict]) -> List[str]:
    return [e["text"] for e in events if e["event"] == "user"]


async def _conversation(store: DurableTrackerStore, sender: str, texts: List[str]) -> None:
    for text in texts:
        tracker = await store.retrieve(sender) or store.init_tracker(sender)
        _turn(tracker, text)
        await store.save(tracker)


def test_round_trip_keeps_every_turn_in_order(db_url: str, domain: Domain, tmp_path: Path) -> None:
    store = DurableTrackerStore(domain, url=db_url, spool_path=tmp_path / "spool")
    try:
        asyncio.run(_conversation(store, "a", ["one", "two", "three"]))
        tracker = asyncio.run(store.retrieve("a"))
        assert tracker is not None
        assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == ["one", "two", "three"]
        assert _texts(stored_events(db_url, "a")) == ["one", "two", "three"]
        assert asyncio.run(store.keys()) == ["a"]
        with engine(db_url).connect() as conn:
            row = conn.execute(sa.select(conversations.CONVERSATIONS)).one()._mapping
        assert row["turns"] == 3 and not row["flagged"]
    finally:
        store.close()


def test_a_restarted_store_continues_the_conversation(db_url: str, domain: Domain, tmp_path: Path) -> None:
    first = DurableTrackerStore(domain, url=db_url, spool_path=tmp_path / "spool")
    asyncio.run(_conversation(first, "a", ["one"]))
    first.close()
    second = DurableTrackerStore(domain, url=db_url, spool_path=tmp_path / "spool")
    try:
        asyncio.run(_conversation(second, "a", ["two"]))
        assert _texts(stored_events(db_url, "a")) == ["one", "two"]
        # no event stored twice
        assert len(stored_events(db_url, "a")) == 8
    finally:
        second.close()


def test_retrieve_returns_the_latest_session_only(db_url: str, domain: Domain, tmp_path: Path) -> None:
    store = DurableTrackerStore(domain, url=db_url, spool_path=tmp_path / "spool")
    try:
        asyncio.run(_conversation(store, "a", ["old"]))
        tracker = asyncio.run(store.retrieve("a"))
        assert tracker is not None
        tracker.update(ActionExecuted("action_session_start"))
        tracker.update(SessionStarted())
        _turn(tracker, "new")
        asyncio.run(store.save(tracker))
        latest = asyncio.run(store.retrieve("a"))
        full = asyncio.run(store.retrieve_full_tracker("a"))
        assert latest is not None and full is not None
        assert [e.text for e in latest.events if isinstance(e, UserUttered)] == ["new"]
        assert [e.text for e in full.events if isinstance(e, UserUttered)] == ["old", "new"]
        assert _texts(stored_events(db_url, "a")) == ["old", "new"]
    finally:
        store.close()


def test_database_down_at_start_spools_then_writes_when_it_is_back(
        domain: Domain, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the database's folder should be")
    url = f"sqlite:///{blocked / 'db' / 'assistant.db'}"  # cannot be created while `blocked` is a file
    store = DurableTrackerStore(domain, url=url, spool_path=tmp_path / "spool", timeout_s=2)
    try:
        with caplog.at_level(logging.ERROR):
            asyncio.run(_conversation(store, "a", ["one", "two"]))
        assert store.degraded
        assert any("Conversation store" in r.getMessage() for r in caplog.records)
        assert all("one" not in r.getMessage() for r in caplog.records)  # never the visitor's text
        tracker = asyncio.run(store.retrieve("a"))
        assert tracker is not None  # history kept in memory during the outage
        assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == ["one", "two"]
        assert len(store.spool.pending()) == 2
        blocked.unlink()  # the database can be created now
        assert store.replay() == 2
        assert not store.degraded and store.spool.pending() == []
        assert _texts(stored_events(url, "a")) == ["one", "two"]
    finally:
        store.close()


def test_a_write_that_times_out_is_spooled_and_stored_once(db_url: str, domain: Domain, tmp_path: Path) -> None:
    store = DurableTrackerStore(domain, url=db_url, spool_path=tmp_path / "spool", timeout_s=0.3)
    gate = threading.Event()
    original = store._write

    def slow_write(batch: conversations.Batch) -> None:
        gate.wait(5)
        original(batch)

    try:
        asyncio.run(_conversation(store, "a", ["one"]))
        store._write = slow_write  # type: ignore[method-assign]
        started = time.monotonic()
        asyncio.run(_conversation(store, "a", ["two"]))
        assert time.monotonic() - started < 2  # the turn did not wait for the database
        assert store.degraded
        gate.set()  # the slow write commits after all ...
        time.sleep(0.5)
        store._write = original  # type: ignore[method-assign]
        store.replay()  # ... and the spooled copy of the same batch is not stored again
        assert _texts(stored_events(db_url, "a")) == ["one", "two"]
        asyncio.run(_conversation(store, "a", ["three"]))
        assert _texts(stored_events(db_url, "a")) == ["one", "two", "three"]
    finally:
        store.close()


def test_postgres_outage_mid_conversation_loses_no_turn(postgres, domain: Domain, tmp_path: Path) -> None:
    from bot.store import create_tables

    create_tables(postgres.url)
    store = DurableTrackerStore(domain, url=postgres.url, spool_path=tmp_path / "spool", timeout_s=3)
    sender = f"outage-{time.time()}"
    try:
        asyncio.run(_conversation(store, sender, ["before"]))
        postgres.stop()
        try:
            asyncio.run(_conversation(store, sender, ["during 1", "during 2"]))
            assert store.degraded
            tracker = asyncio.run(store.retrieve(sender))
            assert tracker is not None
            assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == ["before", "during 1", "during 2"]
        finally:
            postgres.start()
        deadline = time.monotonic() + 30
        while store.degraded and time.monotonic() < deadline:
            time.sleep(0.2)  # the background thread replays the spool
        assert not store.degraded
        asyncio.run(_conversation(store, sender, ["after"]))
        assert _texts(stored_events(postgres.url, sender)) == ["before", "during 1", "during 2", "after"]
    finally:
        store.close()


def _turn_with_id(tracker: DialogueStateTracker, text: str, message_id: str, reply: str) -> None:
    tracker.update(UserUttered(text, {"name": "greet", "confidence": 0.9}, message_id=message_id))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(BotUttered(reply))
    tracker.update(ActionExecuted("action_listen"))


def test_a_turn_retried_on_another_server_is_stored_once(db_url: str, domain: Domain, tmp_path: Path) -> None:
    """Server A stores a turn and dies before replying; nginx retries the request (same X-Request-ID,
    so the same message_id) on server B, which reads A's turn and processes the message again."""
    a = DurableTrackerStore(domain, url=db_url, spool_path=tmp_path / "spool-a")
    b = DurableTrackerStore(domain, url=db_url, spool_path=tmp_path / "spool-b")
    try:
        asyncio.run(_conversation(a, "c", ["one"]))
        tracker = asyncio.run(a.retrieve("c"))
        assert tracker is not None
        _turn_with_id(tracker, "two", "a" * 32, "from A")
        asyncio.run(a.save(tracker))  # ... and A dies here
        retried = asyncio.run(b.retrieve("c"))
        assert retried is not None
        _turn_with_id(retried, "two", "a" * 32, "from B")
        asyncio.run(b.save(retried))
        events = stored_events(db_url, "c")
        assert _texts(events) == ["one", "two"]
        assert [e["text"] for e in events if e["event"] == "bot"] == ["reply to one", "from A"]
        # the next turn is stored as usual, on either server
        _turn(retried, "three")
        asyncio.run(b.save(retried))
        assert _texts(stored_events(db_url, "c")) == ["one", "two", "three"]
        with engine(db_url).connect() as conn:
            assert conn.execute(sa.select(conversations.CONVERSATIONS.c.turns)).scalar() == 3
    finally:
        a.close()
        b.close()


def test_the_database_drops_a_retried_turn_the_server_did_not_read(db_url: str, domain: Domain,
                                                                  tmp_path: Path) -> None:
    """The same when the retrying server's store has not read the history itself (e.g. a spool replay):
    the check is made again in the transaction that writes the batch."""
    a = DurableTrackerStore(domain, url=db_url, spool_path=tmp_path / "spool-a")
    b = DurableTrackerStore(domain, url=db_url, spool_path=tmp_path / "spool-b")
    try:
        tracker = a.init_tracker("d")
        _turn_with_id(tracker, "same words", "b" * 32, "from A")
        asyncio.run(a.save(tracker))
        copy = DialogueStateTracker.from_events("d", list(tracker.events), domain.slots)
        b._remember("d", len(copy.events))  # b believes the history is stored, without having read it
        _turn_with_id(copy, "same words", "b" * 32, "from B")
        _turn_with_id(copy, "same words", "c" * 32, "said again, a new message")
        asyncio.run(b.save(copy))
        events = stored_events(db_url, "d")
        assert _texts(events) == ["same words", "same words"]
        assert [e["text"] for e in events if e["event"] == "bot"] == ["from A", "said again, a new message"]
    finally:
        a.close()
        b.close()


def test_only_a_retry_of_the_same_message_is_dropped() -> None:
    stored = [{"event": "user", "message_id": "x" * 32, "text": "help"}]
    batch = [{"event": "user", "message_id": "x" * 32, "text": "other words"},  # same id, other text: kept
             {"event": "bot", "text": "r1"},
             {"event": "user", "message_id": "x" * 32, "text": "help"},  # the retry: dropped with its turn
             {"event": "bot", "text": "r2"},
             {"event": "user", "message_id": "y" * 32, "text": "help"},  # a new message: kept
             {"event": "bot", "text": "r3"}]
    assert conversations.without_repeated_turns(batch, stored) == [0, 1, 4, 5]
    assert conversations.without_repeated_turns(batch, []) == [0, 1, 2, 3, 4, 5]
    assert conversations.without_repeated_turns(batch[2:] + batch[2:4], []) == [0, 1, 2, 3]  # within a batch too
