"""How the servers start: the one place that builds their command lines and environment.

``make run`` (through :mod:`bot.supervise`), the tests' fixtures and the benchmark all
start the model server, the Rasa server, the action server and the web page from the
:class:`Service` descriptions built here, and manage them as :class:`Process` objects: started
in their own session, health-checked, stopped by their own PID (SIGTERM, then SIGKILL), never
by name.

A Rasa server started with ``endpoints.yml`` pulls its model from the internal model server
(:mod:`bot.model_server`, ``models:`` in ``endpoints.yml``): it must be up first, or Rasa starts
with no model. Both get the model server's token (generated once in VAR_DIR) in their
environment, never on a command line.
"""
from __future__ import annotations

import math
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
from typing import IO, Callable, Dict, List, Sequence

import yaml

from bot.model_server import HOST as MODEL_SERVER_HOST
from bot.model_server import TOKEN_ENV, load_token
from bot.settings import CREDENTIALS, ENDPOINTS, ROOT, Settings, environment

BIN = Path(sys.executable).parent
HEALTH_PATHS = {"rasa": "/webhooks/rest/", "actions": "/health", "web": "/health", "staff": "/health",
                "model_server": "/health"}
# Whole seconds between two model pulls, for endpoints.yml (Rasa needs an integer): derived from
# MODEL_PULL_INTERVAL_S by the launcher, not a setting of its own.
PULL_SECONDS_ENV = "MODEL_PULL_SECONDS"


@dataclass(frozen=True)
class Service:
    """A server to start: its name, command line, environment, health URL and log file."""

    name: str
    argv: List[str]
    env: Dict[str, str]
    health_url: str
    log: Path
    cwd: Path = ROOT


def process_env(settings: Settings, **extra: str) -> Dict[str, str]:
    """The environment of every process started here: the settings, quiet libraries, no telemetry."""
    env = dict(os.environ)
    env.update(environment(settings))
    env.update({
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
        # Sanic reads SANIC_* into its config: every server refuses bodies over the limit.
        "SANIC_REQUEST_MAX_SIZE": str(settings.max_body_bytes),
    })
    env.update(extra)
    return env


def model_server_env(settings: Settings) -> Dict[str, str]:
    """What the model server and Rasa need to find each other: the token and the pull interval."""
    return {TOKEN_ENV: load_token(settings.var_dir),
            PULL_SECONDS_ENV: str(max(1, math.ceil(settings.model_pull_interval_s)))}


def pulls_model(endpoints: Path | None) -> bool:
    """Whether a Rasa server started with ``endpoints`` takes its model from a model server (``models:``)."""
    if endpoints is None:
        return False
    # BaseLoader: no implicit tags, so the ${...} values are read as they are (Rasa's loader would expand them)
    data = yaml.load(Path(endpoints).read_text(encoding="utf-8"), Loader=yaml.BaseLoader)  # noqa: S506
    return isinstance(data, dict) and bool(data.get("models"))


def model_server(settings: Settings, name: str = "model-server") -> Service:
    """The internal model server (:mod:`bot.model_server`): serves MODEL to Rasa, on loopback only."""
    argv = [sys.executable, "-m", "bot.model_server"]
    return Service(name, argv, process_env(settings, **model_server_env(settings)),
                   _url(MODEL_SERVER_HOST, settings.model_server_port, "model_server"),
                   settings.log_dir / f"{name}.log")


def rasa_server(settings: Settings, model: Path | None = None, credentials: Path = CREDENTIALS,
                endpoints: Path | None = ENDPOINTS, name: str = "rasa") -> Service:
    """``rasa run`` on the public channels only: no ``--enable-api`` (no model or admin HTTP API).

    With ``endpoints.yml`` its model comes from the model server (start :func:`model_server`
    first); ``--model`` counts only with an endpoints file that has no ``models:`` section.
    """
    argv = [str(BIN / "rasa"), "run", "--model", str(model or settings.model),
            "--interface", settings.interface, "--port", str(settings.port),
            "--credentials", str(credentials), "--cors", *settings.allowed_origins]
    if endpoints is not None:
        argv += ["--endpoints", str(endpoints)]
    return Service(name, argv, process_env(settings, **model_server_env(settings)),
                   _url(settings.interface, settings.port, "rasa"), settings.log_dir / f"{name}.log")


def action_server(settings: Settings, name: str = "actions") -> Service:
    """The action server (:mod:`bot.action_server`), on ACTIONS_INTERFACE (loopback by default)."""
    argv = [sys.executable, "-m", "bot.action_server"]
    return Service(name, argv, process_env(settings),
                   _url(settings.actions_interface, settings.actions_port, "actions"),
                   settings.log_dir / f"{name}.log")


