"""``python -m bench --cluster``: whole conversations at once against one server, clusters and the baseline.

The same load for every setup (:mod:`bench.cluster_load`): ``conversations`` visitors at once,
``turns`` messages each, over REST, each from its own loopback address. Setups:

* **single**: the project's server as ``make run`` starts it (``bench.servers``, SQLite, no nginx);
* **cluster-1**, **cluster-2**: ``bot.cluster`` with 1 and 2 Rasa servers (nginx, PostgreSQL, Redis);
* **baseline**: stock Rasa 3.6 (``bench.servers``' baseline setup), if its model is cached
  (``make bench`` trains it) or in full mode (trained now).

For each: throughput (answered turns per second of wall time), p50/p95/p99 latency, errors,
whether the clusters stored every conversation complete and in order, and the CPU seconds each
process used during the load (``/proc``, children included: PostgreSQL's backends), which show
what the machine's cores were spent on. ``--profile`` also records a py-spy flame graph of one
Rasa server of cluster-2. Results: ``bench/results/<date>-<commit>-cluster[-quick].{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

from bench import cluster_load, models
from bench.load import load_messages
from bench.report import fmt, table
from bench.servers import start_setup
from bench.settings import PROJECT_MODEL, RESULTS_DIR, ROOT, rel
from bot import launch
from bot import settings as settings_module
from bot.cluster import Cluster, Options

QUICK_SHAPE = (50, 8)
FULL_SHAPE = (50, 20)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its descendants, waited-for ones included."""
    total = 0.0
    for p in [pid, *_descendants(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += sum(int(x) for x in fields[11:15]) / CLK_TCK  # utime, stime, cutime, cstime
    return total


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores; /proc/stat, idle and iowait excluded)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def _descendants(pid: int) -> List[int]:
    out, todo = [], [pid]
    while todo:
        kids = launch.children(todo.pop())
        out += kids
        todo += kids
    return out


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def measure(name: str, base_url: str, pids: Dict[str, int], shape: tuple, database_url: str | None,
            during: Callable[[], Any] | None = None) -> Dict[str, Any]:
    """One setup under the load: its summary, CPU per process, and (with a database) the stored check."""
    messages = load_messages()
    cluster_load.run(base_url, cluster_load.plan(messages, 2, 3, tag=f"warm-{name}"))  # lazy loads, caches
    before = {k: cpu_seconds(pid) for k, pid in pids.items()}
    own, machine = os.times(), machine_busy_s()
    conversations = cluster_load.plan(messages, *shape)
    result = cluster_load.run(base_url, conversations, timeout_s=60, during=during)
    after = {k: cpu_seconds(pid) for k, pid in pids.items()}
    own_after, machine_after = os.times(), machine_busy_s()
    out = result.summary()
    cpu = {k: round(after[k] - before[k], 2) for k in pids}
    cpu["load generator"] = round(own_after.user + own_after.system - own.user - own.system, 2)
    out["cpu_s"] = cpu
    out["cores_used_by_setup"] = round(sum(cpu.values()) / result.wall_s, 2)
    out["cores_busy_machine"] = round((machine_after - machine) / result.wall_s, 2)  # other work included
    if database_url:
        out["stored_problems"] = cluster_load.verify(database_url, conversations)[:10]
    print(f"[{name}] {out['turns_answered']} turns in {out['wall_s']} s: {out['throughput_tps']} turns/s, "
          f"p50/p95/p99 {out.get('latency_ms_all')}, errors {out['errors']}, cpu {cpu}, cores busy: "
          f"{out['cores_used_by_setup']} by the setup, {out['cores_busy_machine']} in all", flush=True)
    return out


def _cluster(replicas: int, var: Path, logs: Path) -> Cluster:
    env = {"PORT": launch.free_port(), "WEB_PORT": launch.free_port(), "STAFF_PORT": launch.free_port(),
           "ACTIONS_PORT": launch.free_port(), "MODEL_SERVER_PORT": launch.free_port(), "VAR_DIR": var,
           "LOG_DIR": logs, "MODEL": PROJECT_MODEL}
    settings = settings_module.load({k: str(v) for k, v in env.items()})
    return Cluster(settings, Options(replicas=replicas, rate_per_s=100_000, burst=100_000))  # measure the servers


PROFILE_PARTS = {  # part of a turn -> a path in its stack frames (inclusive share of the busy samples)
    "NLU graph + policies (rasa/engine/graph.py)": "rasa/engine/graph.py",
    "conversation store (bot/store/tracker_store.py)": "bot/store/tracker_store.py",
    "SQL (sqlalchemy, psycopg2)": "sqlalchemy/",
    "lock store (bot/store/lock_store.py)": "bot/store/lock_store.py",
    "Redis client (redis/)": "redis/",
    "channels (bot/channels/)": "bot/channels/",
    "HTTP server (sanic/)": "sanic/",
    "tracker (de)serialisation (rasa/shared/core/trackers.py)": "rasa/shared/core/trackers.py",
}


def _profile(pid: int, seconds: float, out: Path) -> Callable[[], None]:
    """A job for the load's ``during``: py-spy samples ``pid`` (all threads, busy only) into ``out`` (raw)."""
    def record() -> None:
        py_spy = Path(sys.executable).parent / "py-spy"
        subprocess.run([str(py_spy), "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "100", "-o", str(out),
                        "--format", "raw", "--nonblocking"], capture_output=True, timeout=seconds + 60)
    return record


def profile_summary(raw: Path) -> Dict[str, Any]:
    """Inclusive share of the event loop's busy samples per part (:data:`PROFILE_PARTS`) of a py-spy raw profile.

    Only the main thread (Sanic's event loop, whose stacks start at ``<module>``) counts: the
    conversation store's worker threads mostly wait on the database (py-spy counts a thread in a
    C call as busy), so counting them would hide what the loop, the one core a server uses, spends.
    """
    total, parts = 0, {name: 0 for name in PROFILE_PARTS}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or not stack.startswith("<module>"):
            continue
        total += int(count)
        for name, marker in PROFILE_PARTS.items():
            if marker in stack:
                parts[name] += int(count)
    return {"samples": total, "share": {k: round(v / total, 3) if total else None for k, v in parts.items()}}


def run_cluster(name: str, replicas: int, shape: tuple, raw: Path, profile: bool) -> Dict[str, Any]:
    """Starts a cluster in a throw-away VAR_DIR, measures it, stops it (by PID) and removes its files."""
    var = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    os.chmod(var, 0o755)  # PostgreSQL's and Redis's users must reach their folders in it
    cluster: Cluster | None = None
    try:
        cluster = _cluster(replicas, var, raw / "logs" / name)
        print(f"[{name}] starting {replicas} Rasa server(s) behind nginx, PostgreSQL, Redis...", flush=True)
        cluster.start()
        names = [*(r.name for r in cluster.replicas), "nginx", "postgres", "redis"]
        pids = {n: cluster.process(n).pid for n in names}
        during, profile_file = None, raw / f"{name}-rasa-1-profile.txt"
        if profile:
            during = _profile(pids["rasa-1"], 15, profile_file)
        out = measure(name, cluster.public_url, pids, shape, cluster.database_url, during)
        if profile and profile_file.exists():
            out["profile_rasa_1"] = {"file": rel(profile_file), **profile_summary(profile_file)}
            print(f"[{name}] profile of rasa-1: {out['profile_rasa_1']}", flush=True)
        return out
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(var, ignore_errors=True)


def run_single(setup: str, model: Path, shape: tuple, raw: Path) -> Dict[str, Any]:
    """The project's (or the baseline's) single server, as the main bench starts it."""
    running = start_setup(setup, model, raw / "logs")
    try:
        base = running.url[: -len(cluster_load.WEBHOOK_PATH)]
        pids = {"rasa": running.server.pid}
        if running.actions is not None:
            pids["actions"] = running.actions.pid
        return measure(setup, base, pids, shape, None)
    finally:
        running.stop()


def markdown(results: Dict[str, Any]) -> str:
    """The summary table."""
    rows = []
    for name, r in results["setups"].items():
        if "error" in r:
            rows.append([name, "n/a", "n/a", "n/a", "n/a", r["error"][:60], "", "", ""])
            continue
        lat = r.get("latency_ms_all", {})
        stored = "n/a" if "stored_problems" not in r else ("ok" if not r["stored_problems"] else "PROBLEMS")
        rows.append([name, fmt(r["throughput_tps"]), fmt(lat.get("p50"), "ms"), fmt(lat.get("p95"), "ms"),
                     fmt(lat.get("p99"), "ms"), str(r["unanswered"]), stored,
                     f"{r['cores_used_by_setup']} / {r['cores_busy_machine']}",
                     ", ".join(f"{k} {v}" for k, v in r["cpu_s"].items())])
    head = ["setup", "turns/s", "p50", "p95", "p99", "unanswered", "stored", "cores: setup / machine",
            "CPU seconds during the load"]
    meta = results["meta"]
    return (f"# Cluster benchmark {meta['date']} ({meta['commit']}, {meta['mode']})\n\n"
            f"{meta['conversations']} conversations of {meta['turns']} turns at once over REST; "
            f"{meta['cpus']} cores; load average {meta['loadavg_start']} at start, {meta.get('loadavg_end')} at the "
            f"end. Cores: how many cores the setup's processes kept busy on average, and the whole machine "
            f"(other work included).\n\n"
            + table(head, rows, markdown=True) + "\n")


def main(quick: bool = False, profile: bool = False, setups: List[str] | None = None) -> int:
    """Measures every setup; writes the JSON and Markdown results; 0 unless a setup failed."""
    shape = QUICK_SHAPE if quick else FULL_SHAPE
    commit = _git("rev-parse", "--short", "HEAD") or "nocommit"
    stem = f"{time.strftime('%Y-%m-%d')}-{commit}-cluster" + ("-quick" if quick else "")
    raw = RESULTS_DIR / "raw" / stem
    (raw / "logs").mkdir(parents=True, exist_ok=True)
    chosen = setups or ["single", "cluster-1", "cluster-2", "baseline"]
    results: Dict[str, Any] = {"meta": {
        "date": time.strftime("%Y-%m-%d"), "commit": commit, "mode": "quick" if quick else "full",
        "conversations": shape[0], "turns": shape[1], "cpus": os.cpu_count(),
        "loadavg_start": " ".join(f"{v:.2f}" for v in os.getloadavg())}, "setups": {}}
    for name in chosen:
        try:
            if name == "single":
                results["setups"][name] = run_single("project", PROJECT_MODEL, shape, raw)
            elif name.startswith("cluster-"):
                results["setups"][name] = run_cluster(name, int(name.split("-")[1]), shape, raw,
                                                      profile and name == "cluster-2")
            elif name == "baseline":
                model = models.cached_baseline() if quick else models.ensure_baseline(raw / "logs" / "baseline.log")
                if model is None:
                    results["setups"][name] = {"error": "no cached baseline model (make bench trains it)"}
                    continue
                results["setups"][name] = run_single("baseline", model, shape, raw)
        except Exception as e:  # one setup failing must not lose the others' numbers
            results["setups"][name] = {"error": f"{type(e).__name__}: {str(e)[:1500]}"}
            print(f"[{name}] FAILED: {str(e)[:1500]}", flush=True)
    results["meta"]["loadavg_end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    (RESULTS_DIR / f"{stem}.md").write_text(markdown(results))
    print("\n" + markdown(results))
    failed = [n for n, r in results["setups"].items()
              if "error" in r or r.get("unanswered") or r.get("stored_problems")]
    print(f"bench cluster: {'FAILED: ' + ', '.join(failed) if failed else 'done'}; results in "
          f"{rel(RESULTS_DIR / stem)}.{{json,md}}")
    return 1 if failed else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help=f"{QUICK_SHAPE[1]} turns per conversation, cached baseline only")
    ap.add_argument("--profile", action="store_true", help="py-spy flame graph of rasa-1 in cluster-2")
    ap.add_argument("--setups", default="single,cluster-1,cluster-2,baseline", help="comma-separated subset")
    cli = ap.parse_args()
    os.chdir(ROOT)
    sys.exit(main(cli.quick, cli.profile, [x.strip() for x in cli.setups.split(",") if x.strip()]))
