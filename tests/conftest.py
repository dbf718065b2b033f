"""Shared fixtures: the crisis matcher, the suites, and the real servers for model tests.

Servers are started with the project's launcher (bot/launch.py), on free ports, and
stopped by their PIDs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List

import pytest
import yaml

from bot import launch
from bot import settings as settings_module
from bot.evaluation.replies import post_raw
from bot.settings import CRISIS_SUITE, ROOT

if TYPE_CHECKING:
    from tests.databases import PostgresServer


@pytest.fixture(scope="session")
def matcher():
    """The crisis matcher on the project's spaCy pipeline."""
    from bot.crisis import shared_matcher
    return shared_matcher()


@pytest.fixture(scope="session")
def crisis_suite() -> Dict:
    """tests/crisis/suite.yml: emergencies by kind and look-alike non-emergencies."""
    return yaml.safe_load(CRISIS_SUITE.read_text(encoding="utf-8"))


def server_settings(tmp: Path, **env: str) -> settings_module.Settings:
    """Settings for servers under test: free ports, logs in results/logs, state in ``tmp``."""
    port, actions, web, model_server = launch.free_ports(4)  # four different ones
    base = {"PORT": str(port), "ACTIONS_PORT": str(actions), "WEB_PORT": str(web),
            "MODEL_SERVER_PORT": str(model_server), "LOG_DIR": str(ROOT / "results" / "logs"), "VAR_DIR": str(tmp),
            "ALERT_RETRY_MAX_S": "2"}
    return settings_module.load({**base, **env})


@dataclass
class Assistant:
    """The running assistant: the Rasa server, the action server and the model server Rasa pulls from."""

    settings: settings_module.Settings
    rasa: launch.Process
    actions: launch.Process
    model_server: launch.Process | None = None

    @property
    def port(self) -> int:
        """Rasa's port."""
        return self.settings.port

    @property
    def url(self) -> str:
        """The REST webhook."""
        return f"http://127.0.0.1:{self.settings.port}/webhooks/rest/webhook"

    def send(self, message: Any, sender: str = "test", raw: bytes | None = None, timeout: float = 60):
        """POSTs a message; returns (status, parsed JSON body)."""
        body = raw if raw is not None else json.dumps({"sender": sender, "message": message}).encode()
        return post_raw(self.url, body, timeout)


# Model servers started with an assistant, each stopped (by PID) once its Rasa server is gone.
_MODEL_SERVERS: List[Assistant] = []


def start_assistant(settings: settings_module.Settings) -> Assistant:
    """Starts the model server, the action server and the Rasa server (no HTTP API) as `make run` does.

    Callers stop ``rasa`` and ``actions``; the model server is stopped after the test in which its
    Rasa server was stopped (or at the end of the session), so callers need not know about it.
    """
    if not settings.model.exists():
        pytest.fail(f"{settings.model} is missing: run `make train` first")
    model_server, actions, rasa = launch.start_all(
        [launch.model_server(settings), launch.action_server(settings), launch.rasa_server(settings)],
        settings.start_timeout_s)
    running = Assistant(settings, rasa, actions, model_server)
    _MODEL_SERVERS.append(running)
    return running


def _stop_model_servers(all_of_them: bool = False) -> None:
    for running in list(_MODEL_SERVERS):
        if all_of_them or not running.rasa.alive():
            if running.model_server is not None:
                running.model_server.stop()
            _MODEL_SERVERS.remove(running)


@pytest.fixture(autouse=True)
def _model_servers_follow_their_rasa() -> Iterator[None]:
    """After each test, stops the model servers whose Rasa server was stopped."""
    yield
    _stop_model_servers()


@pytest.fixture(scope="session", autouse=True)
def _model_servers_stopped_at_the_end() -> Iterator[None]:
    """At the end of the session, stops every model server still running."""
    yield
    _stop_model_servers(all_of_them=True)


@pytest.fixture(scope="session")
def assistant(tmp_path_factory) -> Iterator[Assistant]:
    """The real servers, shared by the model tests of a session."""
    running = start_assistant(server_settings(tmp_path_factory.mktemp("var")))
    try:
        yield running
    finally:
        running.rasa.stop()
        running.actions.stop()
        _stop_model_servers()



@pytest.fixture(scope="session")
def postgres() -> Iterator["PostgresServer"]:
    """A throwaway PostgreSQL cluster for the session (fails, never skips, under CI=true)."""
    from tests.databases import PostgresServer, require_postgres

    require_postgres()
    server = PostgresServer()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    """An empty project database with every table: a SQLite file, then PostgreSQL."""
    import sqlalchemy as sa

    from bot.store import METADATA, create_tables, engine

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'assistant.db'}"
    else:
        url = request.getfixturevalue("postgres").url
        eng = engine(url)
        with eng.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    create_tables(url)
    assert METADATA.tables
    yield url
    engine(url).dispose()
