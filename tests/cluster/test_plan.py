"""The cluster's plan, without starting it: services and their order, endpoints, origins, secrets kept off
command lines, health checks by protocol, and the options' checks."""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from bot import settings as settings_module
from bot.cluster import LOCK_STORE_CLASS, Cluster, ClusterError, Options, cluster_endpoints, public_origins
from bot.cluster.datastores import answers
from bot.cluster.watch import healthy
from bot.launch import free_port
from bot.model_server import TOKEN_ENV, load_token
from bot.settings import ENDPOINTS
from tests.services import RedisServer, reachable_tmpdir, require


def _settings(var, **env: str) -> settings_module.Settings:
    base = {"PORT": str(free_port()), "WEB_PORT": str(free_port()), "STAFF_PORT": str(free_port()),
            "ACTIONS_PORT": str(free_port()), "MODEL_SERVER_PORT": str(free_port()), "VAR_DIR": str(var),
            "LOG_DIR": str(var / "logs")}
    return settings_module.load({**base, **env})


def test_the_endpoints_gain_the_atomic_lock_store_and_keep_the_rest(tmp_path):
    out = cluster_endpoints(ENDPOINTS, tmp_path / "endpoints.yml")
    text = out.read_text()
    assert text.startswith(ENDPOINTS.read_text().rstrip("\n"))
    data = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506
    assert data["lock_store"] == {"type": LOCK_STORE_CLASS, "url": "${LOCK_STORE_URL}"}
    try:
        cluster_endpoints(out, tmp_path / "again.yml")
        raise AssertionError("a second lock_store was added")
    except ClusterError as e:
        assert "already has a lock_store" in str(e)


def test_the_public_origins_are_nginxs(tmp_path):
    s = _settings(tmp_path, CORS_ORIGINS="https://www.example.org")
    assert public_origins(s) == ("https://www.example.org", f"http://localhost:{s.port}", f"http://127.0.0.1:{s.port}")


def test_the_plan_starts_stores_first_and_nginx_last_with_secrets_only_in_environments():
    require("nginx", "redis-server", "postgres")
    var = reachable_tmpdir("cluster-plan-")
    try:
        _check_plan(var)
    finally:
        shutil.rmtree(var, ignore_errors=True)


def _check_plan(var: Path) -> None:
    cluster = Cluster(_settings(var), Options(replicas=3))
    tiers = cluster.tiers()
    names = [[s.name for s in tier] for tier in tiers]
    assert names[0][:2] == ["postgres", "redis"] and "model-server" in names[0]
    assert sorted(names[1]) == ["actions-1", "actions-2", "actions-3", "staff", "web"]
    assert names[2] == ["rasa-1", "rasa-2", "rasa-3"] and names[3] == ["nginx"]
    services = [s for tier in tiers for s in tier]
    secrets = [cluster.redis.password, cluster.postgres.password if cluster.postgres else "", load_token(var)]
    for service in services:  # never on a command line (ps shows those to every user)
        assert not any(secret in arg for secret in secrets for arg in service.argv), service.name
    for store in services[:2]:
        assert not any(secret in value for secret in secrets for value in store.env.values()), store.name
    rasa = {s.name: s for s in services if s.name.startswith("rasa-")}
    ports = {int(s.env["PORT"]) for s in rasa.values()}
    assert len(ports) == 3 and cluster.settings.port not in ports  # nginx has the public port
    for name, service in rasa.items():
        assert service.env["LOCK_STORE_URL"] == cluster.redis.url
        assert service.env["DATABASE_URL"] == cluster.database_url
        assert service.env[TOKEN_ENV] == load_token(var)  # the model server's token, shared
        assert service.env["VAR_DIR"].endswith(f"replicas/{name}")  # its own spools
        assert service.env["SESSION_SECRET"] == next(iter(rasa.values())).env["SESSION_SECRET"] != ""
        assert service.env["INTERFACE"] == "127.0.0.1"
    conf = (var / "nginx" / "nginx.conf").read_text()
    assert all(f"127.0.0.1:{port} " in conf for port in ports)
    assert f":{cluster.settings.staff_port}" not in conf


def test_a_sqlite_database_url_is_refused(tmp_path):
    try:
        Cluster(_settings(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/x.db"))
        raise AssertionError("a SQLite database was accepted for several servers")
    except ClusterError as e:
        assert "PostgreSQL" in str(e)


def test_options_are_checked():
    for bad in ({"replicas": 0}, {"replicas": 17}, {"rate_per_s": 0}, {"burst": -1}):
        try:
            Options(**bad)  # type: ignore[arg-type]
            raise AssertionError(f"{bad} accepted")
        except ClusterError:
            pass


def test_health_checks_speak_each_servers_protocol(postgres):
    require("redis-server")
    redis = RedisServer()
    try:
        assert answers(f"redis://127.0.0.1:{redis.port}") and healthy(f"redis://127.0.0.1:{redis.port}")
        redis.pause()
        assert not answers(f"redis://127.0.0.1:{redis.port}", timeout=0.5)  # hung: no answer
        redis.resume()
    finally:
        redis.destroy()
    assert answers(f"postgres://127.0.0.1:{postgres.port}")
    dead = free_port()
    assert not healthy(f"redis://127.0.0.1:{dead}") and not healthy(f"postgres://127.0.0.1:{dead}")
    assert not healthy(f"http://127.0.0.1:{dead}/health")


def test_nginx_limits_come_from_the_settings(tmp_path):
    s = _settings(tmp_path, MAX_BODY_BYTES="4096", RATE_LIMIT_PER_S="2", RATE_LIMIT_BURST="0")
    config = Cluster(s).nginx
    assert (config.max_body_bytes, config.rate_per_s, config.burst) == (4096, 2.0, 0)
    assert Cluster(_settings(tmp_path / "b")).nginx.burst == settings_module.Settings().rate_limit_burst == 20
    lifted = Cluster(s, Options(replicas=1, rate_per_s=1000, burst=1000)).nginx
    assert (lifted.rate_per_s, lifted.burst) == (1000, 1000)
