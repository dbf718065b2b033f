"""Conversation review for staff: list, read, mark, export, purge and delete stored conversations.

Used by the staff site and ``python -m bot review``. Lists filter on the summary table
(``conversations``, one row per conversation); a text search is an ``EXISTS`` on the events.
Visitors' words are redacted (:mod:`bot.store.redact`) in previews and, by default, in exports;
the assistant's own replies never are (they carry the center's line and 911 / 988 on purpose).
Deleting, purging, marking and opening a transcript are audited (:mod:`bot.store.audit`) in
the same transaction as the action. Times are epoch seconds; days are UTC days.
"""
from __future__ import annotations

import csv
import itertools
import json
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, Iterator, List, Sequence, TextIO, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.store import METADATA, audit, callbacks, conversations
from bot.store.alerts import ALERTS, LATEST
from bot.store.conversations import ACTION, BOT, CONVERSATIONS, EVENTS, FALLBACK_INTENT, USER
from bot.store.redact import redact as redact_text

REVIEWS = sa.Table(
    "conversation_reviews", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(256), nullable=False, index=True),
    sa.Column("reviewed_by", sa.String(128), nullable=False),
    sa.Column("reviewed_at", sa.Float, nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
)

VISITOR, ASSISTANT = "visitor", "assistant"
PREVIEW_CHARS = 120
EXPORT_FIELDS = ("conversation_id", "time", "speaker", "text", "intent", "confidence", "action", "flagged")
_CHUNK = 500  # ids per IN (...) list: well under SQLite's parameter limit
_DAY = 86400.0


@dataclass(frozen=True)
class Filter:
    """Which conversations a list, count or export covers (all by default)."""

    flagged: bool = False  # only emergency-flagged conversations
    fallback: bool = False  # only those with at least one message not understood
    low_confidence: bool = False  # only those with at least one low-confidence message
    since: float | None = None  # epoch seconds: last activity at or after
    until: float | None = None  # epoch seconds: started at or before
    search: str = ""  # case-insensitive substring of any message (visitor or assistant)
    reviewed: bool | None = None  # None: both; True: only reviewed; False: only not yet reviewed
    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class ConversationRow:
    """A conversation as listed: its summary, review state and a redacted preview."""

    id: str
    started_at: float
    last_at: float
    turns: int
    flagged: bool
    danger_kind: str | None
    fallbacks: int
    low_confidence: int
    reviewed: bool
    review_note: str | None  # the latest note
    preview: str  # the first visitor message, redacted, cut to PREVIEW_CHARS

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready (times as epoch seconds)."""
        return asdict(self)


@dataclass(frozen=True)
class Turn:
    """One message: the visitor's (with its intent) or the assistant's (with its utter action)."""

    time: float
    speaker: str  # VISITOR or ASSISTANT
    text: str
    intent: str | None
    confidence: float | None
    action: str | None
    event_id: int | None = None  # the message's row in conversation_events

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class Review:
    """A staff member's review of a conversation."""

    reviewed_by: str
    reviewed_at: float
    note: str

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class Transcript:
    """A whole conversation: summary, messages in order, reviews oldest first."""

    conversation: ConversationRow
    turns: List[Turn]
    reviews: List[Review]

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready."""
        return {"conversation": self.conversation.as_dict(), "turns": [t.as_dict() for t in self.turns],
                "reviews": [r.as_dict() for r in self.reviews]}


@dataclass(frozen=True)
class DayStats:
    """One UTC day: conversations started, conversations flagged, messages not understood."""

    date: str
    conversations: int
    emergencies: int
    not_understood: int


@dataclass(frozen=True)
class Overview:
    """The staff home page: recent days, top FAQ topics, emergencies awaiting review."""

    days: List[DayStats]
    top_topics: List[Tuple[str, int]]
    emergency_queue: List[ConversationRow] = field(default_factory=list)


# --- listing ----------------------------------------------------------------------------------

def _like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its wildcards taken literally (escape ``/``)."""
    return "%" + text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def _conditions(flt: Filter) -> List[Any]:
    c, e, r = CONVERSATIONS.c, EVENTS.c, REVIEWS.c
    where: List[Any] = []
    if flt.flagged:
        where.append(c.flagged)
    if flt.fallback:
        where.append(c.fallbacks > 0)
    if flt.low_confidence:
        where.append(c.low_confidence > 0)
    if flt.since is not None:
        where.append(c.last_at >= flt.since)
    if flt.until is not None:
        where.append(c.started_at <= flt.until)
    if flt.search:
        where.append(sa.exists().where(e.conversation_id == c.id, e.type_name.in_((USER, BOT)),
                                       e.text.ilike(_like_pattern(flt.search), escape="/")))
    if flt.reviewed is not None:
        reviewed = sa.exists().where(r.conversation_id == c.id)
        where.append(reviewed if flt.reviewed else ~reviewed)
    return where


