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
# The issue's gates on the development sets (the new topics' file has only FAQ-graded cases).
DEV_THRESHOLDS = {"faq": 0.97, "emergency": 1.0, "out_of_scope": 0.95, "smalltalk": 0.95, "over_escalation": 0.02}
NEW_TOPICS_THRESHOLDS = {"faq": 0.97, "over_escalation": 0.02}
# Floors under the measured held-out figures (README, "Tests"), against regressions.
HOLDOUT_THRESHOLDS = {"faq": 0.95, "out_of_scope": 0.95, "smalltalk": 0.95, "over_escalation": 0.02}
STYLES_THRESHOLDS = {"faq": 0.9, "out_of_scope": 0.85, "smalltalk": 0.75, "over_escalation": 0.04}


def check(assistant, cases: Path, thresholds: Dict[str, float], name: str) -> None:
    result = grade(assistant.url, cases, ROOT / "results" / f"grade_{name}.json", thresholds)
    print(f"\n[{name}]\n" + result.output[-6000:])
    assert result.passed, f"grader thresholds missed on {name} (see output above)"


def test_dev_cases_pass_the_grader(assistant):
    check(assistant, SHARED_EVAL / "dev_cases.yml", DEV_THRESHOLDS, "dev")


def test_new_topics_follow_ups_distress_and_privacy_pass_the_grader(assistant):
    check(assistant, SHARED_EVAL / "dev_cases_new_topics.yml", NEW_TOPICS_THRESHOLDS, "new_topics")


def test_holdout_cases_pass_the_grader(assistant):
    check(assistant, HOLDOUT_CASES, HOLDOUT_THRESHOLDS, "holdout")


def test_holdout_styles_pass_the_grader(assistant):
    check(assistant, HOLDOUT_CASES.parent / "styles.yml", STYLES_THRESHOLDS, "holdout_styles")
