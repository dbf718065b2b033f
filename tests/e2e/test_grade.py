"""Runs the shared grader (../shared/eval/grade.py) against the real servers.

On the shared development set with the issue's thresholds, and on our own holdout set
(tests/holdout/cases.yml: written without seeing the training data or the development set,
used to tune the fallback thresholds), whose floor guards against regressions.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED

pytestmark = pytest.mark.model
DEV_THRESHOLDS = ["--min-faq", "0.95", "--min-emergency", "1.0", "--min-oos", "0.9",
                  "--min-smalltalk", "0.95", "--max-over-escalation", "0.05"]
HOLDOUT_THRESHOLDS = ["--min-faq", "0.9", "--min-oos", "0.9", "--min-smalltalk", "0.9",
                      "--max-over-escalation", "0.05"]


def grade(assistant, cases: Path, thresholds, name: str) -> None:
    script = SHARED / "eval" / "grade.py"
    if not script.exists():
        pytest.fail(f"{script} not found: the shared eval material must sit beside the project")
    proc = subprocess.run(
        [sys.executable, str(script), str(cases), "--url", assistant.url,
         "--json", str(ROOT / "results" / f"grade_{name}.json"), *thresholds],
        capture_output=True, text=True, timeout=900)
    print(f"\n[{name}]\n" + proc.stdout[-6000:] + proc.stderr[-2000:])
    assert proc.returncode == 0, f"grader thresholds missed on {name} (see output above)"


def test_dev_cases_pass_the_grader(assistant):
    grade(assistant, SHARED / "eval" / "dev_cases.yml", DEV_THRESHOLDS, "dev")


def test_holdout_cases_pass_the_grader(assistant):
    grade(assistant, ROOT / "tests" / "holdout" / "cases.yml", HOLDOUT_THRESHOLDS, "holdout")
