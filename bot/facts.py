"""The center's facts for Python code, read from their one source: the slots of ``domain.yml``.

Responses use them as ``{center_phone}``, ``{emergency_number}``... (slots with an
``initial_value``); code that needs the same facts (channels, alerts, tests) reads them
here, so the phone line and the emergency numbers are written down exactly once.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

DOMAIN_PATH = Path(__file__).resolve().parent.parent / "domain.yml"
FACT_SLOTS = (
    "center_name", "center_phone", "center_phone_dial", "center_hours", "retention_days",
    "emergency_number", "crisis_line", "source_atmc", "source_cnt",
)


@dataclass(frozen=True)
class Facts:
    """The center's name, line and hours, the emergency numbers and the cited pages."""

    center_name: str
    center_phone: str
    center_phone_dial: str
    center_hours: str
    retention_days: str
    emergency_number: str
    crisis_line: str
    source_atmc: str
    source_cnt: str

    @property
    def phone_digits(self) -> str:
        """The center's line as bare digits, e.g. for matching a number in any format."""
        return re.sub(r"\D", "", self.center_phone)


@functools.cache
def load(domain_path: Path = DOMAIN_PATH) -> Facts:
    """Read the fact slots' ``initial_value`` from the domain (cached)."""
    with open(domain_path, encoding="utf-8") as f:
        slots = (yaml.safe_load(f) or {}).get("slots", {})
    missing = [name for name in FACT_SLOTS if not (slots.get(name) or {}).get("initial_value")]
    if missing:
        raise ValueError(f"{domain_path}: fact slots without initial_value: {', '.join(missing)}")
    return Facts(**{name: str(slots[name]["initial_value"]) for name in FACT_SLOTS})