def _rows_query(flt: Filter) -> Any:
    c, e, r = CONVERSATIONS.c, EVENTS.c, REVIEWS.c
    preview = (sa.select(e.text).where(e.conversation_id == c.id, e.type_name == USER, e.text.isnot(None))
               .order_by(e.id).limit(1).scalar_subquery())
    note = (sa.select(r.note).where(r.conversation_id == c.id)
            .order_by(r.reviewed_at.desc(), r.id.desc()).limit(1).scalar_subquery())
    reviewed = sa.exists().where(r.conversation_id == c.id)
    query = (sa.select(c.id, c.started_at, c.last_at, c.turns, c.flagged, c.danger_kind, c.fallbacks,
                       c.low_confidence, reviewed.label("reviewed"), note.label("review_note"),
                       preview.label("preview"))
             .where(*_conditions(flt)).order_by(c.flagged.desc(), c.last_at.desc(), c.id))
    if flt.limit is not None:
        query = query.limit(flt.limit)
    if flt.offset:
        query = query.offset(flt.offset)
    return query


def _row(r: Any) -> ConversationRow:
    return ConversationRow(
        id=r.id, started_at=float(r.started_at), last_at=float(r.last_at), turns=int(r.turns or 0),
        flagged=bool(r.flagged), danger_kind=r.danger_kind, fallbacks=int(r.fallbacks or 0),
        low_confidence=int(r.low_confidence or 0), reviewed=bool(r.reviewed), review_note=r.review_note,
        preview=redact_text(r.preview or "")[:PREVIEW_CHARS])


def _list(conn: Connection, flt: Filter) -> List[ConversationRow]:
    return [_row(r) for r in conn.execute(_rows_query(flt))]


def list_conversations(engine: Engine, flt: Filter = Filter()) -> List[ConversationRow]:
    """Matching conversations: flagged ones first, then the most recently active."""
    with engine.connect() as conn:
        return _list(conn, flt)


def count_conversations(engine: Engine, flt: Filter = Filter()) -> int:
    """How many conversations match (``limit`` and ``offset`` ignored)."""
    query = sa.select(sa.func.count()).select_from(CONVERSATIONS).where(*_conditions(flt))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


# --- transcripts ------------------------------------------------------------------------------

def _turns(rows: Iterable[Any], redact: bool) -> List[Turn]:
    """Messages from event rows in order; an assistant message names the action that said it."""
    turns: List[Turn] = []
    last_action: str | None = None
    for r in rows:
        if r.type_name == ACTION:
            if r.action_name and r.action_name != "action_listen":
                last_action = r.action_name
        elif r.type_name == USER and r.text is not None:
            last_action = None
            text = redact_text(r.text) if redact else r.text
            turns.append(Turn(float(r.timestamp), VISITOR, text, r.intent_name, r.confidence, None, r.id))
        elif r.type_name == BOT and r.text is not None:
            metadata = json.loads(r.data).get("metadata") or {}
            action = metadata.get("utter_action") if isinstance(metadata, dict) else None
            turns.append(Turn(float(r.timestamp), ASSISTANT, r.text, None, None, action or last_action, r.id))
    return turns


def _event_rows(conn: Connection, ids: Sequence[str]) -> Iterator[Tuple[str, List[Any]]]:
    """(conversation id, its message and action rows in order) for these conversations."""
    e = EVENTS.c
    query = (sa.select(e.conversation_id, e.type_name, e.timestamp, e.intent_name, e.confidence,
                       e.action_name, e.text, e.data, e.id)
             .where(e.conversation_id.in_(list(ids)), e.type_name.in_((USER, BOT, ACTION)))
             .order_by(e.conversation_id, e.id))
    for conversation_id, rows in itertools.groupby(conn.execute(query), key=lambda r: r.conversation_id):
        yield conversation_id, list(rows)


def _transcript(conn: Connection, conversation_id: str, redact: bool) -> Transcript | None:
    rows = [_row(r) for r in conn.execute(_rows_query(Filter()).where(CONVERSATIONS.c.id == conversation_id))]
    if not rows:
        return None
    events = dict(_event_rows(conn, [conversation_id])).get(conversation_id, [])
    r = REVIEWS.c
    reviews = [Review(x.reviewed_by, float(x.reviewed_at), x.note or "") for x in conn.execute(
        sa.select(r.reviewed_by, r.reviewed_at, r.note).where(r.conversation_id == conversation_id)
        .order_by(r.reviewed_at, r.id))]
    return Transcript(rows[0], _turns(events, redact), reviews)


