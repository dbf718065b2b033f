"""Pure functions of the benchmark report: percentiles, ratios, targets, tables (no servers)."""
from __future__ import annotations

from typing import Any, Dict

import pytest

from bench.report import (
    evaluate_targets,
    fmt,
    latency_summary,
    peak_throughput,
    percentile,
    ratio,
    speed_ratios,
    summary_markdown,
    summary_text,
    table,
)


def test_percentile_matches_linear_interpolation():
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 25) == 2.0
    assert percentile([1.0, 2.0], 50) == pytest.approx(1.5)
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)


def test_percentile_of_one_value_and_of_none():
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_latency_summary_counts_errors_and_throughput():
    s = latency_summary([0.010, 0.020, 0.030, 0.040], errors=1, wall_s=2.0)
    assert s["requests"] == 5 and s["ok"] == 4 and s["errors"] == 1
    assert s["p50_ms"] == pytest.approx(25.0)
    assert s["max_ms"] == pytest.approx(40.0)
    assert s["throughput_rps"] == pytest.approx(2.0)


def test_latency_summary_with_nothing_answered():
    s = latency_summary([], errors=3, wall_s=1.0)
    assert s["p50_ms"] is None and s["throughput_rps"] is None and s["errors"] == 3


def test_ratio():
    assert ratio(10.0, 40.0) == 0.25
    assert ratio(None, 1.0) is None
    assert ratio(1.0, None) is None
    assert ratio(1.0, 0.0) is None


def test_peak_throughput_ignores_missing_levels():
    assert peak_throughput({"1": {"throughput_rps": 5.0}, "8": {"throughput_rps": 9.0},
                            "32": {"throughput_rps": None}}) == 9.0
    assert peak_throughput({}) is None


def level(p50: float, rps: float, errors: int = 0, requests: int = 100) -> Dict[str, Any]:
    return {"p50_ms": p50, "p95_ms": p50 * 2, "p99_ms": p50 * 3, "throughput_rps": rps,
            "errors": errors, "requests": requests}


def results(faq_project: float = 0.95, faq_baseline: float = 0.85, p50_project: float = 20.0,
            p50_baseline: float = 50.0, rps_project: float = 60.0, rps_baseline: float = 20.0,
            errors_32: int = 0) -> Dict[str, Any]:
    return {
        "meta": {"date": "2025-01-01", "commit": "abc1234", "mode": "quick", "cpus": 2, "rasa": "3.6.21",
                 "sanic": "21.12.2", "python": "3.10.13", "loadavg_start": "1.00 1.00 1.00"},
        "setups": {
            "project": {"quality": {"dev": {"faq": faq_project}, "crisis": {"recall": 1.0, "over_escalation": 0.0}},
                        "load": {"1": level(p50_project, rps_project / 2),
                                 "32": level(p50_project * 10, rps_project, errors=errors_32)},
                        "training": {"skipped": "quick mode"}},
            "baseline": {"quality": {"dev": {"faq": faq_baseline}},
                         "load": {"1": level(p50_baseline, rps_baseline / 2),
                                  "32": level(p50_baseline * 10, rps_baseline)}},
            "floor": {"load": {"1": level(1.0, 1000.0), "32": level(10.0, 2000.0)}},
        },
    }


def by_name(r: Dict[str, Any]) -> Dict[str, str]:
    return {t["name"]: t["status"] for t in evaluate_targets(r)}


def test_all_targets_met():
    assert by_name(results()) == {"faq_accuracy": "met", "p50_latency_1_client": "met",
                                  "zero_errors_32_clients": "met", "throughput": "met"}


def test_targets_missed():
    r = results(faq_project=0.88, p50_project=30.0, rps_project=30.0, errors_32=2)
    assert set(by_name(r).values()) == {"missed"}


def test_targets_at_the_boundaries_are_met():
    r = results(faq_project=0.90, faq_baseline=0.85, p50_project=25.0, p50_baseline=50.0,
                rps_project=40.0, rps_baseline=20.0)
    statuses = by_name(r)
    assert statuses["faq_accuracy"] == "met"
    assert statuses["p50_latency_1_client"] == "met"
    assert statuses["throughput"] == "met"


def test_targets_without_a_baseline_are_not_applicable():
    r = results()
    del r["setups"]["baseline"]
    statuses = by_name(r)
    assert statuses["faq_accuracy"] == "n/a"
    assert statuses["p50_latency_1_client"] == "n/a"
    assert statuses["throughput"] == "n/a"
    assert statuses["zero_errors_32_clients"] == "met"


def test_speed_ratios_against_the_floor_and_the_baseline():
    r = results()
    vs_base = speed_ratios(r, "project", "baseline")
    assert vs_base["1"]["p50_ms"] == pytest.approx(0.4)
    assert vs_base["peak"]["throughput_rps"] == pytest.approx(3.0)
    vs_floor = speed_ratios(r, "project", "floor")
    assert vs_floor["1"]["p50_ms"] == pytest.approx(20.0)


def test_fmt_and_tables():
    assert fmt(0.9534, "pct") == "95.3%"
    assert fmt(1534.0, "ms") == "1.53 s"
    assert fmt(12.34, "ms") == "12.3 ms"
    assert fmt(None) == "n/a"
    assert fmt(None, "s", "skipped") == "skipped"
    text = table(["a", "bb"], [["1", "2"]])
    assert text.splitlines()[0] == "a  bb"
    md = table(["a", "b"], [["1", "2"]], markdown=True)
    assert md.splitlines()[1] == "|---|---|"


def test_summaries_render_every_setup_and_target():
    r = results()
    r["targets"] = evaluate_targets(r)
    text = summary_text(r)
    for name in ("project", "baseline", "floor", "skipped", "FAQ accuracy"):
        assert name in text
    md = summary_markdown(r, "plot.png")
    assert "![latency distribution](plot.png)" in md and "| met |" in md
