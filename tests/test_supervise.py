"""The supervisor of `make run`: restarts a dead or hung process, keeps the others, stops everything cleanly.

Real (tiny) servers: ``python -m http.server`` on free ports, logs in the test's tmp_path.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator, List

import pytest

from bot import launch
from bot.launch import Process, Service, poll
from bot.supervise import Policy, Supervisor

FAST = Policy(check_every_s=0.2, health_timeout_s=0.5, unhealthy_after=3, backoff_first_s=0.2, backoff_max_s=1,
              start_timeout_s=20, stop_grace_s=2)


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(check, seconds: float, interval: float = 0.1) -> bool:
    return poll(check, seconds, interval)


def unique(name: str) -> str:
    # The rotating log's logger is named after the service: a unique name per test keeps each test's file its own.
    return f"{name}-{uuid.uuid4().hex[:8]}"


def http_service(tmp_path: Path, name: str) -> Service:
    port = launch.free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    return Service(unique(name), argv, dict(os.environ, PYTHONUNBUFFERED="1"), f"http://127.0.0.1:{port}/",
                   tmp_path / f"{name}.log", cwd=tmp_path)


def python_service(tmp_path: Path, name: str, code: str) -> Service:
    port = launch.free_port()
    return Service(unique(name), [sys.executable, "-c", code], dict(os.environ, PYTHONUNBUFFERED="1"),
                   f"http://127.0.0.1:{port}/", tmp_path / f"{name}.log", cwd=tmp_path)


@pytest.fixture
def spawned(monkeypatch) -> Iterator[List[Process]]:
    """Every process started during the test; any still running at the end is killed by its PID."""
    processes: List[Process] = []
    original = Process.start

    def spy(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        processes.append(self)
        return result

    monkeypatch.setattr(Process, "start", spy)
    try:
        yield processes
    finally:
        for p in processes:
            p.kill()


class Running:
    """A started supervisor whose watch loop runs in a thread."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.thread = threading.Thread(target=supervisor.run, daemon=True)

    def __enter__(self) -> "Running":
        self.supervisor.start()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.supervisor.request_stop()
        self.thread.join(15)

    def pid(self, service: Service) -> int | None:
        return self.supervisor.pids().get(service.name)


def healthy(service: Service) -> bool:
    return launch.http_ok(service.health_url, timeout=1)


@pytest.fixture
def two(tmp_path, spawned):
    """Two supervised http servers."""
    a, b = http_service(tmp_path, "alpha"), http_service(tmp_path, "beta")
    with Running(Supervisor([a, b], FAST)) as running_supervisor:
        yield running_supervisor, a, b


def restarted(run: Running, service: Service, old_pid: int, seconds: float = 10) -> bool:
    """Whether a process other than ``old_pid`` answers the service's health check within ``seconds``."""
    def check() -> bool:
        pid = run.pid(service)
        return pid is not None and pid != old_pid and healthy(service) and run.pid(service) == pid
    return wait_for(check, seconds)


def test_after_start_both_services_are_healthy(two):
    run, a, b = two
    pids = run.supervisor.pids()
    assert set(pids) == {a.name, b.name}
    assert pids[a.name] != pids[b.name]
    assert all(running(pid) for pid in pids.values())
    assert healthy(a) and healthy(b)


def test_a_killed_process_is_restarted_and_the_other_keeps_running(two, caplog):
    run, a, b = two
    caplog.set_level(logging.WARNING, logger="bot.supervise")
    old_a, old_b = run.pid(a), run.pid(b)
    os.kill(old_a, signal.SIGKILL)
    assert restarted(run, a, old_a), f"{a.name} was not restarted: {run.supervisor.pids()}"
    assert run.pid(b) == old_b and healthy(b)
    assert not running(old_a)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(a.name in m and str(old_a) in m for m in errors), errors


def test_a_sigstopped_process_is_restarted(two):
    run, a, b = two
    old_a, old_b = run.pid(a), run.pid(b)
    os.kill(old_a, signal.SIGSTOP)
    try:
        assert restarted(run, a, old_a, seconds=12), f"{a.name} was not restarted: {run.supervisor.pids()}"
        assert wait_for(lambda: not running(old_a), 3), "the hung process was left behind"
        assert run.pid(b) == old_b and healthy(b)
    finally:
        if running(old_a):
            os.kill(old_a, signal.SIGKILL)


def test_both_services_can_fail_and_both_come_back(two):
    run, a, b = two
    old_a, old_b = run.pid(a), run.pid(b)
    os.kill(old_a, signal.SIGKILL)
    os.kill(old_b, signal.SIGKILL)
    assert restarted(run, a, old_a) and restarted(run, b, old_b)


