"""A durable local spool: what must not be lost is appended (and fsynced) here first.

The database may be slow or down; a local append-only file is neither. An alert goes to the
spool before the visitor's reply leaves, then to the database from a worker thread; entries
stay in the spool until the database has them, and are replayed from it after a restart.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Dict, Iterable, List


class Spool:
    """JSON lines in ``path`` (or only in memory when ``path`` is None, for tests and tools)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._memory: List[Dict[str, Any]] = []
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, entry: Dict[str, Any]) -> None:
        """Adds an entry durably (written and fsynced before this returns)."""
        with self._lock:
            if self.path is None:
                self._memory.append(entry)
                return
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
                f.flush()
                os.fsync(f.fileno())

    def pending(self) -> List[Dict[str, Any]]:
        """Every entry not yet removed, oldest first (a torn last line is skipped)."""
        with self._lock:
            return self._read()

    def _read(self) -> List[Dict[str, Any]]:
        if self.path is None:
            return list(self._memory)
        if not self.path.exists():
            return []
        entries = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        return entries

    def remove(self, ids: Iterable[str]) -> None:
        """Drops the entries with these ids (the database has them), rewriting the file atomically."""
        gone = set(ids)
        with self._lock:
            kept = [e for e in self._read() if e.get("id") not in gone]
            if self.path is None:
                self._memory = kept
                return
            tmp = self.path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(e) + "\n" for e in kept)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
