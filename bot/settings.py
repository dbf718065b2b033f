"""Settings from environment variables, with defaults; secrets never live in the repo."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """What an operator can set without touching code."""

    # Staff alert for flagged conversations: POSTed to this URL when set (no message text).
    alert_webhook_url: str = ""
    alert_timeout_s: float = 3.0


def load(env: "os._Environ[str] | dict[str, str]" = os.environ) -> Settings:
    """Reads the settings; a malformed number is an error that names the variable."""
    def number(name: str, default: float, kind: type) -> float:
        raw = env.get(name)
        if raw in (None, ""):
            return default
        try:
            return kind(raw)
        except ValueError:
            raise ValueError(f"environment variable {name}={raw!r} is not a valid {kind.__name__}") from None

    return Settings(
        alert_webhook_url=env.get("ALERT_WEBHOOK_URL", "").strip(),
        alert_timeout_s=float(number("ALERT_TIMEOUT_S", 3.0, float)),
    )
