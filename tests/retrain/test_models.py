"""The model registry: history, which model is served, atomic installs, rollback, and the two commands.

Models here are small files standing in for trained ones (the registry never opens them); the served
model is a temporary MODEL, never models/current.tar.gz.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Dict

import pytest

from bot.__main__ import main
from bot.retrain import models, report
from bot.retrain.models import KEEP_REFUSED, Registry, RegistryError, copy_atomically, new_id


def scores(faq: float, recall: float = 1.0, over: float = 0.01) -> Dict:
    return {"dev": {"faq": [faq, 111]}, "crisis": {"recall": recall, "over_escalation": over}}


def run_dir(tmp: Path, content: bytes, faq: float = 0.99, recall: float = 1.0, now: float | None = None) -> Path:
    """A finished run's folder: model.tar.gz and report.json, named like retrain names it."""
    sha = __import__("hashlib").sha256(content).hexdigest()
    folder = tmp / "work" / new_id(sha, now)
    folder.mkdir(parents=True)
    (folder / "model.tar.gz").write_bytes(content)
    data = {"id": folder.name, "status": "promoted", "created": "2026-11-30T10:00:00+00:00",
            "model": {"file": "model.tar.gz", "sha256": sha, "bytes": len(content)},
            "training": {"seconds": 61.0}, "evaluation": scores(faq, recall)}
    report.write(folder, data, [("insurance", "insurance", "do you take insurance")])
    return folder


@pytest.fixture
def registry(tmp_path) -> Registry:
    served = tmp_path / "models" / "current.tar.gz"
    served.parent.mkdir()
    served.write_bytes(b"model of make train")
    return Registry(served)


def promote(registry: Registry, tmp: Path, content: bytes, now: float) -> models.Entry:
    registry.archive_served(scores(0.98), now=now - 100)
    entry = registry.keep(run_dir(tmp, content, now=now))
    registry.install(entry, "promote", now=now)
    return entry


def test_ids_sort_by_time_and_name_the_model():
    a, b = new_id("a" * 64, 1_000_000.0), new_id("b" * 64, 1_000_000.5)
    assert a < b and a.endswith("-aaaaaaaa") and a.startswith("19700112-")


def test_a_promotion_keeps_the_model_served_before_it_and_serves_the_new_one(registry, tmp_path):
    before = registry.served.read_bytes()
    assert registry.current() is None  # make train's model is not in the history yet
    entry = promote(registry, tmp_path, b"model one", now=2_000_000_000.0)
    assert registry.served.read_bytes() == b"model one"
    entries = registry.entries()
    assert [e.report["status"] for e in entries] == ["archived", "promoted"]
    assert entries[0].model.read_bytes() == before
    assert entries[0].evaluation["dev"]["faq"] == [0.98, 111]  # the running model's scores, kept with it
    assert (entries[0].path / "report.md").exists()
    current = registry.current()
    assert current is not None and current.id == entry.id
    assert sorted(p.name for p in entry.path.iterdir()) == ["confusion.png", "model.tar.gz", "report.json",
                                                            "report.md"]
    event = registry.events()[-1]
    assert event["action"] == "promote" and event["id"] == entry.id and event["from"] == entries[0].id
    assert registry.archive_served() is None  # already kept: never twice


def test_rollback_serves_the_previous_entry_then_the_one_before(registry, tmp_path):
    promote(registry, tmp_path, b"model one", now=2_000_000_000.0)
    second = registry.keep(run_dir(tmp_path, b"model two", now=2_000_000_100.0))
    registry.install(second, "promote")
    assert registry.served.read_bytes() == b"model two"
    back = registry.rollback()
    assert registry.served.read_bytes() == b"model one" and back.model.read_bytes() == b"model one"
    registry.rollback()
    assert registry.served.read_bytes() == b"model of make train"
    with pytest.raises(RegistryError, match="oldest"):
        registry.rollback()
    registry.rollback(to=second.id[:20])  # forward again, by a unique prefix of its id
    assert registry.served.read_bytes() == b"model two"
    with pytest.raises(RegistryError, match="already the one served"):
        registry.rollback(to=second.id)
    with pytest.raises(RegistryError, match="no single model"):
        registry.rollback(to="2099")
    assert [e["action"] for e in registry.events()] == ["promote", "promote", "rollback", "rollback", "rollback"]


