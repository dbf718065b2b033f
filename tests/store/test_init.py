"""bot.store: every table created once, whichever of several starting processes gets there first."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot import store
from bot.store import METADATA, create_tables, ensure_tables


def table_names(url: str) -> set[str]:
    return set(sa.inspect(sa.create_engine(url)).get_table_names())


def test_every_registered_table_is_created(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    create_tables(url)
    assert {"callback_requests", "inbox_marks"} <= table_names(url)
    assert {t.name for t in METADATA.sorted_tables} <= table_names(url)


def test_a_table_another_process_created_meanwhile_is_not_an_error(tmp_path: Path, monkeypatch):
    """The check says missing, another process creates the table, our CREATE fails: the table is there."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    other = sa.create_engine(url)
    real_create = sa.Table.create
    raced = []

    def create_after_another(self, bind, checkfirst=False):
        if self.name == "inbox_marks" and not raced:
            raced.append(self.name)
            real_create(self, other)  # the other process wins
            raise sa.exc.OperationalError("CREATE TABLE inbox_marks", {}, Exception("table inbox_marks already exists"))
        return real_create(self, bind, checkfirst=checkfirst)

    monkeypatch.setattr(sa.Table, "create", create_after_another)
    ensure_tables(sa.create_engine(url))
    assert raced == ["inbox_marks"]
    assert {t.name for t in METADATA.sorted_tables} <= table_names(url)


def test_a_failure_that_leaves_no_table_is_raised(tmp_path: Path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"

    def fail(self, bind, checkfirst=False):
        raise sa.exc.OperationalError("CREATE TABLE", {}, Exception("disk I/O error"))

    monkeypatch.setattr(sa.Table, "create", fail)
    with pytest.raises(sa.exc.OperationalError):
        ensure_tables(sa.create_engine(url))


def _create_when_released(url: str, barrier) -> None:
    barrier.wait(30)
    store.engine.cache_clear()
    create_tables(url)


def test_processes_starting_together_all_get_their_tables(tmp_path: Path):
    """Four processes create the tables of one new database at the same moment (as the servers do at start)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    processes = [context.Process(target=_create_when_released, args=(url, barrier)) for _ in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    assert {t.name for t in METADATA.sorted_tables} <= table_names(url)
