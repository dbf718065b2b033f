"""The models under test: the project's (as built by `make train`) and the cached baseline.

The baseline is trained on the project's data and domain with bench/baseline_config.yml into
bench/models/baseline.tar.gz; bench/models/baseline.key holds the hash of its inputs
(config, domain, data, Rasa version), so a run reuses it until one of them changes.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterable, List

import rasa

from bench.servers import start, stop
from bench.settings import BASELINE_CONFIG, MODELS_DIR, PROJECT_CONFIG, PROJECT_MODEL, ROOT
from bot import launch
from bot import settings as settings_module

BASELINE_MODEL = MODELS_DIR / "baseline.tar.gz"
BASELINE_KEY = MODELS_DIR / "baseline.key"


def training_files(root: Path = ROOT) -> List[Path]:
    """The domain and every training data file under ``root``, in a stable order."""
    data = sorted(p for p in (root / "data").rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml", ".md"))
    return [root / "domain.yml", *data]


def inputs_hash(config: Path, files: Iterable[Path], root: Path = ROOT) -> str:
    """SHA-256 (first 16 hex digits) of a config, the given files and the Rasa version."""
    h = hashlib.sha256(f"rasa {rasa.__version__}\n".encode())
    for p in [config, *files]:
        try:
            name = str(p.relative_to(root))
        except ValueError:
            name = p.name
        h.update(f"\0{name}\0".encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def baseline_hash() -> str:
    """The cache key of the baseline model for the current data, domain and baseline config."""
    return inputs_hash(BASELINE_CONFIG, training_files())


def project_hash() -> str:
    """The same hash for the project's config (recorded with the results)."""
    return inputs_hash(PROJECT_CONFIG, training_files())


def project_model_stale() -> bool:
    """Whether models/current.tar.gz is older than a training input (then `make train` would retrain)."""
    if not PROJECT_MODEL.exists():
        return True
    built = PROJECT_MODEL.stat().st_mtime
    inputs = [PROJECT_CONFIG, *training_files(), *(ROOT / "bot" / "nlu").glob("*.py")]
    return any(p.stat().st_mtime > built for p in inputs)


def cached_baseline() -> Path | None:
    """The cached baseline model if it was trained on the current inputs, else None."""
    if not BASELINE_MODEL.exists() or not BASELINE_KEY.exists():
        return None
    try:
        key = json.loads(BASELINE_KEY.read_text())["hash"]
    except (ValueError, KeyError):
        return None
    return BASELINE_MODEL if key == baseline_hash() else None


def store_baseline(model: Path, key: str, train_s: float | None = None) -> Path:
    """Puts a baseline model trained on the inputs hashed as ``key`` into the cache."""
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    if model.resolve() != BASELINE_MODEL.resolve():
        shutil.copyfile(model, BASELINE_MODEL)
    BASELINE_KEY.write_text(json.dumps({"hash": key, "train_s": train_s, "rasa": rasa.__version__}) + "\n")
    return BASELINE_MODEL


def train(config: Path, out: Path, name: str, cwd: Path, log: Path, cache_dir: Path,
          timeout_s: float = 7200.0, label: str = "") -> float:
    """Runs ``rasa train`` in ``cwd`` with its own cache; returns the wall time in seconds.

    Output goes to ``log``; a progress line is printed every minute. Raises on failure.
    """
    # Rasa puts its working directory on sys.path and reads the config's relative paths
    # (the spaCy pipeline's `model:`) from it, so a copy's training runs in the copy.
    argv = [str(launch.BIN / "rasa"), "train", "--config", str(config),
            "--domain", "domain.yml", "--data", "data", "--out", str(out), "--fixed-model-name", name]
    env: Dict[str, str] = launch.process_env(settings_module.load({}), RASA_CACHE_DIRECTORY=str(cache_dir))
    proc = start(launch.Service(f"rasa train ({name})", argv, env, "", log, cwd=cwd))
    assert proc.proc is not None
    t0 = time.perf_counter()
    try:
        while True:
            try:
                code = proc.proc.wait(timeout=60)
                break
            except subprocess.TimeoutExpired:
                elapsed = time.perf_counter() - t0
                if elapsed > timeout_s:
                    raise RuntimeError(f"training {name} took more than {timeout_s:.0f}s") from None
                print(f"[{label or name}] ... still training ({name}, {elapsed / 60:.0f} min)", flush=True)
    finally:
        stop(proc)
    seconds = time.perf_counter() - t0
    if code != 0 or not (out / f"{name}.tar.gz").exists():
        raise RuntimeError(f"rasa train ({name}) failed with exit code {code}; log {log}:\n{proc.tail()}")
    return seconds


def ensure_baseline(log: Path) -> Path:
    """The baseline model: from the cache, or trained now on the project's data and domain."""
    cached = cached_baseline()
    if cached is not None:
        print(f"Baseline model: cached {cached.relative_to(ROOT)} (inputs {baseline_hash()})", flush=True)
        return cached
    key = baseline_hash()
    print(f"Baseline model: training with {BASELINE_CONFIG.relative_to(ROOT)} (inputs {key}, "
          f"takes minutes; log {log.relative_to(ROOT)})...", flush=True)
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    seconds = train(BASELINE_CONFIG, MODELS_DIR, "baseline", ROOT, log, MODELS_DIR / "cache", label="baseline")
    print(f"Baseline model: trained in {seconds:.0f}s", flush=True)
    return store_baseline(BASELINE_MODEL, key, seconds)
