"""`make bench`: quality, speed and costs of the project, Rasa's default pipeline and a bare floor.

    python -m bench [--quick] [--setups project,baseline,floor]

Writes bench/results/<date>-<commit>[-quick].{json,md,png} (raw replies, latencies and
server logs under bench/results/raw/) and prints the summary table. See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import rasa
import sanic

from bench import costs, load, models, plot, quality, report
from bench.servers import peak_rss_mb, start_setup, stop_all
from bench.settings import (
    BASELINE_CONFIG,
    CONCURRENCY,
    DEV_CASES,
    FULL,
    HOLDOUT_CASES,
    PROJECT_CONFIG,
    PROJECT_MODEL,
    QUICK,
    RESULTS_DIR,
    ROOT,
    SETUPS,
    WEBHOOK_PATH,
    Budget,
    rel,
)
from bot.evaluation.grading import GRADER


def git(*args: str) -> str:
    """Output of a git command in the project, '' if git fails."""
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def loadavg() -> str:
    """The 1/5/15-minute load averages, e.g. '1.52 1.40 1.33'."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def measure_setup(setup: str, model: Path | None, budget: Budget, raw: Path, messages: List[str],
                  latencies: Dict[str, Dict[str, List[float]]], entry: Dict[str, Any]) -> None:
    """Starts one setup, measures cold start, quality, load and peak memory into ``entry``, and stops it."""
    print(f"[{setup}] starting the server{'s' if setup != 'floor' else ''}...", flush=True)
    running = start_setup(setup, model, raw / "logs")
    entry.update({"url": running.url, "cold_start_s": round(running.cold_start_s, 2)})
    try:
        print(f"[{setup}] answering after {running.cold_start_s:.1f}s (PID {running.server.pid})", flush=True)
        if running.actions_start_s is not None:
            entry["action_server_start_s"] = round(running.actions_start_s, 2)
        if model is not None:
            entry["model"] = rel(model)
            entry["model_mb"] = costs.size_mb(model)
        if setup != "floor":
            print(f"[{setup}] grading the dev cases ({rel(DEV_CASES.parent)}/{DEV_CASES.name})...", flush=True)
            dev = quality.grade_cases(running.url, raw / f"grade-{setup}.json")
            print(f"[{setup}] grading the held-out cases ({rel(HOLDOUT_CASES)})...", flush=True)
            holdout = quality.grade_cases(running.url, raw / f"grade-holdout-{setup}.json", cases=HOLDOUT_CASES)
            print(f"[{setup}] running the crisis suite...", flush=True)
            crisis = quality.crisis_suite(running.url, raw / f"crisis-{setup}.json", timeout_s=budget.request_timeout_s)
            entry["quality"] = {"dev": dev, "holdout": holdout, "crisis": crisis}
            print(f"[{setup}] FAQ {report.fmt(dev['faq'], 'pct')}, crisis recall "
                  f"{report.fmt(crisis['recall'], 'pct')}, over-escalation "
                  f"{report.fmt(crisis['over_escalation'], 'pct')}", flush=True)
        load.warm_up(running.url, messages, budget.warmup_requests, budget.request_timeout_s)
        entry["load"] = {}
        latencies[setup] = {}
        for clients in CONCURRENCY:
            total = budget.requests[clients]
            print(f"[{setup}] load: {clients} client{'s' if clients > 1 else ''}, up to {total} requests "
                  f"or {budget.level_seconds:.0f}s...", flush=True)
            lv = load.run_level(running.url, messages, clients, total, budget.level_seconds,
                                budget.request_timeout_s, setup)
            summary = report.latency_summary(lv.latencies_s, lv.errors, lv.wall_s, lv.empty_replies,
                                             lv.stopped_by_time)
            if lv.error_kinds:
                summary["error_kinds"] = lv.error_kinds
            entry["load"][str(clients)] = summary
            latencies[setup][str(clients)] = [round(v * 1000, 2) for v in lv.latencies_s]
            print(f"[{setup}]   p50 {report.fmt(summary['p50_ms'], 'ms')}, p99 {report.fmt(summary['p99_ms'], 'ms')}, "
                  f"{report.fmt(summary['throughput_rps'], 'rps')}, {summary['errors']} errors", flush=True)
        entry["peak_rss_mb"] = peak_rss_mb(running.server.pid)
        if running.actions is not None:
            entry["action_server_peak_rss_mb"] = peak_rss_mb(running.actions.pid)
    finally:
        running.stop()
        print(f"[{setup}] stopped", flush=True)


