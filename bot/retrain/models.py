"""The model registry: the promoted models kept for rollback, and switching the served model.

Beside the served model (``MODEL``, ``models/current.tar.gz`` by default):

- ``history/<id>/``: every model that was served through ``retrain``, ``model.tar.gz`` with its
  ``report.md``, ``report.json`` and ``confusion.png``; the model that was running before the first
  promotion (e.g. one of ``make train``) is archived there too, so it can be rolled back to;
- ``refused/<id>/``: the last :data:`KEEP_REFUSED` models the gate refused, with their reports;
- ``history/events.jsonl``: one line per promotion or rollback (when, which model, which before).

An id is ``<UTC time>-<first 8 hex of the model's sha256>``, so ids sort by time. Which entry is
current is read from the served file itself (its sha256), never from a pointer that could go stale.
:func:`install` copies a model over the served one atomically (a temporary file in the same folder,
fsynced, then ``os.replace``): the model server (:mod:`bot.model_server`) sees one whole file, gives
it a new ETag, and the running Rasa server loads it at its next pull.
"""
from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List

from bot.retrain import report

HISTORY, REFUSED = "history", "refused"
MODEL_FILE = "model.tar.gz"
EVENTS = "events.jsonl"
KEEP_REFUSED = 10


class RegistryError(RuntimeError):
    """A registry operation that cannot be done (the message says why, in one line)."""


def sha256_file(path: Path) -> str:
    """The sha256 (hex) of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def new_id(model_sha: str, now: float | None = None) -> str:
    """A sortable id: UTC time to the millisecond, then the model's short hash."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc)
    return f"{moment:%Y%m%d-%H%M%S}-{moment.microsecond // 1000:03d}-{model_sha[:8]}"


