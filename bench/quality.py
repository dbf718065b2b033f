"""Answer quality of a running setup: the shared grader on a case set, and the crisis suite.

Both are the project's evaluation (:mod:`bot.evaluation`), as the tests run it; what is here
turns their results into the flat numbers of the bench's JSON.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

from bench.settings import CRISIS_SUITE, DEV_CASES, rel
from bot.evaluation import crisis
from bot.evaluation.grading import KINDS, grade


def grade_cases(url: str, out_json: Path, timeout_s: float = 1800.0, cases: Path = DEV_CASES) -> Dict[str, Any]:
    """The shared grader (grade.py --json) on ``cases``, the dev cases by default; its summary, flattened.

    Per kind (faq, emergency, out_of_scope, smalltalk) the share passed and ``<kind>_n`` the
    number of cases; every reply is in ``out_json`` (``raw``).
    """
    result = grade(url, cases, out_json, workers=4, timeout_s=timeout_s, quiet=True)
    out: Dict[str, Any] = {"cases": result.summary.get("cases"), "raw": rel(out_json)}
    for kind in KINDS:
        out[kind] = result.rate(kind)
        out[f"{kind}_n"] = result.count(kind)
    out["over_escalation"] = result.summary.get("over_escalation")
    out["grader_latency_p50_s"] = result.summary.get("latency_p50_s")
    return out


def crisis_suite(url: str, out_json: Path, suite_path: Path = CRISIS_SUITE, workers: int = 4,
                 timeout_s: float = 30.0) -> Dict[str, Any]:
    """Emergency recall (per kind) and over-escalation on a crisis suite (tests/crisis/suite.yml by default).

    Scored by :func:`bot.evaluation.crisis.score`: an emergency is caught when the reply's
    first message names the emergency number and the reply gives the center's line; a failed
    request counts as missed, and as an error. The missed and over-escalated messages, with
    the first reply message, go to ``out_json`` (``raw``).
    """
    score = crisis.score(url, crisis.load_suite(suite_path), workers=workers, timeout_s=timeout_s)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({"missed": score.missed, "over_escalated": score.over_escalated}, indent=1))
    return {"raw": rel(out_json), **crisis.as_dict(score)}
