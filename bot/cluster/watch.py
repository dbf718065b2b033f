"""The supervisor of :mod:`bot.supervise`, for a cluster: tiers started together, and servers that are not HTTP.

:class:`bot.supervise.Supervisor` starts services one by one and checks them over HTTP. A
cluster also runs PostgreSQL and Redis (checked by their own protocols: :func:`healthy`) and
several Rasa servers that can start at the same time (a tier: all started, then all waited
for). PostgreSQL is stopped with SIGINT (its fast shutdown) before the usual SIGTERM/SIGKILL.
Everything else (restart on exit or hang, backoff, logs, stop by PID) is the supervisor's own.
"""
from __future__ import annotations

import logging
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Sequence

from bot import launch
from bot.cluster.datastores import answers
from bot.supervise import Policy, Supervisor, Watched

logger = logging.getLogger("bot.supervise")
STOP_FIRST: Dict[str, int] = {"postgres": signal.SIGINT}  # fast shutdown: open connections are cut


def healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether a service answers: HTTP(S) 2xx, or Redis / PostgreSQL answering their protocol."""
    if url.startswith(("redis://", "postgres://")):
        return answers(url, timeout)
    return launch.http_ok(url, timeout)


class ClusterProcess(launch.Process):
    """A process whose health URL may be a Redis or PostgreSQL one."""

    def wait_healthy(self, seconds: float = 240.0) -> float:
        """Waits until the service answers; returns seconds since the start of the process."""
        launch.wait_until(lambda: healthy(self.service.health_url), self.alive, seconds, self.name, self.tail)
        return time.perf_counter() - self.started_at

    def stop(self, grace_s: float = 10.0) -> int | None:
        """Its gentler stop signal first (PostgreSQL: SIGINT), then the usual SIGTERM and SIGKILL."""
        sig = STOP_FIRST.get(self.name)
        if sig is not None and self.proc is not None and self.alive():
            self.signal(sig)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                pass
        return super().stop(grace_s)


class ClusterWatched(Watched):
    """:class:`bot.supervise.Watched` with :class:`ClusterProcess` and :func:`healthy`."""

    process_class = ClusterProcess

    def healthy(self) -> bool:
        """Whether the service answers (HTTP, Redis or PostgreSQL)."""
        return healthy(self.service.health_url, timeout=self.policy.health_timeout_s)


class ClusterSupervisor(Supervisor):
    """Starts tiers of services (each tier all at once, healthy before the next) and keeps them up."""

    def __init__(self, tiers: Sequence[Sequence[launch.Service]], policy: Policy | None = None) -> None:
        super().__init__([s for tier in tiers for s in tier], policy)
        self.watched = [ClusterWatched(s, self.policy) for tier in tiers for s in tier]
        self.tiers: List[List[ClusterWatched]] = []
        i = 0
        for tier in tiers:
            self.tiers.append(self.watched[i:i + len(tier)])  # type: ignore[arg-type]
            i += len(tier)

    def start(self) -> None:
        """Starts every tier; raises RuntimeError (everything stopped) if a service does not come up."""
        for tier in self.tiers:
            for w in tier:
                w.start()
            for w in tier:
                assert w.process is not None
                try:
                    w.process.wait_healthy(self.policy.start_timeout_s)
                except RuntimeError as e:
                    self.stop()
                    raise RuntimeError(f"{w.service.name} did not come up (log {w.service.log}): {e}") from None

    def run(self) -> None:
        """Watches until :meth:`request_stop`, then stops everything (the supervisor's loop, with our checks)."""
        pool = ThreadPoolExecutor(len(self.watched), thread_name_prefix="supervise")
        try:
            while not self.stopping.wait(self.policy.check_every_s):
                now = time.monotonic()
                list(pool.map(ClusterWatched.check, self.watched, [now] * len(self.watched)))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.stop()

    def named(self, name: str) -> ClusterWatched:
        """The watched service called ``name``."""
        for w in self.watched:
            if w.service.name == name:
                return w  # type: ignore[return-value]
        raise KeyError(name)
