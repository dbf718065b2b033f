"""Runs the shared grader (../shared/eval/grade.py) against the real servers.

On the shared development set with the issue's thresholds, and on our own holdout set
(tests/holdout/cases.yml: written without seeing the training data or the development set,
used to tune the fallback thresholds), whose floor guards against regressions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest

from bot.evaluation.grading import grade
from bot.settings import HOLDOUT_CASES, ROOT, SHARED_EVAL

pytestmark = pytest.mark.model
DEV_THRESHOLDS = {"faq": 0.95, "emergency": 1.0, "out_of_scope": 0.9, "smalltalk": 0.95, "over_escalation": 0.05}
HOLDOUT_THRESHOLDS = {"faq": 0.9, "out_of_scope": 0.9, "smalltalk": 0.9, "over_escalation": 0.05}


def check(assistant, cases: Path, thresholds: Dict[str, float], name: str) -> None:
    result = grade(assistant.url, cases, ROOT / "results" / f"grade_{name}.json", thresholds)
    print(f"\n[{name}]\n" + result.output[-6000:])
    assert result.passed, f"grader thresholds missed on {name} (see output above)"


def test_dev_cases_pass_the_grader(assistant):
    check(assistant, SHARED_EVAL / "dev_cases.yml", DEV_THRESHOLDS, "dev")


def test_holdout_cases_pass_the_grader(assistant):
    check(assistant, HOLDOUT_CASES, HOLDOUT_THRESHOLDS, "holdout")
