"""Real databases for tests: a SQLite file, and a throwaway PostgreSQL cluster.

The cluster is made with Debian's ``initdb`` in a temporary folder, listens on a free loopback
port, and is stopped (by ``pg_ctl``, which signals its postmaster by PID) at the end. As root
(CI), the server runs as the ``postgres`` user, since PostgreSQL refuses to run as root.
Under ``CI=true`` a missing PostgreSQL fails the tests instead of skipping them.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List

import pytest

from bot import launch


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def postgres_available() -> bool:
    """True if Debian's PostgreSQL server programs are installed."""
    return _pg_bin("initdb") is not None and _pg_bin("pg_ctl") is not None


def require_postgres() -> None:
    """Skips (fails under CI) when PostgreSQL is not installed."""
    if postgres_available():
        return
    message = "PostgreSQL is not installed (make install-postgres, or apt-get install postgresql)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


class PostgresServer:
    """A throwaway PostgreSQL cluster on a free loopback port."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pg-test-"))
        self.data = self.dir / "data"
        self.port = launch.free_port()
        self._as_user: List[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", "postgres", "--"]
            os.chmod(self.dir, 0o755)
            uid, gid = pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid
            os.chown(self.dir, uid, gid)
        self._run([_pg_bin("initdb") or "initdb", "-D", str(self.data), "-U", "test", "--auth=trust",
                   "-E", "UTF8", "--no-sync"])
        self.start()
        self._run([_pg_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "test",
                   "assistant"])

    @property
    def url(self) -> str:
        """SQLAlchemy URL of its database."""
        return f"postgresql://test@127.0.0.1:{self.port}/assistant"

    def _run(self, argv: List[str]) -> None:
        done = subprocess.run(self._as_user + argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")

    def start(self) -> None:
        """Starts (or restarts) the server and waits until it accepts connections."""
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run([_pg_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-o", options,
                   "-l", str(self.dir / "server.log"), "-w", "-t", "60", "start"])

    def stop(self) -> None:
        """Stops the server (fast shutdown: open connections are cut, as in an outage)."""
        self._run([_pg_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def destroy(self) -> None:
        """Stops the server if it runs and removes its files."""
        try:
            self.stop()
        except RuntimeError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
