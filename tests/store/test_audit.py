"""The audit log on real databases (SQLite and PostgreSQL): order, limit, target, transactions."""
from __future__ import annotations

import pytest

from bot.store import audit, engine


def test_entries_are_newest_first(db_url):
    eng = engine(db_url)
    with eng.begin() as conn:
        audit.record(conn, "nurse-a", "open_transcript", "c1", at=100.0)
        audit.record(conn, "nurse-b", "mark_reviewed", "c2", "with a note", at=300.0)
        audit.record(conn, "cron", "purge", "conversations", "deleted 0 conversations", at=200.0)
    got = audit.entries(eng)
    assert [(e.at, e.actor, e.action, e.target, e.detail) for e in got] == [
        (300.0, "nurse-b", "mark_reviewed", "c2", "with a note"),
        (200.0, "cron", "purge", "conversations", "deleted 0 conversations"),
        (100.0, "nurse-a", "open_transcript", "c1", ""),
    ]
    assert got[0].as_dict()["actor"] == "nurse-b"
    assert len({e.id for e in got}) == 3


def test_same_time_entries_keep_their_order(db_url):
    eng = engine(db_url)
    with eng.begin() as conn:
        for i in range(3):
            audit.record(conn, "a", f"step{i}", "t", at=5.0)
    assert [e.action for e in audit.entries(eng)] == ["step2", "step1", "step0"]


def test_limit_and_target(db_url):
    eng = engine(db_url)
    with eng.begin() as conn:
        for i in range(5):
            audit.record(conn, "a", "open_transcript", f"c{i % 2}", at=float(i))
    assert [e.at for e in audit.entries(eng, limit=2)] == [4.0, 3.0]
    assert [e.at for e in audit.entries(eng, target="c1")] == [3.0, 1.0]
    assert audit.entries(eng, target="nope") == []


def test_an_entry_joins_the_callers_transaction(db_url):
    eng = engine(db_url)
    with pytest.raises(RuntimeError):
        with eng.begin() as conn:
            audit.record(conn, "a", "delete_conversation", "c1")
            raise RuntimeError("the action failed")
    assert audit.entries(eng) == [], "a rolled-back action leaves no audit entry"


def test_amend_sets_the_detail_later_in_the_transaction(db_url):
    eng = engine(db_url)
    with eng.begin() as conn:
        entry = audit.record(conn, "cron", "purge", "conversations")
        audit.amend(conn, entry, "deleted 4 conversations")
    [got] = audit.entries(eng)
    assert got.id == entry and got.detail == "deleted 4 conversations" and got.at > 0
