"""Staff alerts, stored durably the moment a conversation is flagged (an outbox).

A row is written before the visitor's reply leaves the server; a sender delivers it later,
with retries, so an alert survives a down webhook and a restart. One row per conversation
per de-duplication window; several servers may share the table: a row is *claimed* before
it is sent, so each alert is delivered once.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import List

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.store import METADATA, ensure_tables

PENDING, DELIVERED, LOGGED = "pending", "delivered", "logged"

# The latest alert of each conversation: its primary key makes de-duplication atomic, even for
# several servers writing at once (an insert of an existing key fails; a conditional update of an
# existing row succeeds for one writer only).
LATEST = sa.Table(
    "crisis_alert_latest", METADATA,
    sa.Column("conversation_id", sa.String(256), primary_key=True),
    sa.Column("alert_id", sa.String(32), nullable=False),
    sa.Column("flagged_at", sa.Float, nullable=False),
)

ALERTS = sa.Table(
    "crisis_alerts", METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("conversation_id", sa.String(256), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("flagged_at", sa.Float, nullable=False),
    sa.Column("repeats", sa.Integer, nullable=False, default=0),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("claimed_until", sa.Float, nullable=True),
    sa.Column("delivered_at", sa.Float, nullable=True),
    sa.Column("last_error", sa.String(200), nullable=True),
)


@dataclass(frozen=True)
class Alert:
    """One alert as staff receive it: never the message text."""

    id: str
    conversation_id: str
    kind: str
    flagged_at: float
    attempts: int

    def payload(self) -> dict:
        """The JSON posted to the webhook."""
        event = "callback_requested" if self.kind == "callback" else "crisis_flagged"
        return {"event": event, "alert_id": self.id, "conversation_id": self.conversation_id,
                "kind": self.kind, "time": self.flagged_at}


class AlertOutbox:
    """The ``crisis_alerts`` table: record, claim, and mark alerts."""

    def __init__(self, engine: Engine, dedup_window_s: float) -> None:
        self.engine, self.dedup_window_s = engine, dedup_window_s
        self._ready = False

    def ensure_tables(self) -> None:
        """Creates the tables on first use (the database may have been down when the server started)."""
        if not self._ready:
            ensure_tables(self.engine)
            self._ready = True

    def record(self, conversation_id: str, kind: str, now: float | None = None, alert_id: str | None = None) -> bool:
        """Stores an alert unless one for this conversation is younger than the window; True if stored.

        Atomic across writers: the first alert of a conversation inserts its ``LATEST`` row (a
        second writer's insert fails on the key), a later one moves that row forward only if the
        window has passed (one writer's conditional update wins). The alert row is written in the
        same transaction, so a stored alert is never half-recorded.
        """
        now = time.time() if now is None else now
        self.ensure_tables()
        if alert_id is not None and self.has(alert_id):
            return False  # replayed from the spool, and already stored
        alert_id = alert_id or uuid.uuid4().hex
        row = dict(id=alert_id, conversation_id=conversation_id, kind=kind, flagged_at=now, repeats=0,
                   status=PENDING, attempts=0, next_attempt_at=now)
        try:
            with self.engine.begin() as db:
                self.insert_alert(db, conversation_id, kind, now, alert_id=alert_id)
            return True
        except sa.exc.IntegrityError:
            pass  # the conversation had an alert before
        with self.engine.begin() as db:
            moved = db.execute(LATEST.update().where(
                LATEST.c.conversation_id == conversation_id,
                LATEST.c.flagged_at <= now - self.dedup_window_s,
            ).values(alert_id=alert_id, flagged_at=now)).rowcount
            if moved:
                db.execute(ALERTS.insert().values(**row))
                return True
            latest = db.execute(sa.select(LATEST.c.alert_id).where(
                LATEST.c.conversation_id == conversation_id)).scalar()
            db.execute(ALERTS.update().where(ALERTS.c.id == latest).values(repeats=ALERTS.c.repeats + 1))
        return False

    @staticmethod
    def insert_alert(conn: Connection, conversation_id: str, kind: str, now: float,
                     dedup_key: str | None = None, alert_id: str | None = None) -> str:
        """Inserts an alert in the caller's transaction; IntegrityError if ``dedup_key`` (default:
        the conversation) already has one. Returns the alert id."""
        alert_id = alert_id or uuid.uuid4().hex
        conn.execute(LATEST.insert().values(conversation_id=dedup_key or conversation_id, alert_id=alert_id,
                                            flagged_at=now))
        conn.execute(ALERTS.insert().values(id=alert_id, conversation_id=conversation_id, kind=kind, flagged_at=now,
                                            repeats=0, status=PENDING, attempts=0, next_attempt_at=now))
        return alert_id

    def has(self, alert_id: str) -> bool:
        """Whether an alert with this id is stored."""
        with self.engine.connect() as db:
            return db.execute(sa.select(ALERTS.c.id).where(ALERTS.c.id == alert_id)).scalar() is not None

    def claim_due(self, lease_s: float, now: float | None = None, limit: int = 1) -> List[Alert]:
        """Pending alerts due now, each claimed for ``lease_s`` (no other sender takes it meanwhile)."""
        now = time.time() if now is None else now
        self.ensure_tables()
        claimed: List[Alert] = []
        with self.engine.begin() as db:
            rows = db.execute(sa.select(ALERTS).where(
                ALERTS.c.status == PENDING, ALERTS.c.next_attempt_at <= now,
                sa.or_(ALERTS.c.claimed_until.is_(None), ALERTS.c.claimed_until < now),
            ).order_by(ALERTS.c.flagged_at).limit(limit)).mappings().all()
            for row in rows:
                taken = db.execute(ALERTS.update().where(
                    ALERTS.c.id == row["id"], ALERTS.c.status == PENDING,
                    sa.or_(ALERTS.c.claimed_until.is_(None), ALERTS.c.claimed_until < now),
                ).values(claimed_until=now + lease_s)).rowcount
                if taken:
                    claimed.append(Alert(row["id"], row["conversation_id"], row["kind"], row["flagged_at"],
                                         row["attempts"]))
        return claimed

    def mark_sent(self, alert_id: str, status: str = DELIVERED, now: float | None = None) -> None:
        """The alert reached staff (``delivered``) or was written to the log (``logged``, no webhook set)."""
        with self.engine.begin() as db:
            db.execute(ALERTS.update().where(ALERTS.c.id == alert_id).values(
                status=status, delivered_at=time.time() if now is None else now, claimed_until=None,
                attempts=ALERTS.c.attempts + 1, last_error=None))

    def mark_failed(self, alert_id: str, error: str, retry_in_s: float, now: float | None = None) -> None:
        """A delivery attempt failed: try again in ``retry_in_s``."""
        now = time.time() if now is None else now
        with self.engine.begin() as db:
            db.execute(ALERTS.update().where(ALERTS.c.id == alert_id).values(
                attempts=ALERTS.c.attempts + 1, next_attempt_at=now + retry_in_s, claimed_until=None,
                last_error=error[:200]))

    def all(self) -> List[dict]:
        """Every alert, newest first (for staff tools and tests)."""
        with self.engine.connect() as db:
            rows = db.execute(sa.select(ALERTS).order_by(ALERTS.c.flagged_at.desc())).mappings().all()
        return [dict(r) for r in rows]
