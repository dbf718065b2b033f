"""The shared grader (``../shared/eval/grade.py``) on a case set, against a running assistant."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping

from bot.settings import SHARED_EVAL

GRADER = SHARED_EVAL / "grade.py"
KINDS = ("faq", "emergency", "out_of_scope", "smalltalk")
THRESHOLD_FLAGS = {"faq": "--min-faq", "emergency": "--min-emergency", "out_of_scope": "--min-oos",
                   "smalltalk": "--min-smalltalk", "over_escalation": "--max-over-escalation"}


@dataclass(frozen=True)
class Grade:
    """What the grader printed and measured; ``passed`` is False if a threshold was missed."""

    passed: bool
    output: str
    summary: Dict[str, Any]
    results: list

    def rate(self, kind: str) -> float | None:
        """The share of ``kind`` cases answered correctly (None when the set has none)."""
        value = self.summary.get(kind)
        if isinstance(value, (list, tuple)):
            return None if value[0] is None else float(value[0])
        return None if value is None else float(value)

    def count(self, kind: str) -> int:
        """How many ``kind`` cases the set has."""
        value = self.summary.get(kind)
        return int(value[1]) if isinstance(value, (list, tuple)) and len(value) == 2 else 0


def grade(url: str, cases: Path, out_json: Path, thresholds: Mapping[str, float] | None = None,
          workers: int = 4, timeout_s: float = 1800.0, quiet: bool = False) -> Grade:
    """Runs grade.py on ``cases``; raises RuntimeError if it could not grade at all (not on missed thresholds)."""
    if not GRADER.exists():
        raise RuntimeError(f"{GRADER} not found: the shared eval material must sit beside the project")
    out_json.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(GRADER), str(cases), "--url", url, "--json", str(out_json),
            "--workers", str(workers)]
    for name, value in (thresholds or {}).items():
        argv += [THRESHOLD_FLAGS[name], str(value)]
    if quiet:
        argv.append("--quiet")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    output = proc.stdout + proc.stderr
    if proc.returncode not in (0, 1) or not out_json.exists():
        raise RuntimeError(f"grader failed ({proc.returncode}): {output[-3000:]}")
    data = json.loads(out_json.read_text())
    return Grade(proc.returncode == 0, output, data["summary"], data["results"])
