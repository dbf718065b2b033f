"""The cluster's PostgreSQL and Redis: Debian's programs, run in the foreground under the supervisor.

Both keep their files under ``VAR_DIR`` (``postgres/``, ``redis/``), listen on loopback only, on
the port given at start, and require a password generated once (0600) next to their data: the
URLs that carry it reach the other processes through their environment, never a command line.
As root (CI, containers), each runs as its own system user (``postgres``, ``redis``) through
``setpriv``, which execs the server itself, so the PID the supervisor watches and signals is the
server's. PostgreSQL refuses to run as root anyway.
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

from bot.launch import Service

PG_USER = "assistant"
PG_DATABASE = "assistant"
PG_OS_USER = "postgres"
REDIS_OS_USER = "redis"
APT_PACKAGES = "nginx redis-server postgresql"


class ClusterError(RuntimeError):
    """The cluster cannot start; the message says why and what to do."""


def pg_bin(name: str) -> str | None:
    """A PostgreSQL server program (Debian keeps them in /usr/lib/postgresql/<version>/bin)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def program(name: str) -> str | None:
    """A program on PATH or in the sbin folders (nginx is in /usr/sbin, not always on PATH)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")


def missing_programs() -> List[str]:
    """The programs the cluster needs that are not installed."""
    needed: Dict[str, str | None] = {"nginx": program("nginx"), "redis-server": program("redis-server")}
    for name in ("initdb", "pg_ctl", "postgres", "createdb"):
        needed[name] = pg_bin(name)
    return [name for name, path in needed.items() if path is None]


def require_programs() -> None:
    """Raises ClusterError naming what is missing and how to install it."""
    missing = missing_programs()
    if missing:
        raise ClusterError(f"missing programs: {', '.join(missing)}; install Debian's packages "
                           f"(`make run-cluster` does it, or: apt-get install -y {APT_PACKAGES})")


def _secret(path: Path) -> str:
    """A password generated once (0600) at ``path``, then read back."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(24))
    return path.read_text().strip()


def _run_as(user: str) -> List[str]:
    """The prefix that runs a program as ``user`` when we are root (setpriv execs: same PID)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]


def _give_to(path: Path, user: str) -> None:
    """As root: ``path`` (recursively) belongs to ``user``, who must also be able to reach it."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)
    check = subprocess.run(["runuser", "-u", user, "--", "test", "-w", str(path)], capture_output=True)
    if check.returncode != 0:
        raise ClusterError(f"the {user} user cannot reach {path}: make its parent folders traversable "
                           f"(chmod o+x) or set VAR_DIR to a folder it can reach")


def _has_user(user: str) -> bool:
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL cluster in ``home`` (``VAR_DIR/postgres``), served on ``port``."""

    home: Path
    port: int

    @property
    def data(self) -> Path:
        """The data folder (initdb's)."""
        return self.home / "data"

    @property
    def password(self) -> str:
        """The database user's password (generated once, 0600, outside the data folder)."""
        return _secret(self.home.parent / "postgres.password")

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the assistant's database."""
        return f"postgresql://{PG_USER}:{self.password}@127.0.0.1:{self.port}/{PG_DATABASE}"

    def _options(self) -> List[str]:
        # TCP on loopback only; no Unix socket (VAR_DIR paths can exceed the socket path limit).
        return ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-p", str(self.port)]

    def prepare(self) -> None:
        """Makes the cluster and the database on first use (initdb, then createdb on a short start)."""
        self.home.mkdir(parents=True, exist_ok=True)
        password = self.password
        as_pg = _run_as(PG_OS_USER)
        if as_pg and not _has_user(PG_OS_USER):
            raise ClusterError(f"no {PG_OS_USER} user: install Debian's postgresql package")
        if as_pg:
            _give_to(self.home, PG_OS_USER)
        if (self.data / "PG_VERSION").exists():
            return
        pwfile = self.home / ".initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        if as_pg:
            _give_to(pwfile, PG_OS_USER)
        try:
            _check(as_pg + [pg_bin("initdb") or "initdb", "-D", str(self.data), "-U", PG_USER, "-E", "UTF8",
                            "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"])
        finally:
            pwfile.unlink(missing_ok=True)
        log = self.home / "first-start.log"
        _check(as_pg + [pg_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-o", " ".join(self._options()),
                        "-l", str(log), "-w", "-t", "60", "start"])
        try:
            _check([pg_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER,
                    PG_DATABASE], env={**os.environ, "PGPASSWORD": password})
        finally:
            _check(as_pg + [pg_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def service(self, log_dir: Path, env: Dict[str, str]) -> Service:
        """The server in the foreground (``postgres -D``), health-checked by its protocol."""
        argv = _run_as(PG_OS_USER) + [pg_bin("postgres") or "postgres", "-D", str(self.data), *self._options()]
        return Service("postgres", argv, env, f"postgres://127.0.0.1:{self.port}", log_dir / "postgres.log")


@dataclass(frozen=True)
class Redis:
    """A Redis server for the lock store, with its config and files in ``home`` (``VAR_DIR/redis``)."""

    home: Path
    port: int

    @property
    def password(self) -> str:
        """The server's password (generated once, 0600)."""
        return _secret(self.home.parent / "redis.password")

    @property
    def url(self) -> str:
        """redis:// URL of the lock store's database."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def write_config(self) -> Path:
        """Writes ``redis.conf`` (0600: it holds the password): loopback, no persistence (locks are leases)."""
        self.home.mkdir(parents=True, exist_ok=True)
        conf = self.home / "redis.conf"
        lines = [f"port {self.port}", "bind 127.0.0.1", "protected-mode yes", f"requirepass {self.password}",
                 f'dir "{self.home}"', 'save ""', "appendonly no", "daemonize no", 'logfile ""',
                 "maxmemory 64mb", "maxmemory-policy noeviction", "timeout 0", "tcp-keepalive 60"]
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("# Written by bot/cluster/datastores.py at each start; edits are lost.\n" + "\n".join(lines) + "\n")
        if _run_as(REDIS_OS_USER) and _has_user(REDIS_OS_USER):
            _give_to(self.home, REDIS_OS_USER)
        return conf

    def argv(self) -> List[str]:
        """The command line (writes the config first)."""
        conf = self.write_config()
        as_redis = _run_as(REDIS_OS_USER) if _has_user(REDIS_OS_USER) else []
        return as_redis + [program("redis-server") or "redis-server", str(conf)]

    def service(self, log_dir: Path, env: Dict[str, str]) -> Service:
        """The server in the foreground, health-checked with PING."""
        return Service("redis", self.argv(), env, f"redis://127.0.0.1:{self.port}", log_dir / "redis.log")


def _check(argv: List[str], env: Dict[str, str] | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    if done.returncode != 0:
        raise ClusterError(f"{' '.join(argv[:6])} failed: {(done.stdout + done.stderr)[-1500:]}")


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether the server at ``redis://host:port`` or ``postgres://host:port`` answers its protocol.

    Redis: ``PING`` gets a reply (``+PONG``, or ``-NOAUTH``: alive either way). PostgreSQL: an
    SSLRequest gets its one-byte answer. A stopped (SIGSTOP) or hung server does not answer.
    """
    scheme, _, rest = url.partition("://")
    host, _, port = rest.rstrip("/").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.settimeout(timeout)
            if scheme == "redis":
                s.sendall(b"PING\r\n")
                return s.recv(1)[:1] in (b"+", b"-")
            if scheme == "postgres":
                s.sendall(struct.pack("!ii", 8, 80877103))
                return s.recv(1) in (b"N", b"S")
    except (OSError, ValueError):
        return False
    return False
