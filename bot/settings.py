"""The one home of operator settings: environment variables, typed, validated at start.

Every value an operator can set lives in :class:`Settings` (the README's "Settings" table
lists them, and a test checks that it does). ``load()`` reads the environment and raises
:class:`SettingsError` naming the variable and what is wrong with it, so a typo fails at
start with a clear message instead of failing later, e.g. on the first emergency.

Paths that are facts of the source tree, not settings (the spaCy pipeline, the patterns,
the shared evaluation material), are the module constants below; nothing else writes them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Dict, Mapping, Tuple
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
SPACY_DIR = ROOT / "build" / "spacy_en"
#: Sentence vectors of training texts kept between trainings (bot/nlu/vector_cache.py; a build artefact).
VECTOR_CACHE_DIR = ROOT / "build" / "vectors"
SHARED_EVAL = ROOT.parent / "shared" / "eval"
CREDENTIALS = ROOT / "credentials.yml"
ENDPOINTS = ROOT / "endpoints.yml"
CRISIS_SUITE = ROOT / "tests" / "crisis" / "suite.yml"
HOLDOUT_CASES = ROOT / "tests" / "holdout" / "cases.yml"


class SettingsError(ValueError):
    """A setting is malformed; the message names the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    """What an operator can set without touching code (environment variable in brackets)."""

    # Interface of the public servers (Rasa, web page) [INTERFACE]; 0.0.0.0 to serve other hosts.
    interface: str = "127.0.0.1"
    # Rasa's public channels (REST, socket.io) [PORT].
    port: int = 5005
    # The demo page with the widget [WEB_PORT].
    web_port: int = 8080
    # The action server [ACTIONS_PORT], bound to [ACTIONS_INTERFACE] (loopback unless multi-host).
    actions_port: int = 5055
    actions_interface: str = "127.0.0.1"
    # The trained model served [MODEL].
    model: Path = ROOT / "models" / "current.tar.gz"
    # Log files of `make run`, appended and rotated [LOG_DIR].
    log_dir: Path = ROOT / "logs"
    # Durable state: the SQLite database (conversations, alerts, staff) and the spools [VAR_DIR].
    var_dir: Path = ROOT / "var"
    # SQLAlchemy URL of the project's database [DATABASE_URL]; empty: SQLite in VAR_DIR.
    database_url: str = ""
    # Origins allowed to call the public channels from a browser [CORS_ORIGINS], space-separated;
    # empty: the demo page's own origins.
    cors_origins: Tuple[str, ...] = ()
    # Largest request body any server accepts, in bytes [MAX_BODY_BYTES] (nginx too, in a cluster).
    max_body_bytes: int = 1_000_000
    # A cluster's nginx limits each client address to this many requests per second on average
    # [RATE_LIMIT_PER_S], with bursts of up to [RATE_LIMIT_BURST] more at once; over it, a 429 whose
    # reply carries the emergency number and the center's line.
    rate_limit_per_s: float = 10.0
    rate_limit_burst: int = 20
    # Staff alert webhook (POSTed JSON, never message text) [ALERT_WEBHOOK_URL]; empty: a WARNING log line.
    alert_webhook_url: str = ""
    # Total time for one delivery attempt, DNS and connect included [ALERT_TIMEOUT_S].
    alert_timeout_s: float = 3.0
    # Longest wait between two delivery attempts (backoff doubles up to it) [ALERT_RETRY_MAX_S].
    alert_retry_max_s: float = 300.0
    # A conversation flagged again within this window raises no second alert [ALERT_DEDUP_WINDOW_S].
    alert_dedup_window_s: float = 3600.0
    # Key that signs the widget's session ids [SESSION_SECRET]; empty: generated once, kept in VAR_DIR.
    session_secret: str = ""
    # A process of `make run` must answer its health check within this time [START_TIMEOUT_S].
    start_timeout_s: float = 240.0
    # The staff site (review, callbacks) [STAFF_PORT], bound to [STAFF_INTERFACE]: never the public side.
    staff_port: int = 8081
    staff_interface: str = "127.0.0.1"
    # A staff login lasts this long without activity, in minutes [STAFF_SESSION_MINUTES].
    staff_session_minutes: float = 30.0
    # Conversations (and their notes) are kept this many days; `review purge` deletes older ones [RETENTION_DAYS].
    retention_days: int = 90
    # Longest wait for one database read or write in a visitor's turn; past it the turn goes to the
    # local spool and the reply is not held up [STORE_TIMEOUT_S].
    store_timeout_s: float = 2.0
    # The internal model server Rasa pulls its model from (loopback only) [MODEL_SERVER_PORT], and how
    # often Rasa asks it for a newer model, in seconds [MODEL_PULL_INTERVAL_S].
    model_server_port: int = 8082
    model_pull_interval_s: float = 10.0
    # A retrained model is refused if its FAQ accuracy is lower than the running one's by more than
    # this (0.01 = 1 point) [RETRAIN_FAQ_MARGIN]; emergency recall must stay 1.0 whatever it is.
    retrain_faq_margin: float = 0.01

    @property
    def database(self) -> str:
        """The SQLAlchemy URL actually used."""
        return self.database_url or f"sqlite:///{self.var_dir / 'assistant.db'}"

    @property
    def allowed_origins(self) -> Tuple[str, ...]:
        """The browser origins the public channels accept."""
        if self.cors_origins:
            return self.cors_origins
        return (f"http://localhost:{self.web_port}", f"http://127.0.0.1:{self.web_port}")


