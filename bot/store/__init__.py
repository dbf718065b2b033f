"""The project's own tables (alerts now; review notes and callbacks next), on SQLAlchemy.

One database URL (``DATABASE_URL``; by default a SQLite file in ``VAR_DIR``) for every table.
"""
from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.engine import Engine

METADATA = sa.MetaData()


@functools.lru_cache(maxsize=4)
def engine(url: str) -> Engine:
    """One engine per URL and process; SQLite files get their folder and a busy timeout."""
    kwargs: dict = {"future": True, "pool_pre_ping": True}
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 5, "check_same_thread": False}
    return sa.create_engine(url, **kwargs)


def create_tables(url: str) -> Engine:
    """The engine, with every table of the project created if missing."""
    from bot.store import alerts  # noqa: F401  (registers its table on METADATA)

    eng = engine(url)
    METADATA.create_all(eng)
    return eng
