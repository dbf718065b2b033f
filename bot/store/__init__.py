"""The project's database, on SQLAlchemy: conversations, alerts, review notes, audit, staff.

One database URL (``DATABASE_URL``; by default a SQLite file in ``VAR_DIR``) for every table.
Each module that defines tables registers them on :data:`METADATA` and is listed in
:data:`TABLE_MODULES`, so that :func:`create_tables` creates them all.
"""
from __future__ import annotations

import functools
import threading

import sqlalchemy as sa
from sqlalchemy.engine import Engine

METADATA = sa.MetaData()
_CREATE_LOCK = threading.Lock()
TABLE_MODULES = ("bot.store.alerts", "bot.store.conversations", "bot.store.review", "bot.store.audit",
                 "bot.store.staff", "bot.store.callbacks", "bot.retrain.inbox")


@functools.lru_cache(maxsize=4)
def engine(url: str) -> Engine:
    """One engine per URL and process; SQLite files get their folder and a busy timeout."""
    # hide_parameters: an error message never carries a visitor's text into a log line.
    kwargs: dict = {"future": True, "hide_parameters": True}
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 5, "check_same_thread": False}
        # A pool of open connections (SQLAlchemy 1.4 opens a file anew for each use by default).
        kwargs["poolclass"] = sa.pool.QueuePool
        eng = sa.create_engine(url, **kwargs)
        sa.event.listen(eng, "connect", _sqlite_pragmas)
        return eng
    if url.startswith("postgresql"):
        # Fail fast when the server is unreachable (the tracker store then spools the turn).
        kwargs["connect_args"] = {"connect_timeout": 3}
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(connection: object, _record: object) -> None:
    """WAL: readers (the staff site) never block the assistant's writes; a commit is one write,
    not several fsyncs (``synchronous=NORMAL`` is durable across a crash of the process)."""
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_tables(url: str) -> Engine:
    """The engine, with every table of the project created if missing."""
    return ensure_tables(engine(url))


def ensure_tables(eng: Engine) -> Engine:
    """Creates every table of the project that ``eng``'s database lacks (connects: may raise)."""
    import importlib

    for module in TABLE_MODULES:
        importlib.import_module(module)  # registers its tables on METADATA
    with _CREATE_LOCK:
        for table in METADATA.sorted_tables:
            _create_table(eng, table)
    return eng


def _create_table(eng: Engine, table: sa.Table) -> None:
    """Creates ``table`` (and its indexes) if missing. Several processes start at once (the Rasa server, the
    action server, the staff site): when another one created it between the check and the CREATE, the error
    is the database saying so, and the table is there."""
    try:
        table.create(eng, checkfirst=True)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError):
        if not sa.inspect(eng).has_table(table.name):
            raise