def transcript(engine: Engine, conversation_id: str, redact: bool = False) -> Transcript | None:
    """The whole conversation (visitor messages redacted if asked), or None if unknown."""
    with engine.connect() as conn:
        return _transcript(conn, conversation_id, redact)


def open_transcript(engine: Engine, conversation_id: str, actor: str, redact: bool = False) -> Transcript | None:
    """:func:`transcript`, audited (action ``open_transcript``) in the same transaction."""
    with engine.begin() as conn:
        found = _transcript(conn, conversation_id, redact)
        detail = "not found" if found is None else ("redacted" if redact else "")
        audit.record(conn, actor, "open_transcript", conversation_id, detail)
    return found


def mark_reviewed(engine: Engine, conversation_id: str, reviewer: str, note: str, now: float | None = None) -> None:
    """Adds a review (and its note); KeyError if the conversation is unknown. Audited."""
    c = CONVERSATIONS.c
    with engine.begin() as conn:
        if conn.execute(sa.select(c.id).where(c.id == conversation_id)).first() is None:
            raise KeyError(conversation_id)
        conn.execute(REVIEWS.insert().values(conversation_id=conversation_id, reviewed_by=reviewer[:128],
                                             reviewed_at=time.time() if now is None else now, note=note))
        audit.record(conn, reviewer, "mark_reviewed", conversation_id, "with a note" if note else "")


# --- export -----------------------------------------------------------------------------------

def iso(t: float) -> str:
    """Epoch seconds as ISO 8601 UTC, to the second: ``2024-01-05T10:00:00Z``."""
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def plural(count: int, noun: str) -> str:
    """``1 conversation``, ``3 conversations``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _csv_safe(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export(engine: Engine, flt: Filter, fmt: str, out: TextIO, redact: bool = True) -> int:
    """Writes one row per message of the matching conversations (in list order) as ``csv`` or
    ``jsonl``; visitors' words redacted unless ``redact`` is False. Returns the rows written."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unknown export format {fmt!r}: use csv or jsonl")
    writer = csv.DictWriter(out, EXPORT_FIELDS, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    written = 0
    with engine.connect() as conn:
        rows = _list(conn, flt)
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start:start + _CHUNK]
            events = dict(_event_rows(conn, [r.id for r in chunk]))
            for row in chunk:
                for turn in _turns(events.get(row.id, []), redact):
                    record = {"conversation_id": row.id, "time": iso(turn.time), "speaker": turn.speaker,
                              "text": turn.text, "intent": turn.intent, "confidence": turn.confidence,
                              "action": turn.action, "flagged": row.flagged}
                    if writer is not None:
                        writer.writerow({k: _csv_safe(v) for k, v in record.items()})
                    else:
                        out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    written += 1
    return written


# --- deletion ---------------------------------------------------------------------------------

def _delete(conn: Connection, ids: Sequence[str]) -> int:
    """Deletes conversations with their events, reviews and alerts; how many conversations."""
    deleted = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start:start + _CHUNK])
        conn.execute(REVIEWS.delete().where(REVIEWS.c.conversation_id.in_(chunk)))
        alert_ids = sa.select(ALERTS.c.id).where(ALERTS.c.conversation_id.in_(chunk)).scalar_subquery()
        conn.execute(LATEST.delete().where(sa.or_(LATEST.c.conversation_id.in_(chunk),
                                                  LATEST.c.alert_id.in_(alert_ids))))  # callback:<id> keys too
        conn.execute(ALERTS.delete().where(ALERTS.c.conversation_id.in_(chunk)))
        callbacks.delete_for(conn, chunk)
        marks = METADATA.tables.get("inbox_marks")  # the training inbox's marks (bot/retrain/inbox.py)
        if marks is not None:
            conn.execute(marks.delete().where(marks.c.conversation_id.in_(chunk)))
        deleted += conversations.delete(conn, chunk)
    return deleted


