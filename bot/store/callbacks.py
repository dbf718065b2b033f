"""Callback requests left in the chat: stored for staff, never in log lines or conversation exports.

A confirmed request is written in one transaction together with its staff alert (the
``crisis_alerts`` outbox, kind ``callback``), so a request is never stored without its alert
nor an alert sent for a request that was not stored. Staff work the queue on the staff site
or with ``python -m bot callbacks``: newest first, marked called / no answer / done with a note.
"""
from __future__ import annotations

import csv
import json
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import List, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.store import METADATA, ensure_tables

NEW, CALLED, NO_ANSWER, DONE = "new", "called", "no_answer", "done"
MASK = "[callback details: see the callback queue]"
# Replies that repeat the visitor's details back (the confirmation, the thank-you).
DETAIL_REPLIES = ("utter_ask_callback_confirm", "utter_callback_done")
STATUSES = (NEW, CALLED, NO_ANSWER, DONE)
CALLBACK_KIND = "callback"

CALLBACKS = sa.Table(
    "callback_requests", METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("conversation_id", sa.String(256), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("phone", sa.String(40), nullable=False),
    sa.Column("best_time", sa.String(200), nullable=False),
    sa.Column("email", sa.String(254)),
    sa.Column("message", sa.Text),
    sa.Column("about", sa.String(20), nullable=False),  # "self" or "someone_else"
    sa.Column("status", sa.String(16), nullable=False, default=NEW, index=True),
    sa.Column("note", sa.Text),
    sa.Column("updated_by", sa.String(64)),
    sa.Column("updated_at", sa.Float),
)


@dataclass(frozen=True)
class Callback:
    """One request as staff see it."""

    id: str
    conversation_id: str
    created_at: float
    name: str
    phone: str
    best_time: str
    email: str | None
    message: str | None
    about: str
    status: str
    note: str | None
    updated_by: str | None
    updated_at: float | None

    def as_dict(self) -> dict:
        """JSON-ready, with the creation time in ISO 8601 (UTC) too."""
        out = asdict(self)
        out["created"] = datetime.fromtimestamp(self.created_at, timezone.utc).isoformat(timespec="seconds")
        return out


def create(engine: Engine, conversation_id: str, name: str, phone: str, best_time: str, about: str,
           email: str | None = None, message: str | None = None, now: float | None = None) -> str:
    """Stores a confirmed request and its staff alert in one transaction; returns the request id."""
    from bot.store.alerts import AlertOutbox

    now = time.time() if now is None else now
    request_id = uuid.uuid4().hex
    ensure_tables(engine)
    with engine.begin() as conn:
        conn.execute(CALLBACKS.insert().values(
            id=request_id, conversation_id=conversation_id, created_at=now, name=name, phone=phone,
            best_time=best_time, email=email or None, message=message or None, about=about, status=NEW))
        AlertOutbox.insert_alert(conn, conversation_id, CALLBACK_KIND, now, dedup_key=f"callback:{request_id}")
    return request_id


def listing(engine: Engine, status: str | None = None, limit: int | None = None) -> List[Callback]:
    """Requests newest first, optionally only those with ``status``."""
    query = sa.select(CALLBACKS).order_by(CALLBACKS.c.created_at.desc())
    if status is not None:
        query = query.where(CALLBACKS.c.status == status)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [Callback(**dict(row)) for row in conn.execute(query).mappings()]


def get(engine: Engine, request_id: str) -> Callback | None:
    """One request, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(CALLBACKS).where(CALLBACKS.c.id == request_id)).mappings().first()
    return Callback(**dict(row)) if row is not None else None


def mark(engine: Engine, request_id: str, status: str, actor: str, note: str | None = None,
         now: float | None = None) -> None:
    """Sets a request's status (and note); KeyError if unknown, ValueError for a bad status. Audited."""
    from bot.store import audit

    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    now = time.time() if now is None else now
    with engine.begin() as conn:
        values = {"status": status, "updated_by": actor, "updated_at": now}
        if note is not None:
            values["note"] = note
        if not conn.execute(CALLBACKS.update().where(CALLBACKS.c.id == request_id).values(**values)).rowcount:
            raise KeyError(request_id)
        audit.record(conn, actor, "mark_callback", request_id, status)


def export(engine: Engine, fmt: str, out: TextIO, status: str | None = None) -> int:
    """Writes the requests as CSV or JSON lines (staff's own export: full details); the count."""
    rows = [c.as_dict() for c in listing(engine, status)]
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row) + "\n")
    elif fmt == "csv":
        fields = list(Callback.__dataclass_fields__) + ["created"]
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    else:
        raise ValueError(f"format must be csv or jsonl, not {fmt!r}")
    return len(rows)


def purge(conn: sa.engine.Connection, before: float) -> int:
    """Deletes requests created before ``before`` (inside the caller's transaction); the count."""
    return int(conn.execute(CALLBACKS.delete().where(CALLBACKS.c.created_at < before)).rowcount or 0)


def delete_for(conn: sa.engine.Connection, conversation_ids: List[str]) -> int:
    """Deletes the requests of these conversations (a visitor's deletion request); the count."""
    if not conversation_ids:
        return 0
    return int(conn.execute(CALLBACKS.delete().where(CALLBACKS.c.conversation_id.in_(conversation_ids))).rowcount
               or 0)


def mask_details(events: List[dict]) -> None:
    """Replaces, in place, the text of a turn's events that carry callback details.

    A visitor message answered a form question when the turn set a ``callback_*`` slot (and
    was not the turn that started the form, whose ``action_reset_callback`` clears them); the assistant's
    confirmation and thank-you repeat the details. The conversation log keeps "[callback
    details...]" instead: the details live in ``callback_requests`` only, so they are never in
    conversation exports or review lists.
    """
    sets_detail = any(e.get("event") == "slot" and str(e.get("name", "")).startswith("callback_") for e in events)
    starts_form = any(e.get("event") == "action" and e.get("name") == "action_reset_callback" for e in events)
    for event in events:
        kind = event.get("event")
        if kind == "user" and sets_detail and not starts_form:
            event["text"] = MASK
            if isinstance(event.get("parse_data"), dict):
                event["parse_data"]["text"] = MASK
        elif kind == "bot" and (event.get("metadata") or {}).get("utter_action") in DETAIL_REPLIES:
            event["text"] = MASK
