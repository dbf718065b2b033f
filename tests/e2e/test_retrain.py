"""Retraining end to end: a promotion reaches a running assistant, a less safe model is refused, a rollback.

A real assistant (model server, action server, Rasa server) serves a temporary copy of the trained
model; ``python -m bot retrain`` and ``rollback`` run as an admin runs them, on a temporary copy of
config.yml, domain.yml and data/ (never the real ones, never models/current.tar.gz). While the model is
promoted, a visitor keeps asking a question whose answer the new model changes: every request is
answered, first with the old answer, then with the new one, and never the old one again.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from bot import facts, launch
from bot.evaluation.replies import flatten, post
from bot.retrain import approvals
from bot.retrain.models import Registry
from bot.settings import ROOT, Settings
from tests.conftest import Assistant, server_settings, start_assistant

pytestmark = pytest.mark.model

QUESTION = "do you take insurance?"
OLD_WORDS = "We accept most PPO insurance plans for partial coverage of fees."
MARKER = "(This answer was updated by the retraining test.)"
EMERGENCY = "I'm going to kill myself tonight"


@dataclass
class Setup:
    """The running assistant, its settings, and the project copy it is retrained from."""

    assistant: Assistant
    settings: Settings
    project: Path
    registry: Registry
    log: List[str] = field(default_factory=list)

    def command(self, *argv: str, project: Path | None = None, timeout: float = 900) -> Tuple[int, str, float]:
        """Runs ``python -m bot ARGV`` (retrain on ``project``); (exit code, output, seconds)."""
        args = list(argv)
        if argv[0] == "retrain":
            root = project or self.project
            args += ["--config", str(root / "config.yml"), "--domain", str(root / "domain.yml"),
                     "--data", str(root / "data")]
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=launch.process_env(self.settings),
                              capture_output=True, text=True, timeout=timeout)
        seconds = time.monotonic() - started
        output = done.stdout + done.stderr
        shown = "\n".join(line for line in output.splitlines() if "Warning" not in line and not line.startswith("  "))
        print(f"\n$ python -m bot {' '.join(argv)}  ({seconds:.0f} s, exit {done.returncode})\n{shown}")
        return done.returncode, output, seconds

    def ask(self, text: str = QUESTION) -> str:
        return flatten(post(self.assistant.url, "retrain-" + uuid.uuid4().hex, text, timeout=60))


def copy_project(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in ("config.yml", "domain.yml"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "data", target / "data")
    return target


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("retrain")
    served = tmp / "models" / "current.tar.gz"
    served.parent.mkdir()
    shutil.copy2(ROOT / "models" / "current.tar.gz", served)
    settings = server_settings(tmp / "var", MODEL=str(served), LOG_DIR=str(tmp / "logs"), MODEL_PULL_INTERVAL_S="2")
    assert settings.model == served and settings.model != ROOT / "models" / "current.tar.gz"
    running = start_assistant(settings)
    try:
        yield Setup(running, settings, copy_project(tmp / "project"), Registry(served))
    finally:
        running.rasa.stop()
        running.actions.stop()


class Visitor:
    """Asks QUESTION again and again in a thread, recording (time, HTTP ok, reply has the new answer, seconds)."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.replies: List[Tuple[float, bool, bool, float]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                reply = self.setup.ask()
                ok = OLD_WORDS[:30] in reply or MARKER in reply
                self.replies.append((started, ok, MARKER in reply, time.monotonic() - started))
            except (OSError, ValueError):
                self.replies.append((started, False, False, time.monotonic() - started))
            time.sleep(0.25)

    def __enter__(self) -> "Visitor":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(60)


