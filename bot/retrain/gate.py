"""The retraining gate: evaluate a model, compare it with the running one, decide whether to promote it.

:func:`evaluate` starts a throwaway action server and Rasa server on the model (free loopback
ports, a temporary VAR_DIR, an endpoints file with only the action server: no model server, no
database, no event broker, so no staff alert and no conversation is ever written by an
evaluation; the operator's webhook and database settings never reach it), then runs

- the shared grader (:mod:`bot.evaluation.grading`) on the development set
  (``../shared/eval/dev_cases.yml``): FAQ accuracy, emergency, out of scope, small talk,
  over-escalation, and each case's verdict;
- the crisis suite (``tests/crisis/suite.yml``, :mod:`bot.evaluation.crisis`): emergency recall
  and over-escalation, and each miss;
- meanwhile, in a child process (``python -m bot.retrain.gate``, ``Agent.load``), the model parses
  each development message: the labels of the per-topic F1 and the confusion matrix
  (:mod:`bot.retrain.report`).

An evaluation is cached under a key made of the model's sha256, the evaluation sets and the code that
shapes replies (:data:`REPLY_CODE`: the pipeline's components, the crisis patterns, the channels...),
so the running model is evaluated once, not on every retrain, and again when any of it changes.

:func:`decide` promotes only if emergency recall is 1.0 on the crisis suite and on the development
set's emergencies, no answer is waiting for approval, and FAQ accuracy is not lower than the running
model's by more than the margin (RETRAIN_FAQ_MARGIN); it lists what got worse, with examples.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Sequence

import yaml

from bot import launch
from bot import settings as settings_module
from bot.evaluation import crisis, grading
from bot.retrain import report
from bot.retrain.models import sha256_file
from bot.settings import CRISIS_SUITE, ROOT, SHARED_EVAL

DEV_CASES = SHARED_EVAL / "dev_cases.yml"
EVAL_FILES = (DEV_CASES, SHARED_EVAL / "topics.yml", grading.GRADER, CRISIS_SUITE)
QUESTIONS = ("faq", "smalltalk")  # development set kinds whose "not understood" counts as a fallback
EXAMPLES = 5  # examples shown per thing that got worse
F1_DROP = 0.1  # a topic whose F1 drops by more than this is listed as worse (not a reason to refuse)
CACHE_KEEP = 30

Say = Callable[[str], None]


REPLY_CODE = ("bot/nlu", "bot/crisis", "bot/channels", "bot/evaluation", "bot/facts.py", "bot/names.py",
              "bot/action_server.py", "actions", "credentials.yml", "data/suggestions.yml")


def code_files() -> List[Path]:
    """What shapes a model's replies besides the model: the pipeline's components and crisis rules, the
    channels, the grading, the custom actions, the "did you mean" questions (read at run time)."""
    files: List[Path] = []
    for name in REPLY_CODE:
        path = ROOT / name
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".py", ".yml") and p.is_file()
                            and "__pycache__" not in p.parts)
        elif path.exists():
            files.append(path)
    return files


def eval_key(model_sha: str) -> str:
    """The cache key of an evaluation: the model, the evaluation sets and the code."""
    digest = hashlib.sha256(model_sha.encode())
    for path in [*EVAL_FILES, *code_files()]:
        digest.update(path.name.encode())
        digest.update(sha256_file(path).encode() if path.exists() else b"-")
    return digest.hexdigest()


# --- one evaluation ----------------------------------------------------------------------------

@dataclass
class Evaluation:
    """The scores of one model (JSON-ready ``data``), with the numbers the gate reads."""

    data: Dict[str, Any]

    def dev_rate(self, kind: str) -> float | None:
        """A grader rate of the development set (``faq``, ``emergency``, ``out_of_scope``...)."""
        value = (self.data.get("dev") or {}).get(kind)
        if isinstance(value, (list, tuple)):
            return None if value[0] is None else float(value[0])
        return None if value is None else float(value)

    @property
    def faq(self) -> float | None:
        """FAQ accuracy on the development set."""
        return self.dev_rate("faq")

    @property
    def recall(self) -> float | None:
        """Emergency recall on the crisis suite."""
        return (self.data.get("crisis") or {}).get("recall")

    @property
    def over_escalation(self) -> float | None:
        """Over-escalation on the crisis suite's look-alikes."""
        return (self.data.get("crisis") or {}).get("over_escalation")

    @property
    def sha256(self) -> str:
        """The evaluated model's sha256."""
        return str(self.data.get("model_sha256", ""))

    def summary(self) -> Dict[str, Any]:
        """The data without the per-case lists (what a report keeps of the running model)."""
        return {k: v for k, v in self.data.items() if k not in ("dev_results", "parsed")}

    def parsed(self) -> List[report.Parsed]:
        """The development messages as (expected, predicted, text)."""
        return [(str(e), str(p), str(t)) for e, p, t in self.data.get("parsed") or []]


