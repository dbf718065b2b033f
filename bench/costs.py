"""Costs that need no server: model size on disk, and training time (full mode only).

Training runs in a temporary copy of the project (config, domain, data, bot/, the spaCy
build), with the copy's own empty Rasa cache, so the real data/ and .rasa/cache are never
touched: once from scratch, then again after appending one example to the copy's data,
with the cache the first training filled (as a developer's second `make train` would).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict

from bench.models import train
from bench.settings import ROOT
from bot.settings import SPACY_DIR

# Appended to the copy's data/nlu/conversation.yml before the second training.
EXTRA_EXAMPLE = '\n- intent: greet\n  examples: |\n    - good evening, is anyone there\n'


def size_mb(path: Path | None) -> float | None:
    """Size of a file in MiB (1 decimal), None if there is none."""
    if path is None or not path.exists():
        return None
    return round(path.stat().st_size / 2**20, 1)


def make_copy(config: Path, dest: Path) -> Path:
    """A training copy of the project in ``dest`` with ``config`` as its config.yml."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config, dest / "config.yml")
    shutil.copyfile(ROOT / "domain.yml", dest / "domain.yml")
    shutil.copytree(ROOT / "data", dest / "data")
    # The project's custom components and the spaCy pipeline they load (config.yml's
    # SpacyNLP's `model:` in config.yml is relative to the working directory).
    shutil.copytree(ROOT / "bot", dest / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    if SPACY_DIR.exists():
        shutil.copytree(SPACY_DIR, dest / SPACY_DIR.relative_to(ROOT))
    return dest


def add_one_example(copy: Path) -> None:
    """Appends one training example to the copy's data (never the project's)."""
    target = copy / "data" / "nlu" / "conversation.yml"
    assert ROOT not in target.resolve().parents, "refusing to modify the project's own data"
    with open(target, "a", encoding="utf-8") as f:
        f.write(EXTRA_EXAMPLE)


def training_times(setup: str, config: Path, logs: Path, result: Dict[str, Any],
                   keep_model: Path | None = None) -> Dict[str, Any]:
    """Training time from scratch and after adding one example, in a temporary copy.

    Each time goes into ``result`` as soon as it is measured (an interrupted run keeps it).
    If ``keep_model`` is given, the model trained from scratch is copied there before the
    copy is deleted (lets the full run reuse it as the cached baseline).
    """
    with tempfile.TemporaryDirectory(prefix=f"bench-train-{setup}-") as tmp:
        copy = make_copy(config, Path(tmp) / "project")
        cache = copy / ".rasa" / "cache"
        models = copy / "models"
        print(f"[{setup}] training from scratch in a temporary copy (log {logs / f'{setup}-train-scratch.log'})...",
              flush=True)
        result["scratch_s"] = round(train(Path("config.yml"), models, "scratch", copy,
                                          logs / f"{setup}-train-scratch.log", cache, label=setup), 1)
        result["scratch_model_mb"] = size_mb(models / "scratch.tar.gz")
        print(f"[{setup}] from scratch: {result['scratch_s']:.0f}s", flush=True)
        if keep_model is not None:
            keep_model.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(models / "scratch.tar.gz", keep_model)
        add_one_example(copy)
        print(f"[{setup}] training again after adding one example (with the copy's cache)...", flush=True)
        result["incremental_s"] = round(train(Path("config.yml"), models, "incremental", copy,
                                              logs / f"{setup}-train-incremental.log", cache, label=setup), 1)
        print(f"[{setup}] after one added example: {result['incremental_s']:.0f}s", flush=True)
    return result
