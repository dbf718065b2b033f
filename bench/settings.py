"""Paths and the request budgets of a benchmark run (quick or full).

The project's own paths (root, shared eval material, crisis suite, credentials, endpoints)
come from :mod:`bot.settings`; the environment of every process the bench starts is
:func:`bot.launch.process_env`. What is here is the bench's own.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Tuple

from bot.settings import CREDENTIALS as PROJECT_CREDENTIALS
from bot.settings import CRISIS_SUITE, ENDPOINTS, HOLDOUT_CASES, ROOT, SHARED_EVAL, Settings

__all__ = [
    "BASELINE_CONFIG", "BASELINE_CREDENTIALS", "BENCH", "CONCURRENCY", "CRISIS_SUITE", "DEV_CASES", "ENDPOINTS",
    "FULL", "HOLDOUT_CASES", "MEMORY_ENDPOINTS", "MODELS_DIR", "PROJECT_CONFIG", "PROJECT_CREDENTIALS",
    "PROJECT_MODEL", "QUICK", "RESULTS_DIR", "ROOT", "SETUPS", "SHARED_EVAL", "WEBHOOK_PATH", "Budget", "rel",
]

BENCH = ROOT / "bench"
DEV_CASES = SHARED_EVAL / "dev_cases.yml"
# HOLDOUT_CASES (from bot.settings): messages in no training file, graded like the dev cases.

# What `make train` builds (the default MODEL), whatever MODEL the shell running the bench sets.
PROJECT_MODEL = Settings().model
PROJECT_CONFIG = ROOT / "config.yml"
BASELINE_CONFIG = BENCH / "baseline_config.yml"
BASELINE_CREDENTIALS = BENCH / "baseline_credentials.yml"
MODELS_DIR = BENCH / "models"
RESULTS_DIR = BENCH / "results"

WEBHOOK_PATH = "/webhooks/rest/webhook"
# project and baseline keep conversations in the durable SQL store (endpoints.yml, SQLite in a
# throw-away VAR_DIR); project-memory is the project with Rasa's in-memory store, for reference.
SETUPS: Tuple[str, ...] = ("project", "project-memory", "baseline", "floor")
MEMORY_ENDPOINTS = BENCH / "memory_endpoints.yml"
CONCURRENCY: Tuple[int, ...] = (1, 8, 32)


def rel(path: Path) -> str:
    """A path relative to the project root when it is inside it (for the results and messages)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Budget:
    """How much a run measures: requests per concurrency level and time limits."""

    mode: str
    requests: Dict[int, int]
    level_seconds: float
    request_timeout_s: float
    warmup_requests: int
    train: bool


FULL = Budget(mode="full", requests={1: 300, 8: 800, 32: 1600}, level_seconds=150.0,
              request_timeout_s=30.0, warmup_requests=10, train=True)
QUICK = Budget(mode="quick", requests={1: 40, 8: 120, 32: 256}, level_seconds=20.0,
               request_timeout_s=30.0, warmup_requests=5, train=False)
