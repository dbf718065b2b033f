"""Conversation logs: every event of every conversation, and a summary row per conversation.

Written by the tracker store (``bot/store/tracker_store.py``) one *batch* (the new events of
one turn) at a time; read by the review library (``bot/store/review.py``). A batch carries an
id, stored in the same transaction as its events, so that writing a batch twice (a replay from
the spool after a write that timed out but did commit) stores it once.

A turn can also be *processed* twice: a server that stored a turn and died before replying
leaves nginx to retry the request on another server, which reads the stored turn and processes
the same message again. Its visitor message carries the same ``message_id`` (nginx's
``X-Request-ID``, see ``bot/channels/rest.py``), so :func:`without_repeated_turns` drops that
turn's events again instead of storing the visitor's message a second time.

The summary row (``conversations``) is what staff filter on: flagged (an emergency was
detected), not understood (the fallback answered), low confidence, first and last activity.
It is updated in the same transaction as the events, so the two never disagree.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.names import EMERGENCY_INTENT, FAQ_INTENT, KIND_ENTITY
from bot.store import METADATA

# A visitor message whose intent confidence is below this counts as "low confidence" for review
# (the fallback's own thresholds are in config.yml; this one only sorts messages for staff).
LOW_CONFIDENCE = 0.6
FALLBACK_INTENT = "nlu_fallback"
USER, BOT, ACTION = "user", "bot", "action"

EVENTS = sa.Table(
    "conversation_events", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(256), nullable=False),
    sa.Column("batch_id", sa.String(40), nullable=False),
    sa.Column("type_name", sa.String(64), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    # Visitor messages: the intent (faq/<topic> for an FAQ) and its confidence; actions: their name;
    # the assistant's messages: the response they came from (utter_faq/<topic>).
    sa.Column("intent_name", sa.String(255)),
    sa.Column("confidence", sa.Float),
    sa.Column("action_name", sa.String(255)),
    sa.Column("text", sa.Text),  # what the visitor or the assistant wrote
    sa.Column("data", sa.Text, nullable=False),  # Rasa's event, as JSON (rebuilds the tracker)
    sa.Index("ix_conversation_events_conversation", "conversation_id", "id"),
)

BATCHES = sa.Table(
    "conversation_batches", METADATA,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("conversation_id", sa.String(256), nullable=False, index=True),
    sa.Column("stored_at", sa.Float, nullable=False),
)

CONVERSATIONS = sa.Table(
    "conversations", METADATA,
    sa.Column("id", sa.String(256), primary_key=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("last_at", sa.Float, nullable=False, index=True),
    sa.Column("turns", sa.Integer, nullable=False, default=0),  # visitor messages
    sa.Column("flagged", sa.Boolean, nullable=False, default=False, index=True),
    sa.Column("flagged_at", sa.Float),
    sa.Column("danger_kind", sa.String(32)),
    sa.Column("fallbacks", sa.Integer, nullable=False, default=0),  # messages not understood
    sa.Column("low_confidence", sa.Integer, nullable=False, default=0),
)


@dataclass
class Batch:
    """The new events of one turn of one conversation, as rows ready to insert."""

    id: str
    conversation_id: str
    rows: List[Dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        """For the spool (JSON)."""
        return {"id": self.id, "conversation_id": self.conversation_id, "rows": self.rows}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Batch":
        """From the spool."""
        return cls(str(data["id"]), str(data["conversation_id"]), list(data["rows"]))


def _user_intent(data: Dict[str, Any]) -> tuple[str | None, float | None]:
    parse = data.get("parse_data") or {}
    intent = parse.get("intent") or {}
    name, confidence = intent.get("name"), intent.get("confidence")
    if name == FAQ_INTENT:
        selected = ((parse.get("response_selector") or {}).get(FAQ_INTENT) or {}).get("response") or {}
        name = selected.get("intent_response_key") or name
    return name, (float(confidence) if confidence is not None else None)


def event_row(conversation_id: str, batch_id: str, data: Dict[str, Any]) -> Dict[str, Any]:
    """One ``conversation_events`` row from a Rasa event dict (``Event.as_dict()``)."""
    kind = str(data.get("event") or "")
    intent, confidence = _user_intent(data) if kind == USER else (None, None)
    return {
        "conversation_id": conversation_id, "batch_id": batch_id, "type_name": kind,
        "timestamp": float(data.get("timestamp") or time.time()),
        "intent_name": intent, "confidence": confidence,
        # actions: their name; the assistant's messages: the response that produced them (utter_faq/<topic>)
        "action_name": data.get("name") if kind == ACTION
        else (data.get("metadata") or {}).get("utter_action") if kind == BOT else None,
        "text": data.get("text") if kind in (USER, BOT) else None,
        "data": json.dumps(data),
    }


def danger_kind(row: Dict[str, Any]) -> str | None:
    """The kind of danger of a flagged visitor message (its ``emergency_kind`` entity)."""
    for entity in (json.loads(row["data"]).get("parse_data") or {}).get("entities") or []:
        if entity.get("entity") == KIND_ENTITY:
            return str(entity.get("value"))
    return None


def _summary_change(rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    users = [r for r in rows if r["type_name"] == USER and r["text"] is not None]
    flagged = [r for r in users if r["intent_name"] == EMERGENCY_INTENT]
    low = [r for r in users if r["intent_name"] not in (EMERGENCY_INTENT, FALLBACK_INTENT)
           and r["confidence"] is not None and r["confidence"] < LOW_CONFIDENCE]
    return {
        "first": min(r["timestamp"] for r in rows), "last": max(r["timestamp"] for r in rows),
        "turns": len(users), "fallbacks": sum(r["intent_name"] == FALLBACK_INTENT for r in users),
        "low": len(low), "flagged_at": flagged[0]["timestamp"] if flagged else None,
        "kind": danger_kind(flagged[-1]) if flagged else None,
    }


def _message_key(data: Dict[str, Any]) -> tuple[str, str] | None:
    """A visitor message's (message_id, text), by which a retried turn is recognised; None for other events."""
    if data.get("event") != USER or not data.get("message_id"):
        return None
    return str(data["message_id"]), str(data.get("text"))


