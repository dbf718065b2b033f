"""Keeps the assistant answering: starts its processes and restarts any that dies or hangs.

``python -m bot run`` (what ``make run`` calls):
- starts the services of :func:`bot.launch.assistant` in order, each healthy before the
  next, and fails with a clear message (and the log's tail) if one does not come up in time;
- watches them: a process that exits, or stops answering its health check (a hung or
  SIGSTOPped server) is restarted with exponential backoff and a loud ERROR line, while the
  others stay up;
- appends each process's output to its log file, rotated (``bot.logs``), never truncated;
- on Ctrl-C or SIGTERM stops everything: SIGTERM, then SIGKILL after a few seconds.
"""
from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import FrameType
from typing import IO, Callable, Dict, List

from bot.launch import Process, Service, http_ok
from bot.logs import rotating_file

logger = logging.getLogger("bot.supervise")


@dataclass
class Policy:
    """How patient the supervisor is."""

    start_timeout_s: float = 240.0
    check_every_s: float = 2.0
    health_timeout_s: float = 3.0
    unhealthy_after: int = 10  # consecutive failed checks (a busy server may answer slowly)
    backoff_first_s: float = 1.0
    backoff_max_s: float = 60.0
    stable_after_s: float = 120.0  # up this long: the next failure starts the backoff afresh
    stop_grace_s: float = 5.0


def _pump(pipe: IO[bytes], write: Callable[[str], None]) -> None:
    """Copies a child's output, line by line, into its rotating log."""
    for raw in iter(pipe.readline, b""):
        write(raw.decode("utf-8", errors="replace").rstrip("\n"))
    pipe.close()


class Watched:
    """One supervised service: its current process, failures and backoff.

    Subclasses change how the process is run (:attr:`process_class`) and checked (:meth:`healthy`).
    """

    process_class: type[Process] = Process

    def __init__(self, service: Service, policy: Policy) -> None:
        self.service, self.policy = service, policy
        self.process: Process | None = None
        self.log = rotating_file(service.log, service.name)
        self.failed_checks = 0
        self.backoff_s = policy.backoff_first_s
        self.restart_at: float | None = None
        self.restarts = 0

    def start(self) -> None:
        """Starts (or restarts) the process, its output piped into the rotating log."""
        process = self.process_class(self.service).start(stdout=subprocess.PIPE)
        assert process.proc is not None and process.proc.stdout is not None
        threading.Thread(target=_pump, args=(process.proc.stdout, self.log.info), daemon=True).start()
        self.process = process
        self.failed_checks = 0
        self.restart_at = None

    def check(self, now: float) -> None:
        """One round: restart when due, or detect death or a hang and schedule a restart."""
        p = self.process
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restarts += 1
                logger.warning("supervise: restarting %s (restart %d)", self.service.name, self.restarts)
                self.start()
            return
        if p is None:
            return
        if not p.alive():
            code = p.proc.returncode if p.proc is not None else None
            self._schedule(now, f"exited with code {code}")
            return
        if self.healthy():
            self.failed_checks = 0
            if time.perf_counter() - p.started_at > self.policy.stable_after_s:
                self.backoff_s = self.policy.backoff_first_s
            return
        self.failed_checks += 1
        if self.failed_checks >= self.policy.unhealthy_after:
            p.stop(self.policy.stop_grace_s)
            self._schedule(now, f"did not answer {self.failed_checks} health checks in a row (hung?)")

    def healthy(self) -> bool:
        """Whether the service answers its health check now."""
        return http_ok(self.service.health_url, timeout=self.policy.health_timeout_s)

    def _schedule(self, now: float, why: str) -> None:
        pid = self.process.pid if self.process and self.process.proc else "?"
        logger.error("supervise: %s (PID %s) %s; restarting in %.0f s; see %s",
                     self.service.name, pid, why, self.backoff_s, self.service.log)
        self.restart_at = now + self.backoff_s
        self.backoff_s = min(self.backoff_s * 2, self.policy.backoff_max_s)

    def stop(self) -> None:
        """Stops the process (SIGTERM, then SIGKILL)."""
        if self.process is not None:
            self.process.stop(self.policy.stop_grace_s)


class Supervisor:
    """Runs a list of services until told to stop."""

    def __init__(self, services: List[Service], policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self.watched = [Watched(s, self.policy) for s in services]
        self.stopping = threading.Event()

    def start(self) -> None:
        """Starts every service in order, each healthy before the next; raises RuntimeError if one is not."""
        for w in self.watched:
            w.start()
            assert w.process is not None
            try:
                w.process.wait_healthy(self.policy.start_timeout_s)
            except RuntimeError as e:
                self.stop()
                raise RuntimeError(f"{w.service.name} did not come up (log {w.service.log}): {e}") from None

    def run(self) -> None:
        """Watches until :meth:`request_stop`, then stops everything."""
        pool = ThreadPoolExecutor(len(self.watched), thread_name_prefix="supervise")
        try:
            while not self.stopping.wait(self.policy.check_every_s):
                now = time.monotonic()
                # in parallel: a hung service's slow health check must not delay the others' restart
                list(pool.map(Watched.check, self.watched, [now] * len(self.watched)))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # no restart can race the stop
            self.stop()

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Signal handler: leave the watch loop and stop everything."""
        self.stopping.set()

    def stop(self) -> None:
        """Stops every process, the last started first."""
        for w in reversed(self.watched):
            w.stop()

    def pids(self) -> Dict[str, int]:
        """The current PID of each running service."""
        return {w.service.name: w.process.pid for w in self.watched if w.process and w.process.alive()}


def install_signal_handlers(supervisor: Supervisor) -> None:
    """Ctrl-C and SIGTERM stop everything."""
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
