"""Rasa's tracker store on the project's database, which loses no turn when the database fails.

Compare ``SQLTrackerStore`` in ``rasa/core/tracker_store.py``: the same idea (one row per
event, the tracker rebuilt from the rows of its latest session), with four differences:

* **It never falls back to memory silently.** Rasa's store, if the database is down at start,
  is replaced by an in-memory one (RasaHQ/rasa#3243) and every turn is lost. This one connects
  lazily: the server starts, answers, and keeps each turn in a local spool (fsynced JSON lines
  in ``VAR_DIR``) until the database is back; a background thread then writes the spooled
  turns, in order, and says so in the log. Failures are logged at ERROR (never the text).
* **A turn never waits long for the database.** Reads and writes run in worker threads, each
  bounded by ``STORE_TIMEOUT_S``; past it the turn is spooled and the reply goes out
  (emergencies above all). A write that timed out but did commit is not stored twice: each
  turn's events form a batch whose id is stored with them (``bot/store/conversations.py``).
  Nor is a turn retried on this server after another stored it and died before replying: its
  visitor message has the same ``message_id`` (nginx's request id) and is recognised.
* **Conversations in flight keep their history during an outage**: the events of the most
  recently active conversations are kept in memory (bounded; they are the dicts read or written
  anyway, so this costs no serialisation), and read from there when the database cannot be,
  or while their latest turns wait in the spool.
* **Staff review reads a summary row per conversation** (flagged, not understood, low
  confidence) written in the same transaction as the events.

Like ``AlertingTrackerStore``, it publishes each turn's visitor message to the alert broker.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, TypeVar

from rasa.core.tracker_store import SerializedTrackerAsText, TrackerStore
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import Engine

from bot.alerts.tracker_store import LatestMessagePublisher
from bot.channels.context import PREVIOUS_TEXT
from bot.store import callbacks, conversations, create_tables
from bot.store.spool import Spool

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_REMEMBERED = 100_000  # conversations whose stored event count is remembered
MAX_RECENT = 1_000  # conversations whose events are kept in memory for an outage
REPLAY_INTERVAL_S = 1.0
RETRY_AFTER_FAILURE_S = 5.0  # reads skip the database this long after a failure


def _reason(error: BaseException) -> str:
    """A one-line reason for the log: the driver's message, never statement parameters."""
    if isinstance(error, asyncio.TimeoutError):
        return "no answer within STORE_TIMEOUT_S"
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0][:200] if text else ''}"


