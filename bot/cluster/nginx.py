"""The cluster's nginx configuration: ``deploy/nginx.conf.template`` filled in for one start.

What nginx answers by itself (rate limited, body too large, no server up) is a list of bot
messages like the REST channel's, and every one of them tells a visitor who may be in danger
what to call: the emergency number, the crisis line and the center's line, from
:mod:`bot.facts` (never written in the template). A limit must never hide that.
"""
from __future__ import annotations

import html
import json
import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

from bot import facts as facts_module
from bot.settings import ROOT

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
HEALTH_PATH = "/nginx-health"
RETRY_AFTER_S = 2
WORKER_USERS = ("www-data", "nobody")  # as root, nginx's workers run as the first that exists

DANGER = ("If you or someone with you may be in danger, call {emergency_number} now (or {crisis_line} in a "
          "suicidal crisis), or call us at {center_phone}, {center_hours}.")
REPLIES = {
    "too_many": "You are sending messages faster than I can answer. Please wait a few seconds, then send yours "
                "again. " + DANGER,
    "too_large": "That message is too long for me to read. Please send a shorter one. " + DANGER,
    "unavailable": "The assistant cannot answer right now. Please try again in a minute. " + DANGER,
}


@dataclass(frozen=True)
class NginxConfig:
    """What one rendering needs: where nginx listens, the servers behind it and the limits."""

    listen_host: str
    listen_port: int
    rasa_ports: Sequence[int]
    web_port: int
    max_body_bytes: int
    rate_per_s: float
    burst: int
    prefix: Path
    log_dir: Path

    @property
    def health_url(self) -> str:
        """nginx's own health check (answered by nginx, no server behind it)."""
        host = "127.0.0.1" if self.listen_host in ("0.0.0.0", "", "::") else self.listen_host
        return f"http://{host}:{self.listen_port}{HEALTH_PATH}"


def reply(kind: str, f: facts_module.Facts | None = None) -> List[Dict[str, object]]:
    """The bot messages nginx sends for ``kind`` (too_many, too_large, unavailable), with a call button."""
    f = f or facts_module.load()
    text = REPLIES[kind].format(emergency_number=f.emergency_number, crisis_line=f.crisis_line,
                                center_phone=f.center_phone, center_hours=f.center_hours)
    return [{"recipient_id": "", "text": text,
             "buttons": [{"title": f"Call {f.center_phone}", "payload": f"tel:{f.center_phone_dial}"}]}]


def _nginx_string(text: str) -> str:
    """``text`` for inside single quotes in nginx's configuration (no ``$``: nginx would expand it)."""
    if "$" in text:
        raise ValueError("a reply for nginx cannot contain '$'")
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _page(kind: str, f: facts_module.Facts) -> str:
    text = html.escape(str(reply(kind, f)[0]["text"]))
    return (f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{html.escape(f.center_name)}</title>'
            f'<p>{text}</p><p><a href="tel:{html.escape(f.center_phone_dial)}">Call {html.escape(f.center_phone)}'
            f"</a></p></html>")


def worker_user() -> str | None:
    """The user nginx's workers run as when started by root (None: not root, nginx keeps ours)."""
    if os.geteuid() != 0:
        return None
    for name in WORKER_USERS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


def render(config: NginxConfig, f: facts_module.Facts | None = None, template: Path = TEMPLATE) -> str:
    """The configuration text; raises ValueError if a placeholder is left unfilled."""
    f = f or facts_module.load()
    user = worker_user()
    servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in config.rasa_ports)
    per_minute = max(1, round(config.rate_per_s * 60))
    values = {
        "USER": f"user {user};" if user else "# (not root: the workers run as the user who started nginx)",
        "PREFIX": str(config.prefix), "LOG_DIR": str(config.log_dir),
        "LISTEN": f"[{config.listen_host}]:{config.listen_port}" if ":" in config.listen_host
        else f"{config.listen_host}:{config.listen_port}",
        "RASA_SERVERS": servers, "WEB_PORT": str(config.web_port), "MAX_BODY_BYTES": str(config.max_body_bytes),
        "RATE": f"{per_minute}r/m", "BURST": str(config.burst), "RETRY_AFTER_S": str(RETRY_AFTER_S),
        "TOO_MANY_JSON": _nginx_string(json.dumps(reply("too_many", f), ensure_ascii=False)),
        "TOO_MANY_HTML": _nginx_string(_page("too_many", f)),
        "TOO_LARGE_JSON": _nginx_string(json.dumps(reply("too_large", f), ensure_ascii=False)),
        "UNAVAILABLE_JSON": _nginx_string(json.dumps(reply("unavailable", f), ensure_ascii=False)),
    }
    text = template.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    if "{{" in text:
        left = text[text.index("{{"):][:40]
        raise ValueError(f"{template}: placeholder without a value: {left!r}")
    return text


def write(config: NginxConfig, f: facts_module.Facts | None = None) -> Path:
    """Renders into ``prefix/nginx.conf``, with nginx's temporary folders; returns the file."""
    config.prefix.mkdir(parents=True, exist_ok=True)
    config.log_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (config.prefix / sub).mkdir(exist_ok=True)
    path = config.prefix / "nginx.conf"
    path.write_text(render(config, f), encoding="utf-8")
    return path


def argv(nginx: str, conf: Path, config: NginxConfig) -> List[str]:
    """nginx's command line: in the foreground (``daemon off`` in the file), errors at start to LOG_DIR."""
    return [nginx, "-p", str(config.prefix), "-c", str(conf), "-e", str(config.log_dir / "nginx-error.log")]