# Environment variable of each field.
ENV_NAMES: Dict[str, str] = {
    "interface": "INTERFACE", "port": "PORT", "web_port": "WEB_PORT", "actions_port": "ACTIONS_PORT",
    "actions_interface": "ACTIONS_INTERFACE", "model": "MODEL", "log_dir": "LOG_DIR", "var_dir": "VAR_DIR",
    "database_url": "DATABASE_URL", "cors_origins": "CORS_ORIGINS", "max_body_bytes": "MAX_BODY_BYTES",
    "rate_limit_per_s": "RATE_LIMIT_PER_S", "rate_limit_burst": "RATE_LIMIT_BURST",
    "alert_webhook_url": "ALERT_WEBHOOK_URL", "alert_timeout_s": "ALERT_TIMEOUT_S",
    "alert_retry_max_s": "ALERT_RETRY_MAX_S", "alert_dedup_window_s": "ALERT_DEDUP_WINDOW_S",
    "session_secret": "SESSION_SECRET", "start_timeout_s": "START_TIMEOUT_S",
    "staff_port": "STAFF_PORT", "staff_interface": "STAFF_INTERFACE",
    "staff_session_minutes": "STAFF_SESSION_MINUTES", "retention_days": "RETENTION_DAYS",
    "store_timeout_s": "STORE_TIMEOUT_S", "model_server_port": "MODEL_SERVER_PORT",
    "model_pull_interval_s": "MODEL_PULL_INTERVAL_S", "retrain_faq_margin": "RETRAIN_FAQ_MARGIN",
}


def _port(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a port number (1-65535)") from None
    if not 1 <= value <= 65535:
        raise SettingsError(f"{name}={raw!r} is not a port number (1-65535)")
    return value


def _positive(name: str, raw: str, kind: type = float) -> float:
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a {'whole ' if kind is int else ''}number") from None
    if not value > 0:
        raise SettingsError(f"{name}={raw!r} must be greater than 0")
    return value


def _count(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value < 0:
        raise SettingsError(f"{name}={raw!r} must be 0 or more")
    return value


def _url(name: str, raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SettingsError(f"{name}={raw!r} is not an http(s) URL")
    return raw


def load(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``env`` (default: the process environment); raises SettingsError."""
    env = os.environ if env is None else env
    default = Settings()
    values: Dict[str, object] = {}
    for field in fields(Settings):
        name = ENV_NAMES[field.name]
        raw = (env.get(name) or "").strip()
        if not raw:
            continue
        current = getattr(default, field.name)
        if field.name.endswith("port"):
            values[field.name] = _port(name, raw)
        elif field.name in ("max_body_bytes", "retention_days"):
            values[field.name] = int(_positive(name, raw, int))
        elif field.name == "rate_limit_burst":
            values[field.name] = _count(name, raw)
        elif isinstance(current, float):
            values[field.name] = _positive(name, raw)
        elif isinstance(current, Path):
            values[field.name] = (ROOT / raw) if not Path(raw).is_absolute() else Path(raw)
        elif field.name == "cors_origins":
            origins = tuple(raw.split())
            for origin in origins:
                if origin != "*":
                    _url(name, origin)
            values[field.name] = origins
        elif field.name == "alert_webhook_url":
            values[field.name] = _url(name, raw)
        else:
            values[field.name] = raw
    settings = Settings(**values)  # type: ignore[arg-type]
    from bot import facts  # the retention visitors are told of (domain.yml) must be the one applied

    told = int(facts.load().retention_days)
    if settings.retention_days != told:
        raise SettingsError(f"RETENTION_DAYS={settings.retention_days} differs from what the assistant tells visitors "
                            f"({told} days, slot retention_days in domain.yml): change both, then retrain")
    ports = {"PORT": settings.port, "WEB_PORT": settings.web_port, "ACTIONS_PORT": settings.actions_port,
             "STAFF_PORT": settings.staff_port, "MODEL_SERVER_PORT": settings.model_server_port}
    if len(set(ports.values())) < len(ports):
        raise SettingsError("PORT, WEB_PORT, ACTIONS_PORT, STAFF_PORT and MODEL_SERVER_PORT must differ: " +
                            ", ".join(f"{k}={v}" for k, v in ports.items()))
    return settings


def environment(settings: Settings) -> Dict[str, str]:
    """The settings as environment variables, for the processes the launcher starts."""
    out: Dict[str, str] = {}
    for field in fields(Settings):
        value = getattr(settings, field.name)
        out[ENV_NAMES[field.name]] = " ".join(value) if isinstance(value, tuple) else str(value)
    return out
