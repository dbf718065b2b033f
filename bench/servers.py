"""Starting and stopping the servers under test, by PID, on free 127.0.0.1 ports.

Every process started here is registered until it is stopped; :func:`stop_all` (called on
exit, errors and Ctrl-C) stops the ones still running, each by its own PID, never by name.
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

from bench.settings import (
    BASELINE_CREDENTIALS,
    ENDPOINTS,
    PROJECT_CREDENTIALS,
    RASA,
    ROOT,
    WEBHOOK_PATH,
    subprocess_env,
)

HOST = "127.0.0.1"
_RUNNING: Dict[int, "Managed"] = {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> List[int]:
    """PIDs of the direct children of ``pid`` (empty if it is gone)."""
    found: List[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory (VmHWM) of a process and its children, in MiB; None if gone."""
    total_kb = 0
    seen = False
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
                    seen = True
        except OSError:
            continue
    return round(total_kb / 1024, 1) if seen else None


class Managed:
    """One process started by the benchmark; its output goes to a log file."""

    def __init__(self, name: str, args: List[str], log: Path, env: Dict[str, str] | None = None,
                 cwd: Path = ROOT) -> None:
        self.name, self.args, self.log, self.cwd = name, args, log, cwd
        self.env = env if env is not None else subprocess_env()
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        """The process id (the process must have been started)."""
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    def start(self) -> "Managed":
        """Starts the process in its own session, so a Ctrl-C reaches the benchmark, which stops it."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.started_at = time.perf_counter()
            self.proc = subprocess.Popen(self.args, cwd=self.cwd, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        _RUNNING[self.proc.pid] = self
        return self

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Waits for the process to end (a timeout raises subprocess.TimeoutExpired); returns its exit code."""
        assert self.proc is not None
        code = self.proc.wait(timeout)
        _RUNNING.pop(self.proc.pid, None)
        return code

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_s``; children left behind are stopped by their PIDs."""
        if self.proc is None:
            return
        pid = self.proc.pid
        if self.proc.poll() is None:
            kids = _children(pid)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            for kid in kids:
                _stop_pid(kid)
        _RUNNING.pop(pid, None)

    def tail(self, chars: int = 2000) -> str:
        """The end of the log, for error messages."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _stop_pid(pid: int) -> None:
    """Stops a leftover child process by PID if it still exists."""
    try:
        Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return


def stop_all() -> None:
    """Stops every process the benchmark started and has not stopped yet."""
    for managed in list(_RUNNING.values()):
        try:
            managed.stop(grace_s=10.0)
        except Exception as e:  # keep stopping the others
            print(f"bench: could not stop {managed.name} (PID {managed.pid}): {e}", file=sys.stderr)


atexit.register(stop_all)


def post(url: str, sender: str, text: str, timeout: float) -> List[Dict[str, object]]:
    """POSTs one message to a REST webhook; returns the bot's messages."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        data = json.loads(resp.read().decode() or "[]")
    if not isinstance(data, list):
        raise ValueError(f"unexpected reply: {data!r}")
    return data


def wait_until_answering(server: Managed, url: str, seconds: float, text: str = "hi") -> float:
    """Seconds from the process start until the webhook answers ``text`` with at least one message."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited before answering; log {server.log}:\n{server.tail()}")
        try:
            if post(url, "bench-coldstart", text, timeout=30):
                return time.perf_counter() - server.started_at
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer within {seconds:.0f}s; log {server.log}:\n{server.tail()}")


def wait_until_healthy(server: Managed, url: str, seconds: float) -> float:
    """Seconds from the process start until a GET on ``url`` succeeds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited during start; log {server.log}:\n{server.tail()}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return time.perf_counter() - server.started_at
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not start within {seconds:.0f}s; log {server.log}:\n{server.tail()}")


@dataclass
class Running:
    """A setup being served: its Rasa (or floor) server, the optional action server, and its URL."""

    setup: str
    server: Managed
    url: str
    cold_start_s: float
    actions: Managed | None = None
    actions_start_s: float | None = None

    def stop(self) -> None:
        """Stops the servers of this setup by PID."""
        self.server.stop()
        if self.actions is not None:
            self.actions.stop()


def start_setup(setup: str, model: Path | None, logs: Path, start_timeout_s: float = 300.0) -> Running:
    """Starts one setup and measures its cold start (process start to first answer).

    ``project`` and ``baseline`` are ``rasa run`` on their model, each with a fresh action
    server (the domain's ``action_alert_staff``) through ``endpoints.yml``; ``project`` with
    the project's channels (credentials.yml), ``baseline`` with Rasa's stock ``rest``
    channel only. ``floor`` is a bare Sanic app (bench/floor_server.py).
    """
    port = free_port()
    url = f"http://{HOST}:{port}{WEBHOOK_PATH}"
    if setup == "floor":
        floor = Managed("floor", [sys.executable, "-m", "bench.floor_server", "--host", HOST, "--port", str(port)],
                        logs / "floor.log").start()
        try:
            return Running(setup, floor, url, wait_until_answering(floor, url, start_timeout_s))
        except BaseException:
            floor.stop()
            raise

    assert model is not None
    actions_port = free_port()
    env = subprocess_env(ACTIONS_PORT=str(actions_port))
    actions = Managed(f"{setup} action server",
                      [str(RASA), "run", "actions", "--port", str(actions_port), "--actions", "actions"],
                      logs / f"{setup}-actions.log", env=subprocess_env(SANIC_HOST=HOST)).start()
    server: Managed | None = None
    try:
        actions_s = wait_until_healthy(actions, f"http://{HOST}:{actions_port}/health", start_timeout_s)
        credentials = PROJECT_CREDENTIALS if setup == "project" else BASELINE_CREDENTIALS
        server = Managed(f"{setup} rasa server",
                         [str(RASA), "run", "--model", str(model), "--interface", HOST, "--port", str(port),
                          "--credentials", str(credentials), "--endpoints", str(ENDPOINTS)],
                         logs / f"{setup}-rasa.log", env=env).start()
        cold = wait_until_answering(server, url, start_timeout_s)
        return Running(setup, server, url, cold, actions, actions_s)
    except BaseException:
        if server is not None:
            server.stop()
        actions.stop()
        raise
