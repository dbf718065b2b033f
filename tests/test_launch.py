"""The launcher: command lines and environment of the servers, and managing processes by PID."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from bot import launch
from bot.launch import Process, Service, poll
from bot.settings import environment, load


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def wait_for(check, seconds: float, interval: float = 0.05) -> bool:
    return poll(check, seconds, interval)


def python_service(tmp_path: Path, name: str, code: str, port: int | None = None) -> Service:
    port = port or launch.free_port()
    return Service(name, [sys.executable, "-c", code], dict(os.environ, PYTHONUNBUFFERED="1"),
                   f"http://127.0.0.1:{port}/", tmp_path / f"{name}.log", cwd=tmp_path)


def http_service(tmp_path: Path, name: str = "http") -> Service:
    port = launch.free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    return Service(name, argv, dict(os.environ, PYTHONUNBUFFERED="1"), f"http://127.0.0.1:{port}/",
                   tmp_path / f"{name}.log", cwd=tmp_path)


@pytest.fixture
def reaper() -> Iterator[List[Process]]:
    """Processes a test starts; whatever is still running at the end is killed by its PID."""
    started: List[Process] = []
    try:
        yield started
    finally:
        for p in started:
            p.kill()


# ---------------------------------------------------------------------------------------------
# Command lines and environment.


def settings_for(tmp_path: Path, **env: str):
    return load({"LOG_DIR": str(tmp_path / "logs"), "VAR_DIR": str(tmp_path / "var"), **env})


def after(argv: List[str], flag: str) -> List[str]:
    """The values that follow ``flag`` up to the next ``--option``."""
    assert flag in argv, argv
    values = []
    for item in argv[argv.index(flag) + 1:]:
        if item.startswith("--"):
            break
        values.append(item)
    return values


def test_rasa_server_has_no_http_api_and_binds_the_interface(tmp_path):
    s = settings_for(tmp_path, INTERFACE="0.0.0.0", PORT="6100")
    service = launch.rasa_server(s)
    argv = service.argv
    assert argv[1] == "run" and Path(argv[0]).name == "rasa"
    assert "--enable-api" not in argv and not any(a.startswith("--enable-api") for a in argv)
    assert after(argv, "--interface") == ["0.0.0.0"]
    assert after(argv, "--port") == ["6100"]
    assert after(argv, "--model") == [str(s.model)]
    assert after(argv, "--cors") == ["http://localhost:8080", "http://127.0.0.1:8080"]
    assert service.health_url == "http://127.0.0.1:6100/webhooks/rest/"  # 0.0.0.0 is checked on loopback
    assert service.log == tmp_path / "logs" / "rasa.log"
    assert service.name == "rasa"


def test_rasa_server_cors_uses_the_configured_origins_and_given_model(tmp_path):
    s = settings_for(tmp_path, CORS_ORIGINS="https://a.example https://b.example", INTERFACE="127.0.0.2")
    model = tmp_path / "m.tar.gz"
    argv = launch.rasa_server(s, model=model, endpoints=None).argv
    assert after(argv, "--cors") == ["https://a.example", "https://b.example"]
    assert after(argv, "--model") == [str(model)]
    assert after(argv, "--interface") == ["127.0.0.2"]
    assert "--endpoints" not in argv
    assert after(launch.rasa_server(s).argv, "--endpoints") == [str(launch.ENDPOINTS)]


def test_action_server_runs_our_module_on_its_interface(tmp_path):
    s = settings_for(tmp_path, ACTIONS_PORT="6200", ACTIONS_INTERFACE="127.0.0.3")
    service = launch.action_server(s)
    assert service.argv == [sys.executable, "-m", "bot.action_server"]
    assert service.health_url == "http://127.0.0.3:6200/health"
    assert service.log == tmp_path / "logs" / "actions.log"


def test_web_app_health_url(tmp_path):
    service = launch.web_app(settings_for(tmp_path, WEB_PORT="6300"))
    assert service.argv[1:] == ["-m", "bot.web.app"]
    assert service.health_url == "http://127.0.0.1:6300/health"


def test_process_env_carries_the_settings_and_the_body_limit(tmp_path):
    s = settings_for(tmp_path, MAX_BODY_BYTES="12345", PORT="6400", ALERT_WEBHOOK_URL="https://h.example/x")
    env = launch.process_env(s, EXTRA="1")
    assert env["SANIC_REQUEST_MAX_SIZE"] == "12345"
    for name, value in environment(s).items():
        assert env[name] == value, name
    assert env["PORT"] == "6400" and env["ALERT_WEBHOOK_URL"] == "https://h.example/x"
    assert env["EXTRA"] == "1"
    assert env["RASA_TELEMETRY_ENABLED"] == "false"
    assert load(env) == s  # a child process reads back the same settings


def test_services_carry_the_process_env(tmp_path):
    s = settings_for(tmp_path, MAX_BODY_BYTES="777")
    for service in launch.assistant(s):
        assert service.env["SANIC_REQUEST_MAX_SIZE"] == "777", service.name
        assert load(service.env) == s


def test_assistant_starts_the_model_server_then_actions_then_rasa_then_web_then_staff(tmp_path):
    services = launch.assistant(settings_for(tmp_path, STAFF_PORT="8999"))
    assert [s.name for s in services] == ["model-server", "actions", "rasa", "web", "staff"]
    staff = services[-1]
    assert staff.health_url == "http://127.0.0.1:8999/health"  # loopback by default: never the public side
    assert staff.argv[-2:] == ["-m", "bot.staff"]


def test_model_server_is_on_loopback_whatever_the_interface(tmp_path):
    s = settings_for(tmp_path, INTERFACE="0.0.0.0", MODEL_SERVER_PORT="6500")
    service = launch.model_server(s)
    assert service.argv == [sys.executable, "-m", "bot.model_server"]
    assert service.health_url == "http://127.0.0.1:6500/health"
    assert service.log == tmp_path / "logs" / "model-server.log"


def test_rasa_and_the_model_server_share_a_token_from_var_dir_never_on_the_command_line(tmp_path):
    s = settings_for(tmp_path, MODEL_PULL_INTERVAL_S="2.5")
    rasa, server = launch.rasa_server(s), launch.model_server(s)
    token = (tmp_path / "var" / "model_server_token").read_text().strip()
    assert len(token) >= 32
    assert rasa.env["MODEL_SERVER_TOKEN"] == server.env["MODEL_SERVER_TOKEN"] == token
    assert not any(token in a for a in rasa.argv + server.argv)
    assert (tmp_path / "var" / "model_server_token").stat().st_mode & 0o077 == 0  # 0600
    assert launch.rasa_server(s).env["MODEL_SERVER_TOKEN"] == token  # generated once, then read back
    assert rasa.env["MODEL_PULL_SECONDS"] == "3"  # Rasa needs whole seconds: rounded up
    assert load(rasa.env) == s  # the derived values leave the settings as they are
    other = settings_for(tmp_path / "other")
    assert launch.rasa_server(other).env["MODEL_SERVER_TOKEN"] != token  # one per VAR_DIR


def test_endpoints_pull_the_model_from_the_model_server_with_expanded_values(tmp_path, monkeypatch):
    from rasa.core.utils import AvailableEndpoints

    s = settings_for(tmp_path, MODEL_SERVER_PORT="6600")
    env = launch.rasa_server(s).env
    for name in ("MODEL_SERVER_PORT", "MODEL_SERVER_TOKEN", "MODEL_PULL_SECONDS", "ACTIONS_PORT"):
        monkeypatch.setenv(name, env[name])
    endpoints = AvailableEndpoints.read_endpoints(str(launch.ENDPOINTS))
    assert endpoints.model is not None
    assert endpoints.model.url == "http://127.0.0.1:6600/model"
    assert endpoints.model.token == env["MODEL_SERVER_TOKEN"]
    assert int(endpoints.model.kwargs["wait_time_between_pulls"]) == 10
    assert launch.pulls_model(launch.ENDPOINTS)
    assert not launch.pulls_model(None)
    plain = tmp_path / "plain.yml"
    plain.write_text("action_endpoint:\n  url: http://127.0.0.1:${ACTIONS_PORT}/webhook\n")
    assert not launch.pulls_model(plain)


def test_free_ports_are_different_and_bindable():
    import socket
    ports = launch.free_ports(6)
    assert len(set(ports)) == 6
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_free_port_is_bindable():
    import socket
    port = launch.free_port()
    assert 0 < port < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


# ---------------------------------------------------------------------------------------------
# Processes.


def test_a_real_server_starts_answers_and_stops(tmp_path, reaper):
    p = Process(http_service(tmp_path))
    reaper.append(p)
    assert not p.alive()
    p.start()
    pid = p.pid
    took = p.wait_healthy(15)
    assert 0 < took < 15
    assert p.alive() and running(pid)
    assert launch.http_ok(p.service.health_url)
    started = time.monotonic()
    code = p.stop(grace_s=5)
    assert time.monotonic() - started < 5
    assert code == -signal.SIGTERM
    assert not p.alive() and not running(pid)
    assert not launch.http_ok(p.service.health_url, timeout=1)
    assert p.log.read_text()  # its output was written to the service's log


def test_the_log_is_appended_not_truncated(tmp_path, reaper):
    service = python_service(tmp_path, "echo", "print('second run')")
    service.log.write_text("first run\n")
    p = Process(service)
    reaper.append(p)
    p.start()
    p.proc.wait(10)
    assert service.log.read_text() == "first run\nsecond run\n"


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path, reaper):
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(120)")
    p = Process(python_service(tmp_path, "stubborn", code))
    reaper.append(p)
    p.start()
    assert wait_for(lambda: "ready" in p.tail(), 10), p.tail()
    grace = 1.0
    started = time.monotonic()
    rc = p.stop(grace_s=grace)
    assert time.monotonic() - started < grace + 2
    assert rc == -signal.SIGKILL
    assert not running(p.pid)


def test_stop_ends_a_sigstopped_process_gracefully(tmp_path, reaper):
    """A stopped process is woken up so that its SIGTERM handler runs (exit code 7), no SIGKILL needed."""
    code = ("import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(7)); "
            "print('ready', flush=True); time.sleep(120)")
    p = Process(python_service(tmp_path, "frozen", code))
    reaper.append(p)
    p.start()
    assert wait_for(lambda: "ready" in p.tail(), 10), p.tail()
    p.signal(signal.SIGSTOP)
    assert wait_for(lambda: state(p.pid) == "T", 5)
    started = time.monotonic()
    rc = p.stop(grace_s=3)
    assert time.monotonic() - started < 3
    assert rc == 7
    assert not running(p.pid)


def test_stop_ends_a_sigstopped_server(tmp_path, reaper):
    p = Process(http_service(tmp_path, "frozen-http"))
    reaper.append(p)
    p.start()
    p.wait_healthy(15)
    p.signal(signal.SIGSTOP)
    assert wait_for(lambda: state(p.pid) == "T", 5)
    assert not launch.http_ok(p.service.health_url, timeout=0.5)  # hung: accepts but never answers
    started = time.monotonic()
    p.stop(grace_s=2)
    assert time.monotonic() - started < 2 + 2
    assert not running(p.pid)


def test_stop_also_stops_leftover_children(tmp_path, reaper):
    code = ("import subprocess, sys, time; "
            "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
            "print('child', c.pid, flush=True); time.sleep(120)")
    p = Process(python_service(tmp_path, "parent", code))
    reaper.append(p)
    p.start()
    assert wait_for(lambda: "child" in p.tail(), 10), p.tail()
    child = int(p.tail().split("child")[1].split()[0])
    try:
        assert running(child)
        p.stop(grace_s=2)
        assert not running(p.pid)
        assert wait_for(lambda: not running(child), 2), f"child {child} of {p.pid} survived stop()"
    finally:
        if running(child):
            os.kill(child, signal.SIGKILL)


def test_stop_of_a_process_never_started_or_already_gone(tmp_path, reaper):
    p = Process(python_service(tmp_path, "quick", "pass"))
    assert p.stop() is None
    with pytest.raises(RuntimeError):
        _ = p.pid
    reaper.append(p)
    p.start()
    p.proc.wait(10)
    assert p.stop() == 0
    assert p.stop() == 0  # idempotent


def test_wait_healthy_fails_fast_when_the_process_exits(tmp_path, reaper):
    service = python_service(tmp_path, "crasher", "import sys; print('boom: bad config', flush=True); sys.exit(3)")
    p = Process(service)
    reaper.append(p)
    p.start()
    started = time.monotonic()
    with pytest.raises(RuntimeError) as info:
        p.wait_healthy(60)
    assert time.monotonic() - started < 5
    assert "crasher" in str(info.value)
    assert "boom: bad config" in str(info.value)  # the log's tail says why


def test_wait_healthy_times_out_on_a_silent_process(tmp_path, reaper):
    p = Process(python_service(tmp_path, "silent", "import time; time.sleep(120)"))
    reaper.append(p)
    p.start()
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="silent"):
        p.wait_healthy(1)
    assert time.monotonic() - started < 4
    assert p.alive()  # waiting does not kill it
    p.stop(grace_s=2)


def test_start_all_starts_in_order_and_returns_running_processes(tmp_path, reaper):
    services = [http_service(tmp_path, "one"), http_service(tmp_path, "two")]
    processes = launch.start_all(services, seconds=15)
    reaper.extend(processes)
    assert [p.name for p in processes] == ["one", "two"]
    assert all(p.alive() and launch.http_ok(p.service.health_url) for p in processes)
    assert processes[0].started_at < processes[1].started_at
    for p in processes:
        p.stop(grace_s=2)
        assert not running(p.pid)


def test_start_all_stops_the_started_ones_when_a_later_one_fails(tmp_path, reaper, monkeypatch):
    started: List[Process] = []
    original = Process.start

    def spy(self, *args, **kwargs):
        started.append(self)
        reaper.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Process, "start", spy)
    services = [http_service(tmp_path, "first"), http_service(tmp_path, "second"),
                python_service(tmp_path, "broken", "import sys; sys.exit(1)"),
                http_service(tmp_path, "never")]
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="broken"):
        launch.start_all(services, seconds=15)
    assert time.monotonic() - t0 < 15
    assert [p.name for p in started] == ["first", "second", "broken"]  # "never" was not started
    for p in started:
        assert not running(p.pid), p.name
        assert not launch.http_ok(p.service.health_url, timeout=0.5)