class DurableTrackerStore(LatestMessagePublisher, TrackerStore, SerializedTrackerAsText):
    """Conversations in SQL (SQLite by default, PostgreSQL by URL), spooled locally when it fails."""

    def __init__(self, domain: Any = None, event_broker: Any = None, url: str | None = None,
                 spool_path: str | Path | None = None, timeout_s: float | None = None, **kwargs: Any) -> None:
        """Reads the database URL, spool folder and timeout from settings unless given."""
        from bot.settings import load

        kwargs.pop("host", None)
        settings = load()
        self.url = url or settings.database
        self.timeout_s = float(timeout_s or settings.store_timeout_s)
        self.spool = Spool(Path(spool_path) if spool_path else settings.var_dir / "conversations.spool")
        self._lock = threading.Lock()
        self._degraded = bool(self.spool.pending())
        self._down_until = 0.0
        self._known: "OrderedDict[str, int]" = OrderedDict()
        self._recent: "OrderedDict[str, List[Dict[str, Any]]]" = OrderedDict()
        self._engine: Engine | None = None
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="conversation-store")
        self._stop = threading.Event()
        self._replayer = threading.Thread(target=self._replay_loop, name="conversation-spool", daemon=True)
        self._replayer.start()
        super().__init__(domain, event_broker, **kwargs)

    # -- database access -------------------------------------------------------------------

    def _db(self) -> Engine:
        if self._engine is None:
            self._engine = create_tables(self.url)
        return self._engine

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(self._executor, fn, *args), self.timeout_s)

    def _write(self, batch: conversations.Batch) -> None:
        with self._db().begin() as conn:
            conversations.write_batch(conn, batch)

    def _load(self, sender_id: str, all_sessions: bool) -> List[Dict[str, Any]]:
        return conversations.load_events(self._db(), sender_id, all_sessions)

    def _count_stored(self, sender_id: str) -> int:
        return len(self._load(sender_id, False))

    def _ids(self) -> List[str]:
        return conversations.conversation_ids(self._db())

    def _failed(self, what: str, error: BaseException) -> None:
        self._down_until = time.monotonic() + RETRY_AFTER_FAILURE_S
        logger.error("Conversation store: %s failed (%s); turns are kept in %s and written when the "
                     "database is back.", what, _reason(error), self.spool.path)

    @property
    def degraded(self) -> bool:
        """True while turns wait in the spool for the database."""
        return self._degraded

    # -- Rasa's TrackerStore interface -----------------------------------------------------

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The tracker of the conversation's latest session, or None if it has none."""
        return await self._retrieve(sender_id, all_sessions=False)

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        """The tracker with every session of the conversation."""
        return await self._retrieve(conversation_id, all_sessions=True)

    async def _retrieve(self, sender_id: str, all_sessions: bool) -> DialogueStateTracker | None:
        events: List[Dict[str, Any]] | None = None
        with self._lock:
            recent = self._recent.get(sender_id)
            spooled = self._degraded
        if recent is None or not spooled:
            if time.monotonic() >= self._down_until:
                try:
                    events = await self._call(self._load, sender_id, all_sessions)
                except Exception as error:  # noqa: BLE001 - any failure: answer from memory or afresh
                    self._failed("reading a conversation", error)
        if events is None and recent is not None:
            events = list(recent) if all_sessions else _latest_session(recent)
        self._remember(sender_id, len(events or []))
        self._keep_recent(sender_id, list(events or []))
        if not events:
            return None
        slots = self.domain.slots if self.domain else []
        return DialogueStateTracker.from_dict(sender_id, events, slots)

    def _keep_recent(self, sender_id: str, events: List[Dict[str, Any]]) -> None:
        with self._lock:
            self._recent[sender_id] = events
            self._recent.move_to_end(sender_id)
            while len(self._recent) > MAX_RECENT:
                self._recent.popitem(last=False)

    def _remember(self, sender_id: str, count: int) -> None:
        self._known[sender_id] = count
        self._known.move_to_end(sender_id)
        while len(self._known) > MAX_REMEMBERED:
            self._known.popitem(last=False)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Stores the turn's new events: in the database, or in the spool if it fails."""
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        known = self._known.get(sender_id)
        if known is None:
            try:
                known = await self._call(self._count_stored, sender_id)
            except Exception as error:  # noqa: BLE001
                self._failed("counting a conversation's events", error)
                known = 0
        new = list(itertools.islice(tracker.events, known, None))
        if not new:
            return
        dicts = [e.as_dict() for e in new]
        callbacks.mask_details(dicts)  # a callback's name and number live in its own table only
        for d in dicts:  # the previous message is stored already; never twice (it may be a callback answer)
            if d.get("event") == "user" and isinstance(d.get("metadata"), dict):
                d["metadata"].pop(PREVIOUS_TEXT, None)
        self._remember(sender_id, len(tracker.events))
        with self._lock:
            recent = self._recent.get(sender_id)
        if recent is not None and len(recent) == known:
            # a request retried here after the server that stored its turn died: that turn once only
            # (the database checks again when the batch is written: the history may not be read here)
            keep = conversations.without_repeated_turns(dicts, recent)
            if len(keep) < len(dicts):
                logger.info("Conversation store: a retried turn of %s was stored already; not stored again.",
                            sender_id)
                dicts = [dicts[i] for i in keep]
            recent.extend(dicts)  # the masked dicts already made for the batch: no second serialisation
        else:
            with self._lock:  # not read through this store: unknown history, never an unmasked copy
                self._recent.pop(sender_id, None)
        if not dicts:
            return
        batch_id = uuid.uuid4().hex
        batch = conversations.Batch(batch_id, sender_id,
                                    [conversations.event_row(sender_id, batch_id, d) for d in dicts])
        if self._spool_if_degraded(batch):
            return
        try:
            await self._call(self._write, batch)
        except Exception as error:  # noqa: BLE001
            self._failed("saving a turn", error)
            with self._lock:
                self._degraded = True
            self._spool_if_degraded(batch)

    def _spool_if_degraded(self, batch: conversations.Batch) -> bool:
        with self._lock:
            if not self._degraded:
                return False
            self.spool.append(batch.as_dict())
            return True

    async def keys(self) -> Iterable[str]:
        """Every conversation's id (stored, or waiting in the spool)."""
        ids: List[str] = []
        try:
            ids = await self._call(self._ids)
        except Exception as error:  # noqa: BLE001
            self._failed("listing conversations", error)
        with self._lock:
            return list(dict.fromkeys(ids + list(self._recent)))

    # -- replay ------------------------------------------------------------------------------

    def replay(self) -> int:
        """Writes the spooled turns to the database, oldest first; the number written.

        Raises if the database is still away (the entries stay in the spool).
        """
        pending = self.spool.pending()
        if not pending:
            self._recovered()
            return 0
        written = 0
        with self._db().begin() as conn:
            for entry in pending:
                written += conversations.write_batch(conn, conversations.Batch.from_dict(entry))
        self.spool.remove(str(entry["id"]) for entry in pending)
        self._recovered()
        logger.warning("Conversation store is back: %d spooled turns written (%d already stored).",
                       len(pending), len(pending) - written)
        return len(pending)

    def _recovered(self) -> None:
        with self._lock:
            if not self.spool.pending():
                self._degraded = False
                self._down_until = 0.0

    def _replay_loop(self) -> None:
        last_error = 0.0
        while not self._stop.wait(REPLAY_INTERVAL_S):
            if not self._degraded:
                continue
            try:
                self.replay()
            except Exception as error:  # noqa: BLE001 - still down: try again later
                if time.monotonic() - last_error > 30:
                    last_error = time.monotonic()
                    logger.error("Conversation store still unavailable (%s); %d turns wait in %s.",
                                 _reason(error), len(self.spool.pending()), self.spool.path)

    def close(self) -> None:
        """Stops the replay thread and the workers (tests; the server just exits)."""
        self._stop.set()
        self._replayer.join(timeout=5)
        self._executor.shutdown(wait=False)


def _latest_session(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    starts = [i for i, e in enumerate(events) if e.get("event") == "session_started"]
    return list(events[starts[-1]:]) if starts else list(events)


def stored_events(url: str, conversation_id: str) -> List[Dict[str, Any]]:
    """Every stored event of a conversation (all sessions), for tools and tests."""
    return conversations.load_events(create_tables(url), conversation_id, all_sessions=True)