def without_repeated_turns(events: Sequence[Dict[str, Any]], stored: Iterable[Dict[str, Any]]) -> List[int]:
    """The indexes of ``events`` to keep: a visitor message already in ``stored`` (same message_id and
    text) is dropped, with the events of its turn (up to the next visitor message)."""
    seen = {key for key in map(_message_key, stored) if key is not None}
    keep, repeating = [], False
    for i, data in enumerate(events):
        key = _message_key(data)
        if key is not None:
            repeating = key in seen
            seen.add(key)
        if not repeating:
            keep.append(i)
    return keep


def _stored_messages(conn: Connection, conversation_id: str, message_ids: Sequence[str]) -> List[Dict[str, Any]]:
    """The conversation's stored visitor messages with one of these message ids (their event dicts)."""
    e = EVENTS.c
    matches = [e.data.contains(json.dumps({"message_id": m})[1:-1], autoescape=True) for m in message_ids]
    query = sa.select(e.data).where(e.conversation_id == conversation_id, e.type_name == USER, sa.or_(*matches))
    return [json.loads(data) for (data,) in conn.execute(query)]


def write_batch(conn: Connection, batch: Batch, now: float | None = None) -> bool:
    """Stores a batch and updates its conversation's summary; False if it was stored before.

    Call inside a transaction (``engine.begin()``): the batch id, the events and the summary
    commit together or not at all. A turn whose visitor message is stored already (a request
    retried on another server, see the module's docstring) is left out of the batch.
    """
    exists = conn.execute(sa.select(BATCHES.c.id).where(BATCHES.c.id == batch.id)).first()
    if exists is not None or not batch.rows:
        return False
    events = [json.loads(row["data"]) if row["type_name"] == USER else {"event": row["type_name"]}
              for row in batch.rows]
    ids = [key[0] for key in map(_message_key, events) if key is not None]
    if ids:
        keep = without_repeated_turns(events, _stored_messages(conn, batch.conversation_id, ids))
        if len(keep) < len(batch.rows):
            batch = Batch(batch.id, batch.conversation_id, [batch.rows[i] for i in keep])
            if not batch.rows:
                return False
    conn.execute(BATCHES.insert().values(id=batch.id, conversation_id=batch.conversation_id,
                                         stored_at=time.time() if now is None else now))
    conn.execute(EVENTS.insert(), batch.rows)
    change = _summary_change(batch.rows)
    c = CONVERSATIONS.c
    updated = conn.execute(
        CONVERSATIONS.update().where(c.id == batch.conversation_id).values(
            last_at=sa.func.max(c.last_at, change["last"]) if conn.dialect.name == "sqlite"
            else sa.func.greatest(c.last_at, change["last"]),
            turns=c.turns + change["turns"],
            fallbacks=c.fallbacks + change["fallbacks"],
            low_confidence=c.low_confidence + change["low"],
            flagged=sa.or_(c.flagged, sa.literal(change["flagged_at"] is not None)),
            flagged_at=sa.func.coalesce(c.flagged_at, change["flagged_at"]),
            danger_kind=sa.func.coalesce(sa.literal(change["kind"], sa.String), c.danger_kind),
        )
    ).rowcount
    if not updated:
        conn.execute(CONVERSATIONS.insert().values(
            id=batch.conversation_id, started_at=change["first"], last_at=change["last"],
            turns=change["turns"], fallbacks=change["fallbacks"], low_confidence=change["low"],
            flagged=change["flagged_at"] is not None, flagged_at=change["flagged_at"],
            danger_kind=change["kind"]))
    return True


def load_events(engine: Engine, conversation_id: str, all_sessions: bool = False) -> List[Dict[str, Any]]:
    """The conversation's Rasa event dicts in order: since its latest session start, or all."""
    e = EVENTS.c
    query = sa.select(e.data).where(e.conversation_id == conversation_id)
    if not all_sessions:
        start = (sa.select(sa.func.max(e.id)).where(e.conversation_id == conversation_id,
                                                    e.type_name == "session_started").scalar_subquery())
        query = query.where(sa.or_(start.is_(None), e.id >= start))
    with engine.connect() as conn:
        return [json.loads(data) for (data,) in conn.execute(query.order_by(e.id))]


def conversation_ids(engine: Engine) -> List[str]:
    """Every stored conversation's id."""
    with engine.connect() as conn:
        return [i for (i,) in conn.execute(sa.select(CONVERSATIONS.c.id))]


def delete(conn: Connection, ids: Iterable[str]) -> int:
    """Deletes these conversations' events, batches and summaries; the number of conversations."""
    ids = list(ids)
    if not ids:
        return 0
    conn.execute(EVENTS.delete().where(EVENTS.c.conversation_id.in_(ids)))
    conn.execute(BATCHES.delete().where(BATCHES.c.conversation_id.in_(ids)))
    return int(conn.execute(CONVERSATIONS.delete().where(CONVERSATIONS.c.id.in_(ids))).rowcount or 0)
