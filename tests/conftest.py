"""Shared fixtures: the crisis matcher, the suites, and the real servers for model tests."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
MODEL = ROOT / "models" / "current.tar.gz"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def matcher():
    """The crisis matcher on the project's spaCy pipeline."""
    from bot.crisis import shared_matcher
    return shared_matcher()


@pytest.fixture(scope="session")
def crisis_suite() -> Dict:
    """tests/crisis/suite.yml: emergencies by kind and look-alike non-emergencies."""
    with open(ROOT / "tests" / "crisis" / "suite.yml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, seconds: float, log: Path) -> None:
    """Waits until ``url`` answers, failing early if the process died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {seconds}s:\n{log.read_text()[-3000:]}")


class Server:
    """A server process started by a test, stopped by its PID."""

    def __init__(self, args: List[str], health_url: str, log: Path, env: Dict[str, str]) -> None:
        self.args, self.health_url, self.log, self.env = args, health_url, log, env
        self.proc: subprocess.Popen | None = None

    def start(self, seconds: float = 180) -> "Server":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        wait_for(self.health_url, self.proc, seconds, self.log)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Assistant:
    """The running assistant: the Rasa server and the action server, on free ports."""

    def __init__(self, rasa: Server, actions: Server, port: int) -> None:
        self.rasa, self.actions, self.port = rasa, actions, port
        self.url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"

    def send(self, message, sender: str = "test", raw: bytes | None = None, timeout: float = 60):
        """POSTs a message; returns (status, parsed JSON body)."""
        body = raw if raw is not None else json.dumps({"sender": sender, "message": message}).encode()
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read().decode() or "null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode() or "null")


@pytest.fixture(scope="session")
def assistant(tmp_path_factory) -> Iterator[Assistant]:
    """Starts the real action server and Rasa server (no HTTP API) on free ports."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    port, actions_port = free_port(), free_port()
    logs = ROOT / "results" / "logs"
    env = {**os.environ, "ACTIONS_PORT": str(actions_port), "TF_CPP_MIN_LOG_LEVEL": "2"}
    actions = Server([str(BIN / "rasa"), "run", "actions", "--port", str(actions_port), "--actions", "actions"],
                     f"http://127.0.0.1:{actions_port}/health", logs / "actions.log", env)
    rasa = Server([str(BIN / "rasa"), "run", "--model", str(MODEL), "--port", str(port),
                   "--credentials", "credentials.yml", "--endpoints", "endpoints.yml", "--cors", "*"],
                  f"http://127.0.0.1:{port}/webhooks/rest/", logs / "rasa.log", env)
    actions.start()
    try:
        rasa.start()
        yield Assistant(rasa, actions, port)
    finally:
        rasa.stop()
        actions.stop()


def flatten(messages) -> str:
    """Everything a visitor sees in a reply: texts, button titles and payloads."""
    parts = []
    for m in messages or []:
        parts.append(str(m.get("text") or ""))
        for b in m.get("buttons") or []:
            parts += [str(b.get("title", "")), str(b.get("payload", ""))]
    return "\n".join(parts)
