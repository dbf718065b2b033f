"""Runs the shared grader (../shared/eval/grade.py) on the development set against the real servers."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, SHARED

pytestmark = pytest.mark.model
THRESHOLDS = ["--min-faq", "0.95", "--min-emergency", "1.0", "--min-oos", "0.9",
              "--min-smalltalk", "0.95", "--max-over-escalation", "0.05"]


def test_dev_cases_pass_the_grader(assistant):
    grade = SHARED / "eval" / "grade.py"
    if not grade.exists():
        pytest.fail(f"{grade} not found: the shared eval material must sit beside the project")
    proc = subprocess.run(
        [sys.executable, str(grade), str(SHARED / "eval" / "dev_cases.yml"), "--url", assistant.url,
         "--json", str(ROOT / "results" / "grade_dev.json"), *THRESHOLDS],
        capture_output=True, text=True, timeout=900)
    print("\n" + proc.stdout[-6000:] + proc.stderr[-2000:])
    assert proc.returncode == 0, "grader thresholds missed (see output above)"