def test_logs_are_appended_across_restarts_never_truncated(tmp_path, spawned):
    a = http_service(tmp_path, "logged")
    a.log.write_text("line written before the supervisor started\n")
    with Running(Supervisor([a], FAST)) as run:
        assert wait_for(lambda: "Serving HTTP" in a.log.read_text(), 5), a.log.read_text()
        for _ in range(3):
            healthy(a)  # request lines in the log
        before = a.log.read_text()
        old = run.pid(a)
        os.kill(old, signal.SIGKILL)
        assert restarted(run, a, old)
        assert wait_for(lambda: a.log.read_text().count("Serving HTTP") >= 2, 5), a.log.read_text()
        after = a.log.read_text()
    assert after.startswith(before), "content written before the restart was lost"
    assert after.startswith("line written before the supervisor started\n")
    assert len(after) > len(before)


def test_request_stop_makes_run_return_and_stops_every_process(tmp_path, spawned):
    a, b = http_service(tmp_path, "one"), http_service(tmp_path, "two")
    supervisor = Supervisor([a, b], FAST)
    with Running(supervisor) as run:
        pids = list(supervisor.pids().values())
        assert len(pids) == 2 and all(running(p) for p in pids)
        started = time.monotonic()
        supervisor.request_stop()
        run.thread.join(10)
        assert not run.thread.is_alive(), "run() did not return"
        assert time.monotonic() - started < 5
    assert [p for p in pids if running(p)] == []
    assert not healthy(a) and not healthy(b)
    time.sleep(FAST.check_every_s * 3 + FAST.backoff_max_s)
    assert supervisor.pids() == {}  # nothing was restarted after the stop
    assert [p.pid for p in spawned if running(p.pid)] == []


def test_stop_during_a_pending_restart_leaves_nothing_running(tmp_path, spawned):
    a = http_service(tmp_path, "pending")
    slow = Policy(check_every_s=0.2, health_timeout_s=0.5, unhealthy_after=3, backoff_first_s=3, backoff_max_s=3,
                  start_timeout_s=20, stop_grace_s=2)
    supervisor = Supervisor([a], slow)
    with Running(supervisor) as run:
        old = run.pid(a)
        os.kill(old, signal.SIGKILL)
        assert wait_for(lambda: not running(old), 3)
        time.sleep(0.5)  # the death is noticed, the restart is scheduled in 3 s
    assert not run.thread.is_alive()
    time.sleep(3.5)
    assert [p.pid for p in spawned if running(p.pid)] == []


def test_a_crashing_service_is_restarted_with_backoff(tmp_path, spawned):
    crasher = python_service(tmp_path, "crasher", "print('up and crashing', flush=True)")
    supervisor = Supervisor([crasher], FAST)
    supervisor.watched[0].start()  # start() would refuse it: it never answers its health check
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    try:
        time.sleep(3.2)
    finally:
        supervisor.request_stop()
        thread.join(10)
    restarts = supervisor.watched[0].restarts
    # checks every 0.2 s: without backoff about 8 restarts; with 0.2, 0.4, 0.8, 1, 1 s waits about 3
    assert 2 <= restarts <= 5, restarts
    assert crasher.log.read_text().count("up and crashing") == restarts + 1


def test_a_service_that_never_becomes_healthy_fails_the_start(tmp_path, spawned):
    good = http_service(tmp_path, "good")
    mute = python_service(tmp_path, "mute", "import time; print('listening soon', flush=True); time.sleep(120)")
    policy = Policy(check_every_s=0.2, health_timeout_s=0.5, unhealthy_after=3, backoff_first_s=0.2,
                    backoff_max_s=1, start_timeout_s=2, stop_grace_s=2)
    supervisor = Supervisor([good, mute], policy)
    started = time.monotonic()
    with pytest.raises(RuntimeError) as info:
        supervisor.start()
    assert time.monotonic() - started < 10
    assert mute.name in str(info.value)
    assert [p.name for p in spawned] == [good.name, mute.name]
    assert [p.name for p in spawned if running(p.pid)] == []


def test_a_service_that_exits_at_start_fails_the_start_quickly(tmp_path, spawned):
    broken = python_service(tmp_path, "broken", "import sys; print('missing model', flush=True); sys.exit(2)")
    later = http_service(tmp_path, "later")
    supervisor = Supervisor([broken, later], FAST)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=broken.name):
        supervisor.start()
    assert time.monotonic() - started < 5
    assert [p.name for p in spawned] == [broken.name]  # the next one is not started
    assert [p.name for p in spawned if running(p.pid)] == []