def measure(budget: Budget, setups: List[str], raw: Path, results: Dict[str, Any], failures: List[str],
            latencies: Dict[str, Dict[str, List[float]]]) -> None:
    """Training times (full mode), then each setup in turn; fills ``results`` as numbers come in.

    A setup that fails is recorded with its error and the run goes on; an interruption
    (Ctrl-C, SIGTERM) propagates with what was measured so far already in ``results``.
    """
    setups_out: Dict[str, Any] = results["setups"]
    if budget.train:
        keep = raw / "baseline-scratch.tar.gz"
        baseline_key = models.baseline_hash()
        need_baseline = models.cached_baseline() is None
        for setup, config in (("project", PROJECT_CONFIG), ("baseline", BASELINE_CONFIG)):
            if setup not in setups:
                continue
            training = setups_out.setdefault(setup, {}).setdefault("training", {})
            try:
                costs.training_times(setup, config, raw / "logs", training,
                                     keep if setup == "baseline" and need_baseline else None)
            except Exception as e:
                failures.append(f"training {setup}: {e}")
                training["error"] = str(e)[:2000]
                print(f"[{setup}] training failed: {str(e)[:500]}", flush=True)
        if need_baseline and keep.exists() and models.baseline_hash() == baseline_key:
            models.store_baseline(keep, baseline_key, setups_out["baseline"]["training"].get("scratch_s"))
            keep.unlink()
    else:
        for setup in ("project", "baseline"):
            if setup in setups:
                setups_out.setdefault(setup, {})["training"] = {"skipped": "quick mode"}

    messages = load.load_messages()
    for setup in setups:
        entry = setups_out.setdefault(setup, {})
        try:
            model: Path | None = None
            if setup in ("project", "project-memory"):
                model = PROJECT_MODEL
            elif setup == "baseline":
                model = models.ensure_baseline(raw / "logs" / "baseline-train.log")
            measure_setup(setup, model, budget, raw, messages, latencies, entry)
        except Exception as e:
            failures.append(f"{setup}: {e}")
            entry["error"] = str(e)[:2000]
            print(f"[{setup}] FAILED: {str(e)[:1500]}", flush=True)


