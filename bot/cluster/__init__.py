"""Several Rasa servers behind nginx, sharing PostgreSQL and Redis: ``python -m bot cluster --replicas N``.

What ``make run-cluster`` starts (``deploy/README.md``), all on this machine, under one
supervisor (:mod:`bot.cluster.watch`), each process stopped by its own PID:

* **PostgreSQL** (the conversations, alerts, callbacks, staff: ``DATABASE_URL`` for every
  process) and **Redis** (the lock store), from Debian's packages, with their files, config and
  generated passwords in ``VAR_DIR`` (:mod:`bot.cluster.datastores`). A ``DATABASE_URL`` set to
  a PostgreSQL server is used instead of starting one.
* the **model server** every Rasa server pulls its model from, as with ``make run``;
* **N action servers and N Rasa servers** on free loopback ports, Rasa ``i`` using action server
  ``i``; each Rasa server has its own ``VAR_DIR/replicas/rasa-i`` (its spools: they must not be
  shared by two processes) and an endpoints file that adds the atomic Redis lock store
  (:mod:`bot.store.lock_store`) to ``endpoints.yml``. They share the session key, so a widget's
  session is valid on every server.
* the **web app** (the demo page) and the **staff site** (``STAFF_PORT``, never proxied);
* **nginx** on ``INTERFACE:PORT``, the one public origin (:mod:`bot.cluster.nginx`).

Nothing is installed here: missing programs stop the start with the apt-get line to run.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

from bot import launch
from bot.channels.sessions import load_key
from bot.cluster.datastores import ClusterError, Postgres, Redis, program, require_programs
from bot.cluster.nginx import NginxConfig
from bot.cluster.nginx import argv as nginx_argv
from bot.cluster.nginx import write as write_nginx_config
from bot.cluster.watch import ClusterProcess, ClusterSupervisor
from bot.settings import ENDPOINTS, Settings
from bot.supervise import Policy

__all__ = ["Cluster", "ClusterError", "Options", "LOCK_STORE_CLASS", "cluster_endpoints"]

LOCK_STORE_CLASS = "bot.store.lock_store.AtomicRedisLockStore"
LOCK_URL_ENV = "LOCK_STORE_URL"  # the lock store's URL (with Redis's password): environment only


@dataclass(frozen=True)
class Options:
    """How the cluster is shaped: the number of Rasa servers, and nginx's per-client rate limit if it is
    not the settings' (RATE_LIMIT_PER_S, RATE_LIMIT_BURST: tests and the benchmark lift it)."""

    replicas: int = 2
    rate_per_s: float | None = None  # requests per second per client address, on average
    burst: int | None = None  # requests a client may send at once above the rate before a 429

    def __post_init__(self) -> None:
        if not 1 <= self.replicas <= 16:
            raise ClusterError(f"replicas must be 1 to 16, not {self.replicas}")
        if (self.rate_per_s is not None and self.rate_per_s <= 0) or (self.burst is not None and self.burst < 0):
            raise ClusterError("the rate must be above 0 and the burst 0 or more")


def cluster_endpoints(source: Path, target: Path) -> Path:
    """Writes ``source`` (endpoints.yml) plus the atomic Redis lock store to ``target``; returns it.

    The text is copied as it is (its ``${...}`` are expanded by Rasa from each server's
    environment), so the lock store's URL is ``${LOCK_STORE_URL}`` there too.
    """
    text = source.read_text(encoding="utf-8")
    data = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader: no tags, ${...} kept as text
    if isinstance(data, dict) and "lock_store" in data:
        raise ClusterError(f"{source} already has a lock_store: remove it, the cluster adds its own")
    text = text.rstrip("\n") + f"""

# Added by bot/cluster for several servers: one conversation's messages are processed one at a
# time and in order across servers (bot/store/lock_store.py); the URL comes from the environment.
lock_store:
  type: {LOCK_STORE_CLASS}
  url: ${{{LOCK_URL_ENV}}}
"""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def public_origins(settings: Settings) -> Tuple[str, ...]:
    """The browser origins of the public side (nginx on PORT), plus any the operator allowed."""
    hosts = ["localhost", "127.0.0.1"]
    if settings.interface not in ("127.0.0.1", "0.0.0.0", "::", "", "localhost"):
        hosts.append(settings.interface)
    return tuple(dict.fromkeys([*settings.cors_origins, *(f"http://{h}:{settings.port}" for h in hosts)]))


