"""Real services for tests: a throwaway Redis, nginx, and the folders they (and PostgreSQL) can reach.

Like :mod:`tests.databases` for PostgreSQL: Debian's programs, on free loopback ports, in
temporary folders, each stopped by its own PID at the end. Redis is started exactly as the
cluster starts it (:class:`bot.cluster.datastores.Redis`: same config, password, user).
Under ``CI=true`` a missing program fails the tests instead of skipping them.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from bot import launch
from bot.cluster import datastores


def require(*programs: str) -> None:
    """Skips (fails under CI) when one of ``programs`` (nginx, redis-server, postgres) is missing."""
    missing = [p for p in programs if (datastores.pg_bin(p) if p == "postgres" else datastores.program(p)) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (apt-get install -y {datastores.APT_PACKAGES})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def reachable_tmpdir(prefix: str) -> Path:
    """A temporary folder that the services' system users (postgres, redis, www-data) can reach.

    pytest's own ``tmp_path`` lives under a 0700 folder of root's, which they cannot enter.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    return path


class RedisServer:
    """A throwaway redis-server on a free loopback port (the cluster's own configuration)."""

    def __init__(self) -> None:
        self.dir = reachable_tmpdir("redis-test-")
        self.redis = datastores.Redis(self.dir / "redis", launch.free_port())
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        """The redis:// URL with the password."""
        return self.redis.url

    @property
    def port(self) -> int:
        """Its port."""
        return self.redis.port

    def start(self, seconds: float = 15.0) -> None:
        """Starts (or restarts) the server and waits until it answers PING."""
        log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(self.redis.argv(), stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + seconds
        while not datastores.answers(f"redis://127.0.0.1:{self.port}", timeout=0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {(self.dir / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stops the server (SIGTERM to its PID, SIGKILL after 5 s)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def pause(self) -> None:
        """Freezes the server (SIGSTOP): connections open, nothing answered, as in a hang."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Undoes :meth:`pause`."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def destroy(self) -> None:
        """Stops the server and removes its files."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class NginxServer:
    """nginx in the foreground with a given configuration file, stopped by its master's PID."""

    def __init__(self, conf: Path, prefix: Path, health_url: str) -> None:
        argv = [datastores.program("nginx") or "nginx", "-p", str(prefix), "-c", str(conf),
                "-e", str(prefix / "error.log")]
        self.prefix = prefix
        self.process = launch.Process(launch.Service("nginx", argv, dict(os.environ), health_url,
                                                     prefix / "nginx.log"))

    def start(self, seconds: float = 15.0) -> "NginxServer":
        """Starts nginx and waits for its health URL."""
        self.process.start()
        try:
            self.process.wait_healthy(seconds)
        except RuntimeError as e:
            error_log = (self.prefix / "error.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{e}\n{error_log}") from None
        return self

    def reload(self, seconds: float = 10.0) -> None:
        """Re-reads the configuration (SIGHUP to the master) and waits until the old workers are gone."""
        old = set(launch.children(self.process.pid))
        self.process.signal(signal.SIGHUP)
        deadline = time.monotonic() + seconds
        while old & set(launch.children(self.process.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        """Stops nginx: SIGTERM to the master, SIGKILL to it and its workers after 5 s."""
        self.process.stop(5.0)

    def destroy(self) -> None:
        """Stops nginx and removes its folder (configuration, logs)."""
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)