def run(budget: Budget, setups: List[str]) -> int:
    """The whole benchmark; returns the exit code (0 unless a measurement failed)."""
    t0 = time.perf_counter()
    commit = git("rev-parse", "--short", "HEAD") or "nocommit"
    date = time.strftime("%Y-%m-%d")
    stem = f"{date}-{commit}" + ("-quick" if budget.mode == "quick" else "")
    raw = RESULTS_DIR / "raw" / stem
    (raw / "logs").mkdir(parents=True, exist_ok=True)
    for needed in (PROJECT_MODEL, GRADER, DEV_CASES):
        if not needed.exists():
            print(f"bench: FAILED: {needed} is missing" + (" (run `make train`)" if needed == PROJECT_MODEL else ""))
            return 1
    meta: Dict[str, Any] = {
        "date": date, "commit": commit, "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "mode": budget.mode, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(), "rasa": rasa.__version__, "sanic": sanic.__version__,
        "cpus": os.cpu_count(), "loadavg_start": loadavg(),
        "project_inputs": models.project_hash(), "baseline_inputs": models.baseline_hash(),
        "project_model_stale": models.project_model_stale(),
        "requests": {str(k): v for k, v in budget.requests.items()}, "level_seconds": budget.level_seconds,
        "setups": {
            "project": "rasa run models/current.tar.gz, credentials.yml (project channels), endpoints.yml "
                       "(action server, crisis alert broker, SQLite conversation store) + action server "
                       "(bot.launch, as make run)",
            "project-memory": "project with bench/memory_endpoints.yml: Rasa's in-memory conversations "
                              "(reference for the cost of the durable store)",
            "baseline": "rasa run bench/models/baseline.tar.gz (bench/baseline_config.yml on the same data and "
                        "domain), bench/baseline_credentials.yml (stock rest), endpoints.yml + action server",
            "floor": "bench/floor_server.py: bare Sanic, fixed JSON reply",
        },
        "notes": [],
    }
    if meta["project_model_stale"]:
        meta["notes"].append("models/current.tar.gz is older than config.yml, domain.yml or data/: "
                             "the project's numbers are for the model as built, not the current inputs.")
    results: Dict[str, Any] = {"meta": meta, "setups": {}}
    failures: List[str] = []
    latencies: Dict[str, Dict[str, List[float]]] = {}
    print(f"bench: {budget.mode} mode, commit {commit}, setups {', '.join(setups)}; raw output in {rel(raw)}",
          flush=True)
    interrupted: str | None = None
    try:
        measure(budget, setups, raw, results, failures, latencies)
    except KeyboardInterrupt:
        interrupted = "Ctrl-C"
    except SystemExit as e:
        if e.code != 143:
            raise
        interrupted = "SIGTERM"
    if interrupted:
        stop_all()
        meta["interrupted"] = interrupted
        meta["notes"].append(f"Interrupted ({interrupted}): partial results, the missing numbers are n/a.")
        stem += "-partial"

    results["ratios"] = {f"{a}_vs_{b}": report.speed_ratios(results, a, b)
                         for a, b in (("project", "baseline"), ("project", "floor"), ("baseline", "floor"),
                                      ("project", "project-memory"))
                         if a in results["setups"] and b in results["setups"]}
    results["targets"] = report.evaluate_targets(results)
    meta["loadavg_end"] = loadavg()
    meta["duration_s"] = round(time.perf_counter() - t0, 1)
    meta["failures"] = failures

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out_json = RESULTS_DIR / f"{stem}.json"
    out_md = RESULTS_DIR / f"{stem}.md"
    out_png = RESULTS_DIR / f"{stem}.png"
    (raw / "latencies_ms.json").write_text(json.dumps(latencies))
    plot_name: str | None = None
    if latencies:
        try:
            plot.latency_cdf(latencies, out_png, f"Latency CDF, POST {WEBHOOK_PATH} ({budget.mode} mode, {stem})")
            plot_name = out_png.name
        except Exception as e:  # a missing plot must not lose the numbers
            failures.append(f"plot: {e}")
    out_json.write_text(json.dumps(results, indent=1) + "\n")
    out_md.write_text(report.summary_markdown(results, plot_name))

    print("\n" + report.summary_text(results) + "\n")
    targets = results["targets"]
    counts = {s: sum(t["status"] == s for t in targets) for s in ("met", "missed", "n/a")}
    files = f"{rel(out_json)}, {out_md.name}" + (f", {out_png.name}" if plot_name else "")
    duration = f"{meta['duration_s'] // 60:.0f}m{meta['duration_s'] % 60:02.0f}s"
    if interrupted:
        print(f"bench: INTERRUPTED ({interrupted}) after {duration}; every server it started was stopped; "
              f"partial results in {files}")
        return 130 if interrupted == "Ctrl-C" else 143
    if failures:
        print(f"bench: FINISHED WITH {len(failures)} FAILURE(S) ({'; '.join(f[:120] for f in failures)}) "
              f"in {duration}; results in {files}")
        return 1
    print(f"bench: done ({budget.mode} mode) in {duration}: targets {counts['met']} met, {counts['missed']} missed, "
          f"{counts['n/a']} n/a; results in {files}")
    return 0


def main(argv: List[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="cached models, fewer requests, no training-time measurements (under 5 minutes)")
    ap.add_argument("--setups", default=",".join(SETUPS),
                    help="comma-separated subset of project,baseline,floor (default: all)")
    ap.add_argument("--cluster", action="store_true",
                    help="whole conversations at once: one server, clusters of 1 and 2, baseline (bench/cluster.py)")
    args = ap.parse_args(argv)
    if args.cluster:
        from bench import cluster

        os.chdir(ROOT)
        return cluster.main(args.quick)
    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    unknown = [s for s in setups if s not in SETUPS]
    if unknown:
        ap.error(f"unknown setup(s): {', '.join(unknown)}")
    os.chdir(ROOT)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(QUICK if args.quick else FULL, setups)
    except KeyboardInterrupt:
        stop_all()
        print("\nbench: INTERRUPTED (Ctrl-C); every server it started was stopped.")
        return 130
    except SystemExit as e:
        if e.code == 143:
            stop_all()
            print("\nbench: TERMINATED (SIGTERM); every server it started was stopped.")
        raise
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
