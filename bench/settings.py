"""Paths, environment and the request budgets of a benchmark run (quick or full)."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Tuple

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
RASA = BIN / "rasa"
SHARED_EVAL = ROOT.parent / "shared" / "eval"
GRADER = SHARED_EVAL / "grade.py"
DEV_CASES = SHARED_EVAL / "dev_cases.yml"
CRISIS_SUITE = ROOT / "tests" / "crisis" / "suite.yml"
# Messages in no training file, written without seeing data/ (graded like the dev cases).
HOLDOUT_CASES = ROOT / "tests" / "holdout" / "cases.yml"

PROJECT_MODEL = ROOT / "models" / "current.tar.gz"
PROJECT_CONFIG = ROOT / "config.yml"
PROJECT_CREDENTIALS = ROOT / "credentials.yml"
ENDPOINTS = ROOT / "endpoints.yml"
BASELINE_CONFIG = BENCH / "baseline_config.yml"
BASELINE_CREDENTIALS = BENCH / "baseline_credentials.yml"
MODELS_DIR = BENCH / "models"
RESULTS_DIR = BENCH / "results"

WEBHOOK_PATH = "/webhooks/rest/webhook"
SETUPS: Tuple[str, ...] = ("project", "baseline", "floor")
CONCURRENCY: Tuple[int, ...] = (1, 8, 32)


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


def subprocess_env(**extra: str) -> Dict[str, str]:
    """The environment of every server and training started by the benchmark.

    Quiet TensorFlow and SQLAlchemy, no telemetry (no network calls that would time the
    internet instead of the assistant), and any ``extra`` variables.
    """
    env = dict(os.environ)
    env.update({
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env