def test_rollback_from_a_model_outside_the_history_goes_to_the_newest_entry(registry, tmp_path):
    promote(registry, tmp_path, b"model one", now=2_000_000_000.0)
    registry.served.write_bytes(b"retrained by make train")
    assert registry.current() is None
    assert registry.rollback().model.read_bytes() == b"model one"
    empty = Registry(tmp_path / "elsewhere" / "current.tar.gz")
    with pytest.raises(RegistryError, match="no model"):
        empty.rollback()


def test_refused_models_are_kept_aside_and_pruned(registry, tmp_path):
    for i in range(KEEP_REFUSED + 2):
        registry.keep(run_dir(tmp_path, f"refused {i}".encode(), now=2_000_000_000.0 + i), refused=True)
    kept = registry.refused_entries()
    assert len(kept) == KEEP_REFUSED
    assert kept[-1].model.read_bytes() == f"refused {KEEP_REFUSED + 1}".encode()  # the newest are kept
    assert registry.entries() == [] and registry.served.read_bytes() == b"model of make train"


def test_an_install_is_atomic_and_a_failed_copy_leaves_the_served_model(registry, tmp_path, monkeypatch):
    source = tmp_path / "new.tar.gz"
    source.write_bytes(b"x" * 3_000_000)
    inode = registry.served.stat().st_ino
    copy_atomically(source, registry.served)
    assert registry.served.read_bytes() == source.read_bytes()
    assert registry.served.stat().st_ino != inode  # a new file renamed over it: readers had the old one or this
    assert [p.name for p in registry.served.parent.iterdir()] == ["current.tar.gz"]  # no temporary file left

    def broken(src, dst, length=0):
        dst.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", broken)
    with pytest.raises(OSError):
        copy_atomically(source, registry.served)
    assert registry.served.read_bytes() == source.read_bytes()
    assert [p.name for p in registry.served.parent.iterdir()] == ["current.tar.gz"]


def test_one_retrain_or_rollback_at_a_time(registry):
    with registry.lock():
        with pytest.raises(RegistryError, match=f"PID {os.getpid()}"):
            with Registry(registry.served).lock():
                pass
    with registry.lock():  # released
        pass


# ---------------------------------------------------------------------------------------------
# The commands.


@pytest.fixture
def env(registry, tmp_path, monkeypatch) -> Registry:
    monkeypatch.setenv("MODEL", str(registry.served))
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
    from bot.launch import free_port

    monkeypatch.setenv("MODEL_SERVER_PORT", str(free_port()))  # nobody listens: no running assistant
    return registry


def test_models_lists_history_and_refused_and_marks_the_served_one(env, tmp_path, capsys):
    assert main(["models"]) == 0
    assert "not in the history" in capsys.readouterr().out
    entry = promote(env, tmp_path, b"model one", now=2_000_000_000.0)
    env.keep(run_dir(tmp_path, b"refused one", faq=0.5, recall=0.7, now=2_000_000_200.0), refused=True)
    assert main(["models"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[1] if line.startswith("*") else line.split()[0]: line for line in out[1:-1]}
    assert rows[entry.id].startswith("* ") and "0.990" in rows[entry.id] and "1.000" in rows[entry.id]
    refused = [line for line in out if "refused" in line]
    assert refused and "0.500" in refused[0] and "0.700" in refused[0] and not refused[0].startswith("*")
    assert out[-1].startswith("* served now")
    assert main(["models", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["status"] for r in listed] == ["archived", "promoted", "refused"]
    assert [r["current"] for r in listed] == [False, True, False]
    assert main(["models", "--report", entry.id[:22]]) == 0
    assert capsys.readouterr().out.startswith(f"# Model {entry.id}")


def test_rollback_command_switches_the_served_model_and_says_so(env, tmp_path, capsys):
    assert main(["rollback"]) == 1
    assert "no model" in capsys.readouterr().err
    promote(env, tmp_path, b"model one", now=2_000_000_000.0)
    assert main(["rollback", "--wait-s", "0"]) == 0
    out = capsys.readouterr().out
    assert env.served.read_bytes() == b"model of make train"
    assert "rollback:" in out and "is now model" in out
    assert "no model server answers" in out  # nothing running: served at the next start
    assert main(["rollback"]) == 1
    assert "oldest" in capsys.readouterr().err
