"""The child-process step of ``python -m bot retrain``, and watching the running assistant take a model.

- :func:`train`: ``rasa train --fail-on-validation-warnings``, which first validates the data exactly
  as ``rasa data validate --fail-on-warnings`` does (the same Rasa function), then trains into a
  folder; the validation's end (the first component Rasa trains or restores: it starts only on
  valid data) and each component's training are shown as they happen, with a heartbeat while a
  long one runs; the whole output is kept in a log, and a refused validation is summed up by its
  warnings (:func:`problems`);
- :func:`wait_until_served`: after a promotion, waits until the running Rasa server has pulled the
  new model from the model server (its ``/health`` names the last model handed out) and answers again.

Rasa runs from the project's folder, where the pipeline's relative paths (``build/spacy_en``) and
Rasa's training cache (``.rasa/``, shared with ``make train``) are.
"""
from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List

from bot import launch
from bot.settings import ROOT, Settings

TRAINING_STARTED = ("Starting to train component", "Restored component", "Your Rasa model is trained")
TRAIN_LINES = (*TRAINING_STARTED, "Finished training component", "Started validating", "Error", "ERROR",
               "Exception", "conflict")
INVALID = "Project validation completed with errors"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
HEARTBEAT_S = 15.0
MODEL_NAME = "model"

Say = Callable[[str], None]


class StepFailed(RuntimeError):
    """A step that failed; the message ends with what its output said."""


class InvalidData(StepFailed):
    """The training data, domain or config does not validate."""


def tail(text: str, lines: int = 25) -> str:
    """The end of a Rasa command's output, without the libraries' deprecation noise."""
    keep = [line for line in text.splitlines()
            if line.strip() and "DeprecationWarning" not in line and "declare_namespace" not in line]
    return "\n".join(keep[-lines:])


def problems(output: str, limit: int = 15) -> str:
    """The validation's warnings and errors, one line each, the ones that fail a validation first."""
    found: List[str] = []
    for line in output.splitlines():
        line = ANSI.sub("", line)
        if "UserWarning: " in line:
            found.append(line.split("UserWarning: ", 1)[1].strip())
        elif INVALID in line or " ERROR " in line:
            found.append(line.strip())
    unique = list(dict.fromkeys(found))
    # Rasa lists every utterance no rule uses, but those never fail a validation: last
    unique.sort(key=lambda text: "is not used in any story or rule" in text)
    shown = unique[:limit] + ([f"... and {len(unique) - limit} more"] if len(unique) > limit else [])
    return "\n".join(f"  - {text}" for text in shown)


def _shown(line: str) -> str | None:
    """A line of ``rasa train``'s output worth showing, cleaned up; None for the rest."""
    if not any(marker in line for marker in TRAIN_LINES) or "Warning" in line:
        return None
    return ANSI.sub("", line.strip().split(" - ", 1)[-1])


def train(config: Path, domain: Path, data: Path, out: Path, log: Path, env: Dict[str, str], say: Say,
          validated: Callable[[], None] = lambda: None) -> Path:
    """Validates, then trains into ``out/model.tar.gz``; calls ``validated`` once the data passed.

    Raises :class:`InvalidData` when the data does not validate, :class:`StepFailed` on any other failure.
    """
    argv = [str(launch.BIN / "rasa"), "train", "--fail-on-validation-warnings", "--config", str(config),
            "--domain", str(domain), "--data", str(data), "--out", str(out), "--fixed-model-name", MODEL_NAME]
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    last = [started]
    passed = [False]
    finished = threading.Event()

    def heartbeat() -> None:
        while not finished.wait(0.5):
            if time.perf_counter() - last[0] >= HEARTBEAT_S:
                say(f"[{time.perf_counter() - started:5.1f} s] still {'training' if passed[0] else 'validating'}...")
                last[0] = time.perf_counter()

    with open(log, "w", encoding="utf-8") as keep:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace")
        beat = threading.Thread(target=heartbeat, daemon=True)
        beat.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                keep.write(line)
                if not passed[0] and any(m in line for m in TRAINING_STARTED):
                    passed[0] = True
                    validated()
                shown = _shown(line)
                if shown:
                    say(f"[{time.perf_counter() - started:5.1f} s] {shown}")
                    last[0] = time.perf_counter()
            code = proc.wait()
        finally:
            finished.set()
            if proc.poll() is None:  # interrupted (Ctrl-C): never leave a training behind
                proc.kill()
                proc.wait()
            beat.join()
    output = log.read_text(errors="replace")
    if INVALID in output:
        raise InvalidData(f"the data does not validate (rasa train --fail-on-validation-warnings, exit {code}; "
                          f"all of it in {log}):\n{problems(output)}")
    model = out / f"{MODEL_NAME}.tar.gz"
    if code != 0 or not model.exists():
        raise StepFailed(f"rasa train failed (exit {code}); end of {log}:\n{tail(output)}")
    return model


def served_status(settings: Settings) -> Dict[str, Any] | None:
    """The model server's health (the model on disk, the one it last handed out), or None if it is down."""
    url = f"http://127.0.0.1:{settings.model_server_port}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (our own loopback server)
            data = json.loads(resp.read().decode())
            return data if isinstance(data, dict) else None
    except (OSError, urllib.error.URLError, ValueError):
        return None


def wait_until_served(settings: Settings, sha: str, seconds: float, say: Say) -> float | None:
    """Waits until the running Rasa server pulled model ``sha`` and answers again: the seconds it took, or None."""
    started = time.perf_counter()
    if served_status(settings) is None:
        say(f"no model server answers on 127.0.0.1:{settings.model_server_port}: the assistant serves the model "
            "when it starts (make run)")
        return None
    if seconds <= 0:
        return None
    say(f"waiting for the running assistant to pull it (it asks every {settings.model_pull_interval_s:g} s)...")
    if not launch.poll(lambda: (served_status(settings) or {}).get("last_served") == sha, seconds, 0.25):
        say(f"the running assistant did not pull it within {seconds:.0f} s: is its Rasa server up? "
            f"(see {settings.log_dir / 'rasa.log'})")
        return None
    # Rasa loads the model it pulled before it answers again: its health answers once the new model is in
    host = "127.0.0.1" if settings.interface in ("0.0.0.0", "", "::") else settings.interface
    rasa = f"http://{host}:{settings.port}/webhooks/rest/"
    launch.poll(lambda: launch.http_ok(rasa, timeout=30), max(5.0, seconds - (time.perf_counter() - started)))
    return time.perf_counter() - started
