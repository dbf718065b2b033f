"""Answer quality of a running setup: the shared grader on the dev cases, and the crisis suite."""
from __future__ import annotations

import concurrent.futures
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml

from bench.servers import post
from bench.settings import CRISIS_SUITE, DEV_CASES, GRADER, ROOT, subprocess_env


def flatten(messages: List[Dict[str, Any]]) -> str:
    """What a visitor sees of a reply: texts, button titles and payloads (as the grader and tests)."""
    parts: List[str] = []
    for m in messages:
        parts.append(str(m.get("text") or ""))
        for b in m.get("buttons") or []:
            parts += [str(b.get("title", "")), str(b.get("payload", ""))]
    return "\n".join(p for p in parts if p)


def _rate(pair: Any) -> Tuple[float | None, int]:
    """The grader's (rate, count) pairs, which JSON turns into lists."""
    if isinstance(pair, (list, tuple)) and len(pair) == 2:
        return (None if pair[0] is None else float(pair[0])), int(pair[1])
    return None, 0


def grade_cases(url: str, out_json: Path, timeout_s: float = 1800.0, cases: Path = DEV_CASES) -> Dict[str, Any]:
    """Runs the shared grader (grade.py --json) on ``cases``, the dev cases by default; its summary, flattened."""
    out_json.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, str(GRADER), str(cases), "--url", url, "--json", str(out_json),
                           "--quiet", "--workers", "4"],
                          cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0 or not out_json.exists():
        raise RuntimeError(f"grader failed ({proc.returncode}): {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    summary = json.loads(out_json.read_text())["summary"]
    result: Dict[str, Any] = {"cases": summary["cases"], "raw": str(out_json.relative_to(ROOT))}
    for kind in ("faq", "emergency", "out_of_scope", "smalltalk"):
        rate, n = _rate(summary.get(kind))
        result[kind] = rate
        result[f"{kind}_n"] = n
    result["over_escalation"] = summary.get("over_escalation")
    result["grader_latency_p50_s"] = summary.get("latency_p50_s")
    return result


def emergency_number() -> str:
    """The number an escalation must lead with (the domain's ``emergency_number`` slot)."""
    from bot import facts
    return facts.load().emergency_number


def _ask(url: str, text: str, timeout_s: float) -> List[Dict[str, Any]] | None:
    """The reply to one message from a fresh sender; None if the request failed."""
    try:
        return post(url, "crisis-" + uuid.uuid4().hex, text, timeout_s)
    except (OSError, ValueError):
        return None


def crisis_suite(url: str, out_json: Path, suite_path: Path = CRISIS_SUITE, workers: int = 4,
                 timeout_s: float = 30.0) -> Dict[str, Any]:
    """Emergency recall (per kind) and over-escalation on tests/crisis/suite.yml.

    A reply escalates when its FIRST message contains the emergency number (911), as in
    tests/crisis/test_suite.py; a failed request counts as not escalated, and as an error.
    The missed and over-escalated messages, with the first reply message, go to ``out_json``.
    """
    suite = yaml.safe_load(suite_path.read_text(encoding="utf-8"))
    emergencies = [(kind, t) for kind, texts in suite["emergency"].items() for t in texts]
    look_alikes: List[str] = list(suite["not_emergency"])
    number = re.compile(rf"\b{re.escape(emergency_number())}\b")
    texts = [t for _, t in emergencies] + look_alikes
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        replies = list(pool.map(lambda t: _ask(url, t, timeout_s), texts))
    escalated = [r is not None and number.search(flatten(r[:1])) is not None for r in replies]
    em, ne = escalated[:len(emergencies)], escalated[len(emergencies):]
    by_kind: Dict[str, List[int]] = {}
    for (kind, _), esc in zip(emergencies, em):
        by_kind.setdefault(kind, [0, 0])
        by_kind[kind][0] += int(esc)
        by_kind[kind][1] += 1

    def first(reply: List[Dict[str, Any]] | None) -> str:
        return "(request failed)" if reply is None else flatten(reply[:1])[:300]

    n = len(emergencies)
    details = {
        "missed": [{"kind": k, "text": t, "first": first(r)}
                   for (k, t), r, esc in zip(emergencies, replies[:n], em) if not esc],
        "over_escalated": [{"text": t, "first": first(r)} for t, r, esc in zip(look_alikes, replies[n:], ne) if esc],
    }
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(details, indent=1))
    return {
        "raw": str(out_json.relative_to(ROOT)),
        "emergencies": len(emergencies),
        "look_alikes": len(look_alikes),
        "recall": sum(em) / len(em) if em else None,
        "missed": len(em) - sum(em),
        "over_escalation": sum(ne) / len(ne) if ne else None,
        "over_escalated": sum(ne),
        "recall_by_kind": {k: round(hit / n, 4) for k, (hit, n) in by_kind.items()},
        "errors": sum(r is None for r in replies),
    }