def purge(engine: Engine, older_than_s: float, actor: str, now: float | None = None) -> int:
    """Deletes every conversation with no activity for ``older_than_s`` seconds (events, reviews,
    alerts); audited; returns how many.

    The audit entry is written first: on SQLite that write takes the database's write lock, and
    on PostgreSQL the conversations read are locked (``FOR UPDATE``), so a visitor's turn stored
    meanwhile waits instead of being deleted half-way (it then starts a new summary row).
    """
    if older_than_s <= 0:
        raise ValueError("the age of conversations to purge must be positive")
    cutoff = (time.time() if now is None else now) - older_than_s
    c = CONVERSATIONS.c
    with engine.begin() as conn:
        entry = audit.record(conn, actor, "purge", "conversations", "")
        ids = [i for (i,) in conn.execute(sa.select(c.id).where(c.last_at < cutoff).with_for_update())]
        deleted = _delete(conn, ids)
        requests = callbacks.purge(conn, cutoff)  # requests kept no longer than their conversations
        audit.amend(conn, entry, f"deleted {plural(deleted, 'conversation')} with no activity since {iso(cutoff)}"
                    + (f" and {plural(requests, 'older callback request')}" if requests else ""))
    return deleted


def delete_conversation(engine: Engine, conversation_id: str, actor: str) -> bool:
    """Deletes one conversation (a visitor's request) with its events, reviews and alerts;
    audited; False if it was not stored."""
    c = CONVERSATIONS.c
    with engine.begin() as conn:
        entry = audit.record(conn, actor, "delete_conversation", conversation_id, "")  # locks, as in purge
        conn.execute(sa.select(c.id).where(c.id == conversation_id).with_for_update()).first()
        deleted = _delete(conn, [conversation_id]) > 0
        audit.amend(conn, entry, "deleted" if deleted else "not found")
    return deleted


# --- overview ---------------------------------------------------------------------------------

def _per_day(conn: Connection, column: Any, start: float, end: float, *where: Any, join: Any = None) -> Dict[int, int]:
    """Counts of rows per UTC day index (0 = the day starting at ``start``)."""
    offset = (column - start) / _DAY
    bucket = (sa.func.floor(offset) if conn.dialect.name == "postgresql" else sa.cast(offset, sa.Integer))
    query = sa.select(bucket.label("bucket"), sa.func.count().label("n"))
    if join is not None:
        query = query.select_from(join)
    query = query.where(column >= start, column < end, *where).group_by(sa.text("bucket"))
    return {int(b): int(n) for b, n in conn.execute(query)}


def overview(engine: Engine, days: int = 14, now: float | None = None) -> Overview:
    """The last ``days`` UTC days (today included, oldest first): conversations started,
    conversations flagged (by their first flag), visitor messages not understood; the 10 most
    asked FAQ topics of the period; the flagged conversations not yet reviewed, newest first."""
    if days < 1:
        raise ValueError("days must be at least 1")
    today = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc).date()
    first = today - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=timezone.utc).timestamp()
    end = start + days * _DAY
    c, e = CONVERSATIONS.c, EVENTS.c
    recent = EVENTS.join(CONVERSATIONS, e.conversation_id == c.id)
    with engine.connect() as conn:
        started = _per_day(conn, c.started_at, start, end)
        flagged = _per_day(conn, c.flagged_at, start, end, c.flagged)
        missed = _per_day(conn, e.timestamp, start, end, c.last_at >= start, c.fallbacks > 0,
                          e.type_name == USER, e.intent_name == FALLBACK_INTENT, join=recent)
        count = sa.func.count().label("n")
        topics = conn.execute(
            sa.select(e.intent_name, count).select_from(recent)
            .where(c.last_at >= start, e.type_name == USER, e.intent_name.like("faq/%"),
                   e.timestamp >= start, e.timestamp < end)
            .group_by(e.intent_name).order_by(sa.desc("n"), e.intent_name).limit(10)).all()
        queue = _list(conn, Filter(flagged=True, reviewed=False))
    stats = [DayStats((first + timedelta(days=i)).isoformat(), started.get(i, 0), flagged.get(i, 0),
                      missed.get(i, 0)) for i in range(days)]
    return Overview(stats, [(name.split("/", 1)[1], int(n)) for name, n in topics], queue)


# --- ages -------------------------------------------------------------------------------------

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": _DAY, "w": 7 * _DAY}
_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|"
                  r"d|days?|w|wk|wks|weeks?)\s*$")


def parse_age(text: str) -> float:
    """An age such as ``90d``, ``12h``, ``30m``, ``2w`` (or ``45s``, ``90 days``) in seconds."""
    match = _AGE.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"invalid age {text!r}: use a positive number and a unit, e.g. 90d, 12h, 30m or 2w")
    return float(match.group(1)) * _UNITS[match.group(2)[0]]


def describe_age(seconds: float) -> str:
    """Seconds in the largest whole unit: ``90 days``, ``12 hours``, ``2 weeks``."""
    for unit in ("w", "d", "h", "m"):
        count = seconds / _UNITS[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)} {_UNIT_WORDS[unit]}{'s' if count != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"