def web_app(settings: Settings, name: str = "web") -> Service:
    """The demo page with the widget (:mod:`bot.web.app`)."""
    argv = [sys.executable, "-m", "bot.web.app"]
    return Service(name, argv, process_env(settings), _url(settings.interface, settings.web_port, "web"),
                   settings.log_dir / f"{name}.log")


def staff_site(settings: Settings, name: str = "staff") -> Service:
    """The staff site (:mod:`bot.staff`), on STAFF_INTERFACE (loopback by default), never public."""
    argv = [sys.executable, "-m", "bot.staff"]
    return Service(name, argv, process_env(settings),
                   _url(settings.staff_interface, settings.staff_port, "staff"),
                   settings.log_dir / f"{name}.log")


def assistant(settings: Settings) -> List[Service]:
    """Everything ``make run`` starts, in start order (the model server before Rasa, which pulls from it)."""
    return [model_server(settings), action_server(settings), rasa_server(settings), web_app(settings),
            staff_site(settings)]


def _url(interface: str, port: int, kind: str) -> str:
    host = "127.0.0.1" if interface in ("0.0.0.0", "", "::") else interface
    return f"http://{host}:{port}{HEALTH_PATHS[kind]}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1") -> List[int]:
    """``count`` different TCP ports on ``host`` that nobody listens on (held together while chosen)."""
    sockets: List[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket()
            sockets.append(s)
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether a GET on ``url`` answers with a 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (our own servers)
            resp.read()
            return 200 <= resp.status < 300
    except (OSError, urllib.error.URLError, ValueError):
        return False


def poll(check: Callable[[], bool], seconds: float, interval: float = 0.1) -> bool:
    """Whether ``check`` holds within ``seconds`` (checked every ``interval``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def wait_until(check: Callable[[], bool], alive: Callable[[], bool], seconds: float, what: str,
               tail: Callable[[], str] = lambda: "", interval: float = 0.2) -> float:
    """Polls ``check`` until it holds; returns the seconds it took.

    Raises RuntimeError early if ``alive`` turns false, or after ``seconds``.
    """
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if not alive():
            raise RuntimeError(f"{what} exited during start:\n{tail()}")
        if check():
            return time.monotonic() - start
        time.sleep(interval)
    raise RuntimeError(f"{what} did not answer within {seconds:.0f} s:\n{tail()}")


def children(pid: int) -> List[int]:
    """PIDs of the direct children of ``pid`` (empty if it is gone)."""
    found: List[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


@dataclass
class Process:
    """One running service, started in its own session so that a Ctrl-C reaches only its manager."""

    service: Service
    proc: subprocess.Popen | None = None
    started_at: float = 0.0

    @property
    def name(self) -> str:
        """The service's name."""
        return self.service.name

    @property
    def log(self) -> Path:
        """The service's log file."""
        return self.service.log

    @property
    def pid(self) -> int:
        """The process id (the process must have been started)."""
        if self.proc is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.proc.pid

    def start(self, stdout: IO[bytes] | int | None = None) -> "Process":
        """Starts the process; its output goes to ``stdout`` (default: appended to the service's log)."""
        if stdout is None:
            self.service.log.parent.mkdir(parents=True, exist_ok=True)
            with open(self.service.log, "ab") as out:
                self._popen(out)
        else:
            self._popen(stdout)
        return self

    def _popen(self, out: IO[bytes] | int) -> None:
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(self.service.argv, cwd=self.service.cwd, env=self.service.env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        """Whether the process is running."""
        return self.proc is not None and self.proc.poll() is None

    def tail(self, chars: int = 3000) -> str:
        """The end of its log, for error messages."""
        try:
            return self.service.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_healthy(self, seconds: float = 240.0) -> float:
        """Waits until the health URL answers; returns seconds since the start of the process."""
        wait_until(lambda: http_ok(self.service.health_url), self.alive, seconds, self.name, self.tail)
        return time.perf_counter() - self.started_at

    def signal(self, sig: int) -> None:
        """Sends ``sig`` to the process (not its children)."""
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """Kills the process at once (SIGKILL, a stopped one too) and reaps it; for cleaning up after tests."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; leftover children are stopped by PID. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            kids = children(self.proc.pid)
            try:
                self.proc.send_signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            for kid in kids:
                try:
                    os.kill(kid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return self.proc.returncode


def start_all(services: Sequence[Service], seconds: float = 240.0) -> List[Process]:
    """Starts ``services`` in order, each healthy before the next; stops them all on failure."""
    started: List[Process] = []
    try:
        for service in services:
            process = Process(service).start()
            started.append(process)
            process.wait_healthy(seconds)
        return started
    except BaseException:
        for process in reversed(started):
            process.stop()
        raise