def test_a_promotion_reaches_the_running_assistant_without_a_restart(setup):
    domain = setup.project / "domain.yml"
    text = domain.read_text(encoding="utf-8")
    assert OLD_WORDS in text
    domain.write_text(text.replace(OLD_WORDS, f"{OLD_WORDS} {MARKER}", 1), encoding="utf-8")
    approvals_path = setup.project / "data" / "approvals.yml"
    assert approvals.pending(domain, approvals_path) == ["utter_faq/insurance"]
    approvals.approve(["insurance"], "retraining test", domain, approvals_path)
    before = setup.ask()
    assert OLD_WORDS[:30] in before and MARKER not in before
    rasa_pid = setup.assistant.rasa.pid

    with Visitor(setup) as visitor:
        code, out, seconds = setup.command("retrain")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (visitor.replies and visitor.replies[-1][2]):
            time.sleep(0.5)
        time.sleep(1.0)

    assert code == 0, out[-4000:]
    for step in ("[1/6] approvals", "[2/6] validate", "[3/6] train", "[4/6] evaluate", "[5/6] compare",
                 "[6/6] promote"):
        assert step in out, step
    assert re.search(r"validate: done in [\d.]+ s", out) and re.search(r"train: done in [\d.]+ s", out)
    last = out.strip().splitlines()[-1]
    assert last.startswith("retrain: promoted model") and "served by the running assistant" in last, last
    served_after = float(re.search(r"assistant ([\d.]+) s after promotion", last).group(1))
    print(f"retrain to served: {seconds:.0f} s (the running assistant took the model {served_after:.1f} s after "
          f"promotion; pull interval {setup.settings.model_pull_interval_s:g} s)")

    # the running assistant answers with the new model: same process, no restart, no failed request
    assert setup.assistant.rasa.alive() and setup.assistant.rasa.pid == rasa_pid
    assert MARKER in setup.ask()
    replies = visitor.replies
    assert len(replies) > 20
    assert all(ok for _, ok, _, _ in replies), [r for r in replies if not r[1]][:5]
    flags = [new for _, _, new, _ in replies]
    assert not flags[0] and flags[-1]
    switch = flags.index(True)
    assert all(flags[switch:]), "the old answer came back after the new one"
    print(f"visitor: {len(replies)} answers during the retrain, slowest {max(r[3] for r in replies):.2f} s")

    # the registry: the model served before is kept, the new one is current, with its report
    entries = setup.registry.entries()
    assert [e.report["status"] for e in entries] == ["archived", "promoted"]
    current = setup.registry.current()
    assert current is not None and current.id == entries[-1].id
    assert sha(setup.settings.model) == sha(current.model)
    for name in ("report.md", "report.json", "confusion.png"):
        assert (current.path / name).stat().st_size > 0, name
    data = json.loads((current.path / "report.json").read_text())
    assert data["evaluation"]["crisis"]["recall"] == 1.0 and data["training"]["seconds"] > 0
    assert data["evaluation"]["topics"]["insurance"]["support"] > 0
    code, listing, _ = setup.command("models")
    assert code == 0 and f"* {current.id}" in listing


def test_a_model_trained_without_the_emergency_examples_and_rules_is_refused(setup, tmp_path):
    assert setup.registry.current() is not None, "runs after the promotion test"
    project = copy_project(tmp_path / "unsafe")
    shutil.copy2(setup.project / "domain.yml", project / "domain.yml")
    shutil.copy2(setup.project / "data" / "approvals.yml", project / "data" / "approvals.yml")
    (project / "data" / "nlu" / "emergency.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: emergency\n  examples: |\n    - please send an ambulance\n'
        "    - call an ambulance for me now\n", encoding="utf-8")
    patterns = project / "patterns.yml"
    patterns.write_text("rules:\n  - name: ambulance_now\n    kind: medical\n    phrases: [\"send an ambulance\"]\n",
                        encoding="utf-8")
    config = project / "config.yml"
    detector = "  - name: bot.nlu.crisis_detector.CrisisDetector\n"
    assert detector in config.read_text()
    config.write_text(config.read_text().replace(detector, f"{detector}    patterns: {patterns}\n"), encoding="utf-8")
    served_before = sha(setup.settings.model)
    history_before = [e.id for e in setup.registry.entries()]

    code, out, _ = setup.command("retrain", project=project)

    assert code == 1, out[-4000:]
    last = out.strip().splitlines()[-1]
    assert last.startswith("retrain: REFUSED model") and "The running model is unchanged" in last, last
    assert "emergency recall on the crisis suite is" in out and "must be 1.0" in out
    missed = re.search(r"crisis suite: (\d+) of (\d+) emergencies NOT escalated, e\.g\. (.+)", out)
    assert missed and int(missed.group(1)) > 0 and "[" in missed.group(3), out[-3000:]
    assert sha(setup.settings.model) == served_before
    assert [e.id for e in setup.registry.entries()] == history_before
    refused = setup.registry.refused_entries()
    assert len(refused) == 1 and "**REFUSED**" in (refused[0].path / "report.md").read_text()
    time.sleep(2 * setup.settings.model_pull_interval_s)
    reply = post(setup.assistant.url, "retrain-" + uuid.uuid4().hex, EMERGENCY, timeout=60)
    assert re.search(rf"\b{facts.load().emergency_number}\b", flatten(reply[:1])), reply
    assert MARKER in setup.ask()  # still the promoted model


def test_rollback_serves_the_previous_model_again(setup):
    current = setup.registry.current()
    assert current is not None and current.report["status"] == "promoted", "runs after the promotion test"
    archived = setup.registry.entries()[0]

    code, out, seconds = setup.command("rollback")

    assert code == 0, out
    assert f"is now model {archived.id} (was {current.id})" in out
    assert "served by the running assistant" in out
    assert sha(setup.settings.model) == sha(archived.model)
    reply = setup.ask()
    assert OLD_WORDS[:30] in reply and MARKER not in reply
    assert [e["action"] for e in setup.registry.events()] == ["promote", "rollback"]
    print(f"rollback to served: {seconds:.1f} s")
