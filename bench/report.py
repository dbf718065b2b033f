"""Pure functions of the report: statistics, ratios, targets, and the tables (text and Markdown).

Nothing here starts a server or reads a file, so tests/bench/test_report.py covers it quickly.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence

Number = float | None
Results = Dict[str, Any]

# The targets, for the project against the baseline (reported, never asserted).
FAQ_POINTS_ABOVE_BASELINE = 5.0
P50_RATIO_MAX = 0.5
THROUGHPUT_RATIO_MIN = 2.0
ERRORS_AT = 32


def percentile(values: Sequence[float], q: float) -> Number:
    """The ``q``-th percentile (0-100) with linear interpolation between ranks; None if empty.

    Same definition as numpy's default (``method="linear"``).
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_summary(latencies_s: Sequence[float], errors: int, wall_s: float,
                    empty_replies: int = 0, stopped_by_time: bool = False) -> Dict[str, Any]:
    """Percentiles (ms), throughput (answered messages per second) and error count of one level."""
    def ms(v: Number) -> Number:
        return None if v is None else round(v * 1000, 2)

    ok = len(latencies_s)
    return {
        "requests": ok + errors,
        "ok": ok,
        "errors": errors,
        "empty_replies": empty_replies,
        "p50_ms": ms(percentile(latencies_s, 50)),
        "p95_ms": ms(percentile(latencies_s, 95)),
        "p99_ms": ms(percentile(latencies_s, 99)),
        "mean_ms": ms(sum(latencies_s) / ok) if ok else None,
        "max_ms": ms(max(latencies_s)) if ok else None,
        "wall_s": round(wall_s, 3),
        "throughput_rps": round(ok / wall_s, 2) if wall_s > 0 and ok else None,
        "stopped_by_time": stopped_by_time,
    }


def ratio(value: Number, reference: Number) -> Number:
    """``value / reference`` rounded to 3 decimals; None if either is missing or the reference is 0."""
    if value is None or reference is None or reference == 0:
        return None
    return round(value / reference, 3)


def peak_throughput(load: Dict[str, Dict[str, Any]]) -> Number:
    """The highest throughput over the concurrency levels (the server's capacity here)."""
    values = [lv.get("throughput_rps") for lv in load.values()]
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _get(results: Results, *path: Any) -> Any:
    """A nested value, or None if any step is missing."""
    cur: Any = results
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur


def speed_ratios(results: Results, setup: str, reference: str) -> Dict[str, Dict[str, Number]]:
    """Per concurrency level: latency percentiles and throughput of ``setup`` over ``reference``.

    Latency ratios below 1 and throughput ratios above 1 mean ``setup`` is faster.
    """
    out: Dict[str, Dict[str, Number]] = {}
    levels = _get(results, "setups", setup, "load") or {}
    for level in levels:
        mine = levels[level]
        ref = _get(results, "setups", reference, "load", level) or {}
        out[level] = {k: ratio(mine.get(k), ref.get(k)) for k in ("p50_ms", "p95_ms", "p99_ms", "throughput_rps")}
    mine_peak = peak_throughput(levels)
    ref_peak = peak_throughput(_get(results, "setups", reference, "load") or {})
    out["peak"] = {"throughput_rps": ratio(mine_peak, ref_peak)}
    return out


def target(name: str, goal: str, value: Number, met: bool | None, shown: str) -> Dict[str, Any]:
    """One target's outcome: ``met`` is None when it could not be measured."""
    return {"name": name, "goal": goal, "value": value, "shown": shown,
            "status": "n/a" if met is None else ("met" if met else "missed")}