def eval_settings(model: Path, log_dir: Path, var_dir: Path) -> settings_module.Settings:
    """Settings of the throwaway servers, from these values only (no operator webhook or database)."""
    names = ("PORT", "ACTIONS_PORT", "WEB_PORT", "STAFF_PORT", "MODEL_SERVER_PORT")
    ports = {name: str(port) for name, port in zip(names, launch.free_ports(len(names)))}
    return settings_module.load({**ports, "INTERFACE": "127.0.0.1", "ACTIONS_INTERFACE": "127.0.0.1",
                                 "MODEL": str(model), "LOG_DIR": str(log_dir), "VAR_DIR": str(var_dir)})


def write_eval_endpoints(path: Path, actions_port: int) -> Path:
    """An endpoints file with the action server only: in-memory conversations, no broker, no model server."""
    path.write_text(yaml.safe_dump({"action_endpoint": {"url": f"http://127.0.0.1:{actions_port}/webhook"}}),
                    encoding="utf-8")
    return path


_STARTED: Dict[int, launch.Process] = {}  # throwaway servers running now, by PID
_STARTED_LOCK = threading.Lock()


def stop_all() -> None:
    """Stops every throwaway server still running (after an interruption), each by its PID."""
    with _STARTED_LOCK:
        running = list(_STARTED.values())
    for process in running:
        process.stop(grace_s=5)


class EvalServers:
    """A throwaway action server and Rasa server on one model; stopped (by PID) on exit."""

    def __init__(self, model: Path, log_dir: Path, name: str, start_timeout_s: float = 240.0) -> None:
        self.var_dir = Path(tempfile.mkdtemp(prefix=f"retrain-{name}-"))
        self.settings = eval_settings(model, log_dir, self.var_dir)
        endpoints = write_eval_endpoints(self.var_dir / "endpoints.yml", self.settings.actions_port)
        self.services = [launch.action_server(self.settings, name=f"retrain-{name}-actions"),
                         launch.rasa_server(self.settings, model=model, endpoints=endpoints,
                                            name=f"retrain-{name}-rasa")]
        self.start_timeout_s = start_timeout_s
        self.processes: List[launch.Process] = []

    @property
    def url(self) -> str:
        """The REST webhook."""
        return f"http://127.0.0.1:{self.settings.port}/webhooks/rest/webhook"

    def __enter__(self) -> "EvalServers":
        try:
            for service in self.services:  # both start at once
                process = launch.Process(service).start()
                self.processes.append(process)
                with _STARTED_LOCK:
                    _STARTED[process.pid] = process
            for process in self.processes:
                process.wait_healthy(self.start_timeout_s)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            process.stop()
            with _STARTED_LOCK:
                _STARTED.pop(process.pid, None)
        shutil.rmtree(self.var_dir, ignore_errors=True)


def expected_label(case: Mapping[str, Any]) -> str:
    """A development case's label: its FAQ topic, or its kind (emergency, out_of_scope) or small-talk topic."""
    kind = str(case.get("kind"))
    return str(case.get("topic")) if kind in ("faq", "smalltalk") else kind