class _Ports:
    """Free loopback ports, none of them one the settings already use."""

    def __init__(self, settings: Settings) -> None:
        self.used = {settings.port, settings.web_port, settings.staff_port, settings.model_server_port,
                     settings.actions_port}

    def take(self) -> int:
        while True:
            port = launch.free_port()
            if port not in self.used:
                self.used.add(port)
                return port


@dataclass(frozen=True)
class Replica:
    """One Rasa server and its action server."""

    name: str
    settings: Settings

    @property
    def url(self) -> str:
        """Its own REST webhook (not through nginx)."""
        return f"http://127.0.0.1:{self.settings.port}/webhooks/rest/webhook"


class Cluster:
    """Plans, starts, supervises and stops the processes of a cluster."""

    def __init__(self, settings: Settings, options: Options | None = None, policy: Policy | None = None) -> None:
        """Decides every port and path; nothing is started yet (only the shared session key is made if missing)."""
        self.settings, self.options = settings, options or Options()
        self.policy = policy or Policy(start_timeout_s=settings.start_timeout_s)
        ports = _Ports(settings)
        external = settings.database_url
        if external and not external.startswith("postgresql"):
            raise ClusterError("DATABASE_URL must be a PostgreSQL URL for a cluster (or empty: the cluster "
                               "starts its own PostgreSQL in VAR_DIR)")
        self.postgres = None if external else Postgres(settings.var_dir / "postgres", ports.take())
        self.redis = Redis(settings.var_dir / "redis", ports.take())
        self.database_url = external or (self.postgres.url if self.postgres else "")
        self.replicas = [self._replica(i + 1, ports) for i in range(self.options.replicas)]
        self.nginx = NginxConfig(settings.interface, settings.port, [r.settings.port for r in self.replicas],
                                 settings.web_port, settings.max_body_bytes,
                                 settings.rate_limit_per_s if self.options.rate_per_s is None
                                 else self.options.rate_per_s,
                                 settings.rate_limit_burst if self.options.burst is None else self.options.burst,
                                 settings.var_dir / "nginx", settings.log_dir)
        self.supervisor: ClusterSupervisor | None = None

    def _replica(self, number: int, ports: _Ports) -> Replica:
        s = self.settings
        secret = s.session_secret or load_key("", s.var_dir).decode()
        return Replica(f"rasa-{number}", dataclasses.replace(
            s, interface="127.0.0.1", port=ports.take(), actions_interface="127.0.0.1", actions_port=ports.take(),
            var_dir=s.var_dir / "replicas" / f"rasa-{number}", database_url=self.database_url,
            session_secret=secret, cors_origins=public_origins(s)))

    # -- the services -------------------------------------------------------------------------

    def shared(self) -> Settings:
        """The settings of the shared processes (model server, web app, staff site): the cluster's database."""
        return dataclasses.replace(self.settings, database_url=self.database_url)

    def tiers(self) -> List[List[launch.Service]]:
        """Every service, in tiers started one after the other (a tier's services start together)."""
        shared = self.shared()
        env = launch.process_env(shared)
        # the stores get a bare environment: none of the others' secrets (DATABASE_URL, tokens) reach their users
        bare = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        first: List[launch.Service] = []
        if self.postgres is not None:
            first.append(self.postgres.service(shared.log_dir, bare))
        first.append(self.redis.service(shared.log_dir, bare))
        model_server = getattr(launch, "model_server", None)
        if model_server is not None:
            first.append(model_server(shared))
        web = launch.web_app(dataclasses.replace(shared, interface="127.0.0.1"))
        second = [launch.action_server(r.settings, name=f"actions-{r.name.split('-')[1]}") for r in self.replicas]
        endpoints = cluster_endpoints(ENDPOINTS, self.settings.var_dir / "cluster" / "endpoints.yml")
        rasa = [self._rasa(r, endpoints) for r in self.replicas]
        staff = launch.staff_site(shared)
        conf = write_nginx_config(self.nginx)
        front = launch.Service("nginx", nginx_argv(program("nginx") or "nginx", conf, self.nginx), env,
                               self.nginx.health_url, shared.log_dir / "nginx.log")
        return [first, [*second, web, staff], rasa, [front]]

    def _rasa(self, replica: Replica, endpoints: Path) -> launch.Service:
        service = launch.rasa_server(replica.settings, endpoints=endpoints, name=replica.name)
        env = {**service.env, LOCK_URL_ENV: self.redis.url}
        try:
            from bot.model_server import TOKEN_ENV, load_token

            env[TOKEN_ENV] = load_token(self.settings.var_dir)  # the model server's, not the replica folder's
        except ImportError:
            pass
        return dataclasses.replace(service, env=env)

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        """Checks the programs, prepares PostgreSQL (first time), starts every tier; raises ClusterError."""
        require_programs()
        self.settings.var_dir.mkdir(parents=True, exist_ok=True)
        if self.postgres is not None:
            self.postgres.prepare()
        self.supervisor = ClusterSupervisor(self.tiers(), self.policy)
        try:
            self.supervisor.start()
        except RuntimeError as e:
            raise ClusterError(str(e)) from None

    def run(self) -> None:
        """Keeps every process up (restarts those that die or hang) until the supervisor is asked to stop."""
        if self.supervisor is None:
            raise ClusterError("start() first")
        self.supervisor.run()

    def stop(self) -> None:
        """Stops every process, nginx first, PostgreSQL last, each by its PID."""
        if self.supervisor is not None:
            self.supervisor.stop()

    def process(self, name: str) -> ClusterProcess:
        """The running process of service ``name`` (postgres, redis, rasa-1, actions-1, nginx...)."""
        if self.supervisor is None:
            raise ClusterError("start() first")
        process = self.supervisor.named(name).process
        if not isinstance(process, ClusterProcess):
            raise ClusterError(f"{name} was not started")
        return process

    def restart(self, name: str) -> None:
        """Starts service ``name`` again (after a test stopped it) and waits until it answers."""
        if self.supervisor is None:
            raise ClusterError("start() first")
        watched = self.supervisor.named(name)
        if watched.process is not None and watched.process.alive():
            watched.process.stop(self.policy.stop_grace_s)
        watched.start()
        assert watched.process is not None
        watched.process.wait_healthy(self.policy.start_timeout_s)

    def set_rate_limit(self, rate_per_s: float, burst: int) -> None:
        """Changes nginx's per-client rate limit without downtime (new config, SIGHUP to nginx's PID)."""
        self.options = dataclasses.replace(self.options, rate_per_s=rate_per_s, burst=burst)
        self.nginx = dataclasses.replace(self.nginx, rate_per_s=rate_per_s, burst=burst)
        write_nginx_config(self.nginx)
        front = self.process("nginx")
        old_workers = set(launch.children(front.pid))
        front.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while old_workers & set(launch.children(front.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)  # the old workers finish their requests and go; the new ones have the new limit

    @property
    def public_url(self) -> str:
        """The public origin (nginx)."""
        host = "127.0.0.1" if self.settings.interface in ("0.0.0.0", "::", "") else self.settings.interface
        return f"http://{host}:{self.settings.port}"

    def urls(self) -> Dict[str, str]:
        """What to show an operator: the public URLs, the staff site, each server, the stores (no passwords)."""
        from sqlalchemy.engine import make_url

        s = self.settings
        shown = "localhost" if s.interface in ("127.0.0.1", "0.0.0.0") else s.interface
        out = {"web page": f"http://{shown}:{s.port}/",
               "REST webhook": f"http://{shown}:{s.port}/webhooks/rest/webhook",
               "socket.io": f"http://{shown}:{s.port}/socket.io/",
               "staff site": f"http://{s.staff_interface}:{s.staff_port}/   (staff only, never proxied)"}
        for r in self.replicas:
            out[r.name] = f"http://127.0.0.1:{r.settings.port}/   (action server :{r.settings.actions_port})"
        out["conversations"] = make_url(self.database_url).render_as_string(hide_password=True)
        out["lock store"] = f"redis://127.0.0.1:{self.redis.port}/0"
        return out
