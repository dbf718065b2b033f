"""The audit log: who opened, marked, exported or deleted which conversation, and when.

Written in the caller's transaction (:func:`record` takes a Connection), so an action and its
audit entry commit together or not at all. Entries never hold what a visitor wrote: the
target is a conversation id, the detail a short description of the action.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.store import METADATA

AUDIT = sa.Table(
    "audit_log", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(256), nullable=False, index=True),
    sa.Column("detail", sa.Text, nullable=False, default=""),
)


@dataclass(frozen=True)
class AuditEntry:
    """One audited action."""

    id: int
    at: float
    actor: str
    action: str
    target: str
    detail: str

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def record(conn: Connection, actor: str, action: str, target: str, detail: str = "",
           at: float | None = None) -> int:
    """Adds an entry in the caller's transaction; its id."""
    result = conn.execute(AUDIT.insert().values(
        at=time.time() if at is None else at, actor=actor[:128], action=action[:64], target=target[:256],
        detail=detail))
    return int(result.inserted_primary_key[0])


def amend(conn: Connection, entry_id: int, detail: str) -> None:
    """Sets the detail of an entry written earlier in the same transaction (e.g. a count known at the end)."""
    conn.execute(AUDIT.update().where(AUDIT.c.id == entry_id).values(detail=detail))


def entries(engine: Engine, limit: int = 100, target: str | None = None) -> List[AuditEntry]:
    """The latest entries, newest first; only those about ``target`` if given."""
    query = sa.select(AUDIT)
    if target is not None:
        query = query.where(AUDIT.c.target == target)
    query = query.order_by(AUDIT.c.at.desc(), AUDIT.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [AuditEntry(r.id, r.at, r.actor, r.action, r.target, r.detail or "") for r in conn.execute(query)]