def predicted_label(parse: Mapping[str, Any]) -> str:
    """What the model understood: the FAQ answer chosen for ``faq``, else the intent."""
    intent = parse.get("intent") or {}
    name = str(intent.get("name") or "")
    if name == "faq":
        full = intent.get("full_retrieval_intent_name") or (
            ((parse.get("response_selector") or {}).get("faq") or {}).get("response", {}).get("intent_response_key"))
        return str(full).split("/", 1)[1] if full and "/" in str(full) else "faq"
    return name or "?"


def parse_cases(model: Path, cases: Sequence[Mapping[str, Any]], log: Path, timeout_s: float = 900.0
                ) -> List[report.Parsed]:
    """Each case parsed by the model, in a child process (``python -m bot.retrain.gate``, output in ``log``)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="retrain-parse-") as tmp:
        cases_path, out = Path(tmp) / "cases.json", Path(tmp) / "parsed.json"
        cases_path.write_text(json.dumps(list(cases)), encoding="utf-8")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", SQLALCHEMY_SILENCE_UBER_WARNING="1",
                   RASA_TELEMETRY_ENABLED="false", PYTHONWARNINGS="ignore")
        with open(log, "ab") as f:
            done = subprocess.run([sys.executable, "-m", "bot.retrain.gate", str(model), str(cases_path), str(out)],
                                  cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout_s)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"parsing the development set with {model} failed (exit {done.returncode}); see {log}")
        return [(str(e), str(p), str(t)) for e, p, t in json.loads(out.read_text(encoding="utf-8"))]


def _parse_in_process(model: Path, cases: Sequence[Mapping[str, Any]]) -> List[report.Parsed]:
    """Loads the model here (``Agent.load``) and parses each case, its last context message as the previous one."""
    import logging

    import structlog
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage

    from bot.channels.context import with_previous

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    agent = Agent.load(str(model))

    async def parse_all() -> List[report.Parsed]:
        out = []
        assert agent.processor is not None
        for case in cases:
            context = case.get("context") or []
            metadata = with_previous(None, str(context[-1])) if context else None
            parse = await agent.processor.parse_message(UserMessage(str(case["text"]), metadata=metadata))
            out.append((expected_label(case), predicted_label(parse), str(case["text"])))
        return out

    return asyncio.run(parse_all())


def _dev_results(grade: grading.Grade) -> List[Dict[str, Any]]:
    rows = []
    for r in grade.results:
        case = r.get("case") or {}
        rows.append({"text": case.get("text"), "kind": case.get("kind"), "topic": case.get("topic"),
                     "ok": bool(r.get("ok")), "escalated": bool(r.get("escalated")),
                     "reply": " ".join(str(r.get("reply") or "").split())[:200]})
    return rows


def evaluate(model: Path, log_dir: Path, name: str, say: Say = print, cache_dir: Path | None = None,
             start_timeout_s: float = 240.0) -> Evaluation:
    """Scores ``model`` on the development set and the crisis suite (from the cache when it can)."""
    started = time.perf_counter()
    model_sha = sha256_file(model)
    key = eval_key(model_sha)
    cached = cache_dir / f"{key}.json" if cache_dir is not None else None
    if cached is not None and cached.exists():
        try:
            data = json.loads(cached.read_text(encoding="utf-8"))
            say(f"{name}: scores of model {model_sha[:12]} from the cache (same model, evaluation sets and code)")
            return Evaluation(data)
        except ValueError:
            cached.unlink(missing_ok=True)
    cases = yaml.safe_load(DEV_CASES.read_text(encoding="utf-8"))
    suite = crisis.load_suite(CRISIS_SUITE)
    log = log_dir / f"parse-{name.replace(' ', '-')}.log"

    def parse() -> List[report.Parsed]:
        begun = time.perf_counter()
        out = parse_cases(model, cases, log)
        say(f"{name}: {len(out)} development messages parsed by the model in {time.perf_counter() - begun:.1f} s")
        return out

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        parsing = pool.submit(parse)
        say(f"{name}: starting a throwaway server on model {model_sha[:12]}...")
        with EvalServers(model, log_dir, name, start_timeout_s) as servers:
            begun = time.perf_counter()
            say(f"{name}: server up in {begun - started:.1f} s; grading {len(cases)} development cases and "
                f"{len(suite)} crisis-suite messages...")
            with tempfile.TemporaryDirectory(prefix="retrain-grade-") as tmp:
                graded = grading.grade(servers.url, DEV_CASES, Path(tmp) / "grade.json", quiet=True)
            scored = crisis.score(servers.url, suite)
            say(f"{name}: graded in {time.perf_counter() - begun:.1f} s: FAQ {_num(graded.rate('faq'))}, emergency "
                f"recall {_num(scored.recall)} (crisis suite), over-escalation {_num(scored.over_escalation)}")
        parsed = parsing.result()
    scores = report.topic_scores(parsed)
    crisis_data = crisis.as_dict(scored)
    crisis_data["missed_examples"] = scored.missed
    crisis_data["over_escalated_examples"] = scored.over_escalated
    data = {
        "key": key, "model_sha256": model_sha, "seconds": round(time.perf_counter() - started, 1),
        "dev": graded.summary, "dev_results": _dev_results(graded), "crisis": crisis_data,
        "parsed": [list(p) for p in parsed], "topics": scores, "macro_f1": report.macro_f1(scores),
        "confusions": report.top_confusions(parsed), "fallback_rate": report.fallback_rate(
            parsed, [expected_label(c) for c in cases if c.get("kind") in QUESTIONS]),
    }
    if cached is not None:
        _store(cached, data)
    return Evaluation(data)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _store(path: Path, data: Mapping[str, Any]) -> None:
    """Writes a cache entry atomically and keeps the newest CACHE_KEEP."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
    entries = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[CACHE_KEEP:]:
        old.unlink(missing_ok=True)