def evaluate_targets(results: Results) -> List[Dict[str, Any]]:
    """The issue's four targets for the project, judged against the baseline."""
    targets = []
    faq_p = _get(results, "setups", "project", "quality", "dev", "faq")
    faq_b = _get(results, "setups", "baseline", "quality", "dev", "faq")
    points = None if faq_p is None or faq_b is None else round((faq_p - faq_b) * 100, 1)
    targets.append(target(
        "faq_accuracy", f"FAQ accuracy >= baseline + {FAQ_POINTS_ABOVE_BASELINE:g} points", points,
        None if points is None else points >= FAQ_POINTS_ABOVE_BASELINE,
        "n/a" if points is None else f"{points:+.1f} points ({faq_p:.1%} vs {faq_b:.1%})"))

    p50 = ratio(_get(results, "setups", "project", "load", "1", "p50_ms"),
                _get(results, "setups", "baseline", "load", "1", "p50_ms"))
    targets.append(target(
        "p50_latency_1_client", f"p50 latency at 1 client <= {P50_RATIO_MAX:g}x baseline", p50,
        None if p50 is None else p50 <= P50_RATIO_MAX, "n/a" if p50 is None else f"{p50:.2f}x"))

    lv = _get(results, "setups", "project", "load", str(ERRORS_AT)) or {}
    errors = lv.get("errors")
    measured = errors is not None and lv.get("requests", 0) > 0
    targets.append(target(
        f"zero_errors_{ERRORS_AT}_clients", f"0 errors at {ERRORS_AT} clients", errors,
        (errors == 0) if measured else None,
        f"{errors} of {lv.get('requests')} requests" if measured else "n/a"))

    tp = ratio(peak_throughput(_get(results, "setups", "project", "load") or {}),
               peak_throughput(_get(results, "setups", "baseline", "load") or {}))
    targets.append(target(
        "throughput", f"peak throughput >= {THROUGHPUT_RATIO_MIN:g}x baseline", tp,
        None if tp is None else tp >= THROUGHPUT_RATIO_MIN, "n/a" if tp is None else f"{tp:.2f}x"))
    return targets


# ----------------------------------------------------------------------------- formatting

def fmt(value: Any, kind: str = "", missing: str = "n/a") -> str:
    """A cell: ``pct`` (0.953 -> 95.3%), ``ms``, ``s``, ``mb``, ``x`` (ratio), ``rps`` or plain."""
    if value is None:
        return missing
    if isinstance(value, str):
        return value
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "ms":
        return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"
    if kind == "s":
        return f"{value:.1f} s"
    if kind == "mb":
        return f"{value:.0f} MB"
    if kind == "x":
        return f"{value:.2f}x"
    if kind == "rps":
        return f"{value:.1f}/s"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    """A left-aligned text table, or a Markdown table."""
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _training_cell(setup: Dict[str, Any], key: str) -> str:
    training = setup.get("training") or {}
    if "skipped" in training:
        return "skipped"
    return fmt(training.get(key), "s")


def quality_costs_rows(results: Results) -> List[List[str]]:
    """One row per setup: quality on the dev cases and the crisis suite, and the costs."""
    rows = []
    for name, s in results["setups"].items():
        dev = _get(s, "quality", "dev") or {}
        holdout = _get(s, "quality", "holdout") or {}
        crisis = _get(s, "quality", "crisis") or {}
        has_quality = bool(dev)
        missing = "n/a" if has_quality or name != "floor" else "-"
        rows.append([
            name,
            fmt(dev.get("faq"), "pct", missing), fmt(dev.get("emergency"), "pct", missing),
            fmt(dev.get("out_of_scope"), "pct", missing), fmt(dev.get("smalltalk"), "pct", missing),
            fmt(holdout.get("faq"), "pct", missing), fmt(holdout.get("out_of_scope"), "pct", missing),
            fmt(crisis.get("recall"), "pct", missing), fmt(crisis.get("over_escalation"), "pct", missing),
            fmt(s.get("cold_start_s"), "s"), fmt(s.get("peak_rss_mb"), "mb"),
            fmt(s.get("model_mb"), "mb", "-"),
            _training_cell(s, "scratch_s") if name != "floor" else "-",
            _training_cell(s, "incremental_s") if name != "floor" else "-",
        ])
    return rows


QUALITY_HEADERS = ["setup", "FAQ", "emergency", "out of scope", "smalltalk", "held-out FAQ", "held-out OOS",
                   "crisis recall", "over-escalation",
                   "cold start", "peak RSS", "model", "train (scratch)", "train (+1 example)"]
SPEED_HEADERS = ["setup", "clients", "requests", "errors", "p50", "p95", "p99", "throughput",
                 "p50 vs baseline", "p50 vs floor", "throughput vs baseline", "throughput vs floor"]


