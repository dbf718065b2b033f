"""Starting and stopping the servers under test, on free 127.0.0.1 ports, with the project's launcher.

The Rasa and action servers are the :mod:`bot.launch` services that ``make run`` starts, with
settings of their own (free ports, logs in the run's folder, a throw-away VAR_DIR for the alert
database). Every process started here is registered until it is stopped; :func:`stop_all`
(called on exit, errors and Ctrl-C) stops the ones still running, each by its own PID.
"""
from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

from bench.settings import BASELINE_CREDENTIALS, ENDPOINTS, MEMORY_ENDPOINTS, PROJECT_CREDENTIALS, WEBHOOK_PATH
from bot import launch
from bot import settings as settings_module
from bot.evaluation.replies import post

HOST = "127.0.0.1"
_RUNNING: Dict[int, launch.Process] = {}


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory (VmHWM) of a process and its children, in MiB; None if gone."""
    total_kb = 0
    seen = False
    for p in [pid, *launch.children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
                    seen = True
        except OSError:
            continue
    return round(total_kb / 1024, 1) if seen else None


def start(service: launch.Service) -> launch.Process:
    """Starts ``service`` (output appended to its log) and registers it until :func:`stop`."""
    process = launch.Process(service).start()
    _RUNNING[process.pid] = process
    return process


def stop(process: launch.Process, grace_s: float = 20.0) -> int | None:
    """Stops a registered process by its PID (SIGTERM, SIGKILL after ``grace_s``); returns its exit code."""
    try:
        return process.stop(grace_s)
    finally:
        if process.proc is not None:
            _RUNNING.pop(process.pid, None)


def stop_all() -> None:
    """Stops every process the benchmark started and has not stopped yet."""
    for process in list(_RUNNING.values()):
        try:
            stop(process, grace_s=10.0)
        except Exception as e:  # keep stopping the others
            print(f"bench: could not stop {process.name} (PID {process.pid}): {e}", file=sys.stderr)


atexit.register(stop_all)


def wait_until_answering(process: launch.Process, url: str, seconds: float, text: str = "hi") -> float:
    """Seconds from the process start until the webhook answers ``text`` with at least one message."""
    def answers() -> bool:
        try:
            return bool(post(url, "bench-coldstart", text, timeout=30))
        except (OSError, ValueError):
            return False

    launch.wait_until(answers, process.alive, seconds, f"{process.name} (log {process.service.log})",
                      process.tail)
    return time.perf_counter() - process.started_at


@dataclass
class Running:
    """A setup being served: its Rasa (or floor) server, the optional action server, and its URL."""

    setup: str
    server: launch.Process
    url: str
    cold_start_s: float
    actions: launch.Process | None = None
    actions_start_s: float | None = None
    var_dir: Path | None = None
    model_server: launch.Process | None = None

    def stop(self) -> None:
        """Stops the servers of this setup by PID, then deletes its state (the alert database)."""
        try:
            stop(self.server)
            if self.actions is not None:
                stop(self.actions)
            if self.model_server is not None:
                stop(self.model_server)
        finally:
            if self.var_dir is not None:
                shutil.rmtree(self.var_dir, ignore_errors=True)


def setup_settings(logs: Path, var_dir: Path | None = None, model: Path | None = None) -> settings_module.Settings:
    """Settings of one setup's servers: free 127.0.0.1 ports, logs in ``logs``, state in ``var_dir``.

    Built from these values only (not the shell's environment), so no operator setting such
    as ALERT_WEBHOOK_URL reaches the servers under test: their alerts are log lines.
    """
    port, actions, web, model_server = launch.free_ports(4, HOST)  # four different ones
    env = {"INTERFACE": HOST, "ACTIONS_INTERFACE": HOST, "PORT": str(port), "ACTIONS_PORT": str(actions),
           "WEB_PORT": str(web), "MODEL_SERVER_PORT": str(model_server), "LOG_DIR": str(logs)}
    if var_dir is not None:
        env["VAR_DIR"] = str(var_dir)
    if model is not None:
        env["MODEL"] = str(model)
    return settings_module.load(env)


def floor_server(settings: settings_module.Settings, name: str = "floor") -> launch.Service:
    """The floor (bench/floor_server.py) on the settings' interface and port."""
    argv = [sys.executable, "-m", "bench.floor_server", "--host", settings.interface, "--port", str(settings.port)]
    return launch.Service(name, argv, launch.process_env(settings),
                          f"http://{settings.interface}:{settings.port}/webhooks/rest/",
                          settings.log_dir / f"{name}.log")


def start_setup(setup: str, model: Path | None, logs: Path, start_timeout_s: float = 300.0) -> Running:
    """Starts one setup and measures its cold start (process start to first answer).

    ``project`` and ``baseline`` are the project's Rasa server (:func:`bot.launch.rasa_server`)
    on their model, each with a fresh action server (:func:`bot.launch.action_server`) and
    ``endpoints.yml`` (action server, crisis alert broker, durable SQL conversation store);
    ``project`` with the project's channels (credentials.yml), ``baseline`` with Rasa's stock
    ``rest`` channel only; ``project-memory`` is ``project`` with Rasa's in-memory store
    (bench/memory_endpoints.yml). Each gets its own VAR_DIR (the SQLite database) in a
    temporary folder, deleted when it stops. A setup whose endpoints pull the model
    (``models:`` in endpoints.yml) gets its own model server (:func:`bot.launch.model_server`)
    serving its model, started first, as ``make run`` does; the others load ``--model``.
    ``floor`` is a bare Sanic app (bench/floor_server.py).
    """
    if setup == "floor":
        settings = setup_settings(logs)
        floor = start(floor_server(settings))
        url = f"http://{HOST}:{settings.port}{WEBHOOK_PATH}"
        try:
            return Running(setup, floor, url, wait_until_answering(floor, url, start_timeout_s))
        except BaseException:
            stop(floor)
            raise

    assert model is not None
    var_dir = Path(tempfile.mkdtemp(prefix=f"bench-{setup}-var-"))
    settings = setup_settings(logs, var_dir, model)
    url = f"http://{HOST}:{settings.port}{WEBHOOK_PATH}"
    credentials = PROJECT_CREDENTIALS if setup.startswith("project") else BASELINE_CREDENTIALS
    endpoints = MEMORY_ENDPOINTS if setup == "project-memory" else ENDPOINTS
    model_server: launch.Process | None = None
    actions: launch.Process | None = None
    server: launch.Process | None = None
    try:
        if launch.pulls_model(endpoints):
            model_server = start(launch.model_server(settings, name=f"{setup}-model-server"))
            model_server.wait_healthy(start_timeout_s)
        actions = start(launch.action_server(settings, name=f"{setup}-actions"))
        actions_s = actions.wait_healthy(start_timeout_s)
        server = start(launch.rasa_server(settings, model=model, credentials=credentials, endpoints=endpoints,
                                          name=f"{setup}-rasa"))
        cold = wait_until_answering(server, url, start_timeout_s)
        return Running(setup, server, url, cold, actions, actions_s, var_dir, model_server)
    except BaseException:
        for process in (server, actions, model_server):
            if process is not None:
                stop(process)
        shutil.rmtree(var_dir, ignore_errors=True)
        raise
