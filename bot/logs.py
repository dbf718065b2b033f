"""Logging of the project's own processes, and the rotating log files of ``make run``.

Visitors' messages are logged only at DEBUG (never at INFO or above), by every module here.
"""
from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_BYTES = 10 * 2**20
BACKUPS = 5


def configure_logging(level: int = logging.INFO) -> None:
    """INFO to standard error (the supervisor appends it to the process's log file)."""
    logging.basicConfig(level=level, format=FORMAT)


def rotating_handler(path: Path, fmt: str = "%(message)s") -> logging.Handler:
    """Appends to ``path``, rotated at 10 MiB with 5 backups (never truncated)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter(fmt))
    return handler


def rotating_file(path: Path, name: str) -> logging.Logger:
    """A logger that appends a process's raw output lines to ``path`` (:func:`rotating_handler`)."""
    logger = logging.getLogger(f"bot.logfile.{name}.{path}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        logger.addHandler(rotating_handler(path))
    return logger