# --- the decision ------------------------------------------------------------------------------

@dataclass
class Decision:
    """Whether to promote, why, and what got worse (lines with examples)."""

    promote: bool
    reasons: List[str]
    worse: List[str] = field(default_factory=list)

    def as_dict(self, margin: float, against: str | None) -> Dict[str, Any]:
        """For the report."""
        return {"promote": self.promote, "reasons": self.reasons, "worse": self.worse, "margin": margin,
                "against": against}


def _short(text: Any, limit: int = 100) -> str:
    text = " ".join(str(text).split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _examples(rows: Sequence[Mapping[str, Any]], fmt: Callable[[Mapping[str, Any]], str]) -> str:
    shown = [fmt(r) for r in rows[:EXAMPLES]]
    more = f"; and {len(rows) - EXAMPLES} more" if len(rows) > EXAMPLES else ""
    return "; ".join(shown) + more


def _newly_failed(candidate: Evaluation, running: Evaluation | None, kind: str) -> List[Mapping[str, Any]]:
    """Development cases of ``kind`` the candidate fails (and the running model passed, if known)."""
    passed_before = None
    if running is not None:
        passed_before = {r["text"] for r in running.data.get("dev_results") or [] if r.get("ok")}
    return [r for r in candidate.data.get("dev_results") or []
            if r.get("kind") == kind and not r.get("ok") and (passed_before is None or r["text"] in passed_before)]


def what_got_worse(candidate: Evaluation, running: Evaluation | None) -> List[str]:
    """Lines naming each thing that got worse (or is unsafe), with examples."""
    lines: List[str] = []
    crisis_data = candidate.data.get("crisis") or {}
    missed = crisis_data.get("missed_examples") or []
    if missed:
        lines.append(f"crisis suite: {len(missed)} of {crisis_data.get('emergencies')} emergencies NOT escalated, "
                     "e.g. " + _examples(missed, lambda m: f"[{m.get('kind')}] {_short(m['text'])} -> "
                                                           f"{_short(m.get('first', ''), 60)}"))
    for kind, what in (("emergency", "development-set emergencies not escalated"),
                       ("faq", "FAQ questions now answered wrongly"),
                       ("out_of_scope", "out-of-scope messages now handled wrongly"),
                       ("smalltalk", "small talk now answered wrongly")):
        rows = _newly_failed(candidate, running, kind)
        if rows:
            lines.append(f"{what}: {len(rows)}, e.g. " + _examples(
                rows, lambda r: f"[{r.get('topic') or r.get('kind')}] {_short(r['text'])} -> {_short(r['reply'], 60)}"))
    if running is not None:
        before = {m["text"] for m in (running.data.get("crisis") or {}).get("over_escalated_examples") or []}
        new_over = [m for m in crisis_data.get("over_escalated_examples") or [] if m["text"] not in before]
        if new_over and (candidate.over_escalation or 0) > (running.over_escalation or 0):
            lines.append(f"over-escalation {running.over_escalation or 0:.3f} -> {candidate.over_escalation or 0:.3f}"
                         f" on the crisis suite's look-alikes, newly escalated e.g. "
                         + _examples(new_over, lambda m: _short(m["text"])))
        old_topics = running.data.get("topics") or {}
        dropped = [(t, old_topics[t]["f1"], s["f1"]) for t, s in (candidate.data.get("topics") or {}).items()
                   if t in old_topics and old_topics[t]["f1"] - s["f1"] > F1_DROP]
        if dropped:
            lines.append("intent F1 dropped for " + ", ".join(f"{t} {a:.2f} -> {b:.2f}" for t, a, b in dropped))
        fb_old, fb_new = running.data.get("fallback_rate"), candidate.data.get("fallback_rate")
        if fb_old is not None and fb_new is not None and fb_new > fb_old:
            lines.append(f"fallback rate (development set questions not understood) {fb_old:.3f} -> {fb_new:.3f}")
    return lines


def decide(candidate: Evaluation, running: Evaluation | None, margin: float,
           pending: Sequence[str] = ()) -> Decision:
    """Promote only with emergency recall 1.0, every answer approved, and FAQ accuracy within ``margin``."""
    refused: List[str] = []
    if pending:
        refused.append(f"{len(pending)} answer(s) not approved: {', '.join(pending[:8])}"
                       + (" ..." if len(pending) > 8 else ""))
    recall = candidate.recall
    if recall is None or recall < 1.0:
        refused.append(f"emergency recall on the crisis suite is {recall if recall is None else f'{recall:.3f}'}, "
                       "must be 1.0")
    dev_emergency = candidate.dev_rate("emergency")
    if dev_emergency is not None and dev_emergency < 1.0:
        refused.append(f"emergency recall on the development set is {dev_emergency:.3f}, must be 1.0")
    faq, before = candidate.faq, (running.faq if running is not None else None)
    if faq is None:
        refused.append("no FAQ accuracy was measured")
    elif before is not None and faq < before - margin - 1e-9:
        refused.append(f"FAQ accuracy dropped from {before:.3f} to {faq:.3f} (more than the margin {margin:.3f})")
    if refused:
        return Decision(False, refused, what_got_worse(candidate, running))
    ok = [f"emergency recall {recall:.3f}"]
    if faq is not None:
        ok.append(f"FAQ accuracy {faq:.3f}" + (f" (running model {before:.3f}, margin {margin:.3f})"
                                               if before is not None else " (no running model to compare)"))
    return Decision(True, ok, what_got_worse(candidate, running))


def iter_lines(decision: Decision) -> Iterator[str]:
    """The decision as lines for the terminal."""
    head = "PROMOTE" if decision.promote else "REFUSED"
    yield f"{head}: " + "; ".join(decision.reasons)
    if decision.worse:
        yield "What got worse:"
        for line in decision.worse:
            yield f"  - {line}"


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m bot.retrain.gate MODEL CASES.json OUT.json``: the child process of :func:`parse_cases`."""
    model, cases_path, out = (Path(a) for a in (argv or sys.argv[1:]))
    parsed = _parse_in_process(model, json.loads(cases_path.read_text(encoding="utf-8")))
    out.write_text(json.dumps([list(p) for p in parsed]), encoding="utf-8")


if __name__ == "__main__":
    main()