@dataclass(frozen=True)
class Entry:
    """One kept model: its folder, model file and report."""

    path: Path
    report: Dict[str, Any]

    @property
    def id(self) -> str:
        """The folder's name."""
        return self.path.name

    @property
    def model(self) -> Path:
        """The model file."""
        return self.path / MODEL_FILE

    @property
    def sha256(self) -> str:
        """The model's sha256 (from the report, else computed)."""
        known = (self.report.get("model") or {}).get("sha256")
        return str(known) if known else sha256_file(self.model)

    @property
    def evaluation(self) -> Dict[str, Any]:
        """The model's scores (empty when it was never evaluated)."""
        return self.report.get("evaluation") or {}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_atomically(source: Path, target: Path) -> None:
    """Copies ``source`` over ``target`` so that readers see the old file or the new one, never a part."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(source, "rb") as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(target.parent)


def _who() -> str:
    """The account running the command (for the events log)."""
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "?"


class Registry:
    """The history of served models beside ``served`` (the MODEL setting)."""

    def __init__(self, served: Path) -> None:
        self.served = Path(served)
        self.root = self.served.parent
        self.history = self.root / HISTORY
        self.refused = self.root / REFUSED

    # --- reading -------------------------------------------------------------------------------
    def _entries(self, folder: Path) -> List[Entry]:
        if not folder.is_dir():
            return []
        return [Entry(p, report.read(p)) for p in sorted(folder.iterdir())
                if p.is_dir() and not p.name.startswith(".") and (p / MODEL_FILE).exists()]

    def entries(self) -> List[Entry]:
        """The history, oldest first."""
        return self._entries(self.history)

    def refused_entries(self) -> List[Entry]:
        """The refused models kept, oldest first."""
        return self._entries(self.refused)

    def served_sha(self) -> str | None:
        """The sha256 of the served model (None if there is none)."""
        return sha256_file(self.served) if self.served.exists() else None

    def current(self) -> Entry | None:
        """The history entry being served (None when the served model is not in the history)."""
        sha = self.served_sha()
        matching = [e for e in self.entries() if sha is not None and e.sha256 == sha]
        return matching[-1] if matching else None

    def find(self, entry_id: str) -> Entry:
        """The history entry ``entry_id`` (a unique prefix is enough)."""
        found = [e for e in self.entries() if e.id == entry_id] or [
            e for e in self.entries() if e.id.startswith(entry_id)]
        if len(found) != 1:
            known = ", ".join(e.id for e in self.entries()[-5:]) or "none"
            raise RegistryError(f"no single model {entry_id!r} in {self.history} (latest: {known})")
        return found[0]

    def previous(self) -> Entry:
        """The entry to roll back to: the one before the current one (the newest if the current is not kept)."""
        entries = self.entries()
        current = self.current()
        if current is None:
            if not entries:
                raise RegistryError(f"no model in {self.history} to roll back to")
            return entries[-1]
        index = [e.id for e in entries].index(current.id)
        if index == 0:
            raise RegistryError(f"model {current.id} is the oldest in {self.history}: nothing to roll back to")
        return entries[index - 1]

    def events(self) -> List[Dict[str, Any]]:
        """Promotions and rollbacks, oldest first."""
        path = self.history / EVENTS
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    # --- writing -------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Only one retrain or rollback at a time (raises RegistryError if another one holds the lock)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".registry.lock", "a+") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "?"
                raise RegistryError(f"another retrain or rollback is running (PID {holder})") from None
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
            try:
                yield
            finally:
                f.seek(0)
                f.truncate()
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def keep(self, run_dir: Path, refused: bool = False) -> Entry:
        """Moves a finished run's folder (model.tar.gz and its report) into the history or the refused."""
        if not (run_dir / MODEL_FILE).exists():
            raise RegistryError(f"{run_dir} has no {MODEL_FILE}")
        folder = self.refused if refused else self.history
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / run_dir.name
        if target.exists():
            raise RegistryError(f"{target} already exists")
        shutil.move(str(run_dir), str(target))
        if refused:
            for old in self.refused_entries()[:-KEEP_REFUSED]:
                shutil.rmtree(old.path, ignore_errors=True)
        return Entry(target, report.read(target))

    def archive_served(self, evaluation: Dict[str, Any] | None = None, now: float | None = None) -> Entry | None:
        """Keeps the served model in the history if it is not there yet (so it can be rolled back to)."""
        sha = self.served_sha()
        if sha is None or self.current() is not None:
            return None
        entry_id = new_id(sha, now if now is not None else self.served.stat().st_mtime)
        staging = self.history / f".{entry_id}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        shutil.copy2(self.served, staging / MODEL_FILE)
        data = {"id": entry_id, "status": "archived",
                "created": datetime.fromtimestamp(self.served.stat().st_mtime, timezone.utc).isoformat(
                    timespec="seconds"),
                "note": f"the model served before the first promotion ({self.served.name}), kept for rollback",
                "model": {"file": MODEL_FILE, "sha256": sha, "bytes": self.served.stat().st_size},
                "evaluation": evaluation or {}}
        parsed = [(str(e), str(p), str(t)) for e, p, t in (evaluation or {}).get("parsed") or []]
        report.write(staging, data, parsed)
        os.replace(staging, self.history / entry_id)
        return Entry(self.history / entry_id, report.read(self.history / entry_id))

    def install(self, entry: Entry, action: str, now: float | None = None) -> None:
        """Serves ``entry``'s model (atomic copy over MODEL) and records the event."""
        before = self.current()
        before_sha = self.served_sha()
        copy_atomically(entry.model, self.served)
        if sha256_file(self.served) != entry.sha256:
            raise RegistryError(f"{self.served} does not match {entry.model} after copying: disk full?")
        event = {"time": datetime.fromtimestamp(time.time() if now is None else now, timezone.utc).isoformat(
                     timespec="seconds"), "action": action, "id": entry.id,
                 "from": before.id if before is not None else (before_sha[:12] if before_sha else None),
                 "by": _who()}
        self.history.mkdir(parents=True, exist_ok=True)
        with open(self.history / EVENTS, "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")

    def rollback(self, to: str | None = None) -> Entry:
        """Serves the previous history entry (or ``to``); returns it."""
        target = self.find(to) if to else self.previous()
        if target.sha256 == self.served_sha():
            raise RegistryError(f"model {target.id} is already the one served")
        self.install(target, "rollback")
        return target


def describe(entry: Entry, current: Entry | None) -> Dict[str, Any]:
    """One row of ``python -m bot models``."""
    ev = entry.evaluation
    dev = ev.get("dev") or {}
    faq = dev.get("faq")
    crisis_data = ev.get("crisis") or {}
    return {"id": entry.id, "current": current is not None and current.id == entry.id,
            "status": entry.report.get("status", "?"), "created": entry.report.get("created", "?"),
            "faq": faq[0] if isinstance(faq, list) else faq, "recall": crisis_data.get("recall"),
            "over_escalation": crisis_data.get("over_escalation"),
            "train_s": (entry.report.get("training") or {}).get("seconds")}