def speed_rows(results: Results) -> List[List[str]]:
    """One row per setup and concurrency level, with ratios to the baseline and the floor."""
    rows = []
    for name, s in results["setups"].items():
        vs_base = speed_ratios(results, name, "baseline")
        vs_floor = speed_ratios(results, name, "floor")
        for level, lv in (s.get("load") or {}).items():
            rows.append([
                name, level, fmt(lv.get("requests")), fmt(lv.get("errors")),
                fmt(lv.get("p50_ms"), "ms"), fmt(lv.get("p95_ms"), "ms"), fmt(lv.get("p99_ms"), "ms"),
                fmt(lv.get("throughput_rps"), "rps"),
                fmt(vs_base[level]["p50_ms"], "x"), fmt(vs_floor[level]["p50_ms"], "x"),
                fmt(vs_base[level]["throughput_rps"], "x"), fmt(vs_floor[level]["throughput_rps"], "x"),
            ])
    return rows


def target_rows(results: Results) -> List[List[str]]:
    """One row per target: goal, measured value, met/missed."""
    return [[t["goal"], t["shown"], t["status"]] for t in results.get("targets", [])]


def summary_text(results: Results) -> str:
    """The summary printed at the end of a run."""
    meta = results["meta"]
    parts = [
        f"Benchmark ({meta['mode']} mode, commit {meta['commit']}{' +changes' if meta.get('dirty') else ''}, "
        f"{meta['date']}, {meta['cpus']} CPUs, load average {meta.get('loadavg_start')} at start)",
        "",
        "Quality and costs",
        table(QUALITY_HEADERS, quality_costs_rows(results)),
        "",
        "Speed (POST /webhooks/rest/webhook)",
        table(SPEED_HEADERS, speed_rows(results)),
        "",
        "Targets (project vs baseline; reported, not asserted)",
        table(["target", "measured", "status"], target_rows(results)),
    ]
    return "\n".join(parts)


def summary_markdown(results: Results, plot_name: str | None) -> str:
    """The Markdown summary written next to the JSON results."""
    meta = results["meta"]
    lines = [
        f"# Benchmark {meta['date']} {meta['commit']} ({meta['mode']} mode)",
        "",
        f"- commit `{meta['commit']}`{' with uncommitted changes' if meta.get('dirty') else ''}; "
        f"Rasa {meta['rasa']}, Sanic {meta['sanic']}, Python {meta['python']}",
        f"- machine: {meta['cpus']} CPUs, load average {meta.get('loadavg_start')} at start, "
        f"{meta.get('loadavg_end')} at end (other work on the machine adds noise, and the setups, measured one "
        f"after the other, may not see the same load)",
        f"- inputs hash (config + domain + data): project {meta.get('project_inputs')}, "
        f"baseline {meta.get('baseline_inputs')}"
        + ("; **models/current.tar.gz is older than its training inputs**" if meta.get("project_model_stale") else ""),
        f"- run took {fmt(meta.get('duration_s'), 's')}; at most "
        + ", ".join(f"{n} requests at {c} client{'s' if c != '1' else ''}"
                    for c, n in (meta.get("requests") or {}).items())
        + f", each level within {meta.get('level_seconds')} s",
        "",
        "## Targets",
        "",
        table(["target", "measured", "status"], target_rows(results), markdown=True),
        "",
        "## Quality and costs",
        "",
        table(QUALITY_HEADERS, quality_costs_rows(results), markdown=True),
        "",
        "FAQ, emergency, out of scope and smalltalk: shares of the dev cases that the shared grader passes; "
        "held-out FAQ and OOS: the same grader on tests/holdout/cases.yml (messages in no training file). "
        "Crisis recall: share of tests/crisis/suite.yml's emergencies whose first reply message contains 911 and "
        "whose reply gives the center's line; over-escalation: share of its look-alikes whose first message "
        "contains 911. Cold start: process start to first answer. "
        "Peak RSS: VmHWM of the Rasa (or floor) process after the run; the action server's is in the JSON.",
        "",
        "## Speed",
        "",
        table(SPEED_HEADERS, speed_rows(results), markdown=True),
        "",
        "Latency ratios below 1x and throughput ratios above 1x mean faster than the reference.",
    ]
    if plot_name:
        lines += ["", f"![latency distribution]({plot_name})"]
    for note in meta.get("notes", []):
        lines += ["", f"> {note}"]
    return "\n".join(lines) + "\n"
