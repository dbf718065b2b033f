"""``python -m bot retrain | rollback | models``: train, gate and promote a model; go back; list them.

``retrain`` shows six steps with their times: the answers' approvals; the data's validation and the
training (one ``rasa train --fail-on-validation-warnings``: Rasa validates as ``rasa data validate
--fail-on-warnings`` does, then trains), while the running model is evaluated unless its scores are
cached; the new model's evaluation (:mod:`bot.retrain.gate`);
the comparison; the promotion: the model is copied atomically over MODEL, kept in
``models/history/`` with its report, and the running assistant's Rasa server loads it at its next
pull from the model server, without a restart. A refused model is kept in ``models/refused/`` with
its report, and the served model is left as it was.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

from bot import launch
from bot import settings as settings_module
from bot.settings import ROOT

STEPS = 6

PendingFn = Callable[[Path, Path], List[str]]


def register(groups: Any) -> None:
    """Adds the ``retrain``, ``rollback`` and ``models`` commands."""
    p = groups.add_parser("retrain", help="validate, train, evaluate against the running model, promote if not worse",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=ROOT / "config.yml")
    p.add_argument("--domain", type=Path, default=ROOT / "domain.yml")
    p.add_argument("--data", type=Path, default=ROOT / "data", help="training data folder (default: data)")
    p.add_argument("--approvals", type=Path, default=None,
                   help="who approved each answer (default: approvals.yml in the data folder)")
    p.add_argument("--no-promote", action="store_true", help="train, evaluate and report only; never promote")
    p.add_argument("--wait-s", type=float, default=None,
                   help="how long to wait for the running assistant to load the new model "
                        "(default: twice MODEL_PULL_INTERVAL_S plus 60 s; 0: do not wait)")
    p.set_defaults(run=run_retrain)
    r = groups.add_parser("rollback", help="serve the model promoted before the current one again (models/history)")
    r.add_argument("--to", metavar="ID", help="serve this history entry instead (python -m bot models lists them)")
    r.add_argument("--wait-s", type=float, default=None, help="how long to wait for the running assistant (0: not)")
    r.set_defaults(run=run_rollback)
    m = groups.add_parser("models", help="list the models kept (history and refused) and which one is served")
    m.add_argument("--report", metavar="ID", help="print this model's report (Markdown)")
    m.add_argument("--json", action="store_true", help="one JSON object per model")
    m.set_defaults(run=run_models)


# --- output ------------------------------------------------------------------------------------

class Progress:
    """Numbered steps with their times; lines from worker threads never interleave mid-line."""

    def __init__(self, total: int, out: Any = None) -> None:
        self.total, self.out = total, out or sys.stdout
        self.started = time.perf_counter()
        self.number = 0
        self.steps: Dict[str, float] = {}
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        """A line as it is."""
        with self._lock:
            print(text, file=self.out, flush=True)

    def say(self, text: str) -> None:
        """An indented progress line."""
        self.line(f"      {text}")

    def begin(self, name: str, what: str) -> float:
        """Announces the next numbered step; returns its start time."""
        self.number += 1
        self.line(f"[{self.number}/{self.total}] {name}: {what} (at {self.elapsed():.0f} s)")
        return time.perf_counter()

    def end(self, name: str, started: float, note: str = "") -> None:
        """Records and prints a step's time."""
        self.steps[name] = round(time.perf_counter() - started, 1)
        self.say(f"{name}: done in {self.steps[name]:.1f} s{note}")

    @contextmanager
    def step(self, name: str, what: str) -> Iterator[None]:
        """A numbered step, timed when it ends without an exception."""
        started = self.begin(name, what)
        yield
        self.end(name, started)

    def elapsed(self) -> float:
        """Seconds since the command started."""
        return time.perf_counter() - self.started


def _fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


class Background:
    """A function running in a thread: :meth:`result` joins it and returns its value or raises its error."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = fn()
            except BaseException as e:  # handed to whoever asks for the result
                self._error = e

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def result(self) -> Any:
        """The function's value (raises what it raised)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


# --- retrain -----------------------------------------------------------------------------------

def _default_pending(domain: Path, approvals_path: Path) -> List[str]:
    from bot.retrain import approvals

    return approvals.pending(domain, approvals_path)


def run_retrain(args: argparse.Namespace, pending_fn: PendingFn | None = None) -> int:
    """0 when promoted (or passed with --no-promote), 1 when refused or failed, 2 on bad settings or paths."""
    from bot.retrain.models import Registry, RegistryError

    try:
        settings = settings_module.load()
    except settings_module.SettingsError as e:
        return _fail(f"invalid setting: {e}", 2)
    data = args.data.resolve()
    paths = {"config": args.config.resolve(), "domain": args.domain.resolve(), "data": data,
             "approvals": (args.approvals or data / "approvals.yml").resolve()}
    for name in ("config", "domain", "data"):
        if not paths[name].exists():
            return _fail(f"{name} {paths[name]} does not exist", 2)
    registry = Registry(settings.model)
    try:
        with registry.lock():
            return Retrain(args, settings, paths, registry, pending_fn or _default_pending).run()
    except RegistryError as e:
        return _fail(str(e))


class Retrain:
    """One run of ``python -m bot retrain``."""

    def __init__(self, args: argparse.Namespace, settings: settings_module.Settings, paths: Dict[str, Path],
                 registry: Any, pending_fn: PendingFn) -> None:
        self.args, self.settings, self.paths, self.registry = args, settings, paths, registry
        self.pending_fn = pending_fn
        self.progress = Progress(STEPS)
        self.env = launch.process_env(settings)
        self.log_dir = settings.log_dir / "retrain"
        self.cache = settings.model.parent / ".eval-cache"
        self.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.pending: List[str] = []
        self.running: Background | None = None  # the running model's evaluation, during training

    def say(self, text: str) -> None:
        """A progress line."""
        self.progress.say(text)

    def done(self, text: str) -> None:
        """The command's last line."""
        self.progress.line(f"retrain: {text}")

    def run(self) -> int:
        """The six steps."""
        from bot.retrain import gate

        if not self.check_approvals():
            return 1
        self.settings.model.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".retrain-", dir=self.settings.model.parent))
        try:
            return self.train_and_judge(work)
        except KeyboardInterrupt:
            gate.stop_all()
            self.done("interrupted; the served model is unchanged")
            return 130
        finally:
            self._settle_running()
            shutil.rmtree(work, ignore_errors=True)

    def check_approvals(self) -> bool:
        """Step 1: no answer may be served that nobody approved (--no-promote goes on, to report)."""
        domain, approvals_path = self.paths["domain"], self.paths["approvals"]
        started = self.progress.begin("approvals", f"answers in {_rel(domain)} against {_rel(approvals_path)}")
        try:
            self.pending = self.pending_fn(domain, approvals_path)
        except ValueError as e:
            self.done(f"failed: cannot check the approvals: {e}")
            return False
        self.say(f"not approved: {', '.join(self.pending)}" if self.pending else "every answer is approved")
        self.progress.end("approvals", started)
        if not self.pending:
            return True
        if self.args.no_promote:
            return True
        shown = ", ".join(self.pending[:5]) + (" ..." if len(self.pending) > 5 else "")
        self.done(f"refused before training: {len(self.pending)} answer(s) nobody approved in their current text "
                  f"({shown}); check them, then: python -m bot answers approve NAME... --as YOUR_NAME")
        return False

    def evaluate_running(self) -> Any:
        """The running model's scores."""
        from bot.retrain import gate

        return gate.evaluate(self.settings.model, self.log_dir, "running model", self.say, self.cache,
                             self.settings.start_timeout_s)

    def validate_and_train(self, work: Path) -> Path | None:
        """Steps 2 and 3 (one ``rasa train --fail-on-validation-warnings``): the model, or None (reason printed)."""
        from bot.retrain import steps

        config, domain, data = self.paths["config"], self.paths["domain"], self.paths["data"]
        started = [self.progress.begin("validate", f"the data in {_rel(data)}, {_rel(domain)} and {_rel(config)} "
                                                   "(as rasa data validate --fail-on-warnings)")]

        def validated() -> None:
            self.progress.end("validate", started[0], ": the data is valid")
            if self.settings.model.exists():  # not before: invalid data must not cost an evaluation
                self.running = Background(self.evaluate_running)
            started[0] = self.progress.begin("train", "rasa train" + (
                "" if self.running is None else " (the running model is evaluated meanwhile)"))

        try:
            model = steps.train(config, domain, data, work, self.log_dir / "train.log", self.env, self.say, validated)
        except steps.InvalidData as e:
            self.progress.line(str(e))
            self.done("refused: the training data does not validate (above); nothing was trained, the served model "
                      "is unchanged")
            return None
        except steps.StepFailed as e:
            self.progress.line(str(e))
            self.done("failed: training did not finish; the served model is unchanged")
            return None
        if "validate" not in self.progress.steps:  # Rasa printed no end of validation: it passed all the same
            validated()
        self.progress.end("train", started[0])
        return model

    def train_and_judge(self, work: Path) -> int:
        """Steps 2 to 6."""
        from bot.retrain import gate
        from bot.retrain.models import MODEL_FILE, new_id, sha256_file

        trained = self.validate_and_train(work)
        if trained is None:
            return 1
        sha = sha256_file(trained)
        run_dir = work / new_id(sha)
        run_dir.mkdir()
        model = Path(shutil.move(str(trained), str(run_dir / MODEL_FILE)))

        started = self.progress.begin("evaluate", f"model {run_dir.name} on the development set and the crisis suite")
        try:
            candidate = gate.evaluate(model, self.log_dir, "new model", self.say, self.cache,
                                      self.settings.start_timeout_s)
            running = self.running.result() if self.running is not None else None
        except Exception as e:  # any failure: the served model stays
            self.progress.line(str(e)[-3000:])
            self.done(f"failed: a model could not be evaluated ({type(e).__name__}; logs in {_rel(self.log_dir)}); "
                      "the served model is unchanged")
            return 1
        self.progress.end("evaluate", started)

        with self.progress.step("compare", "with the running model" if running is not None else "no running model"):
            decision = gate.decide(candidate, running, self.settings.retrain_faq_margin, self.pending)
            for line in gate.iter_lines(decision):
                self.say(line)
        return self.conclude(run_dir, candidate, running, decision)

    def _settle_running(self) -> None:
        """Waits for the running model's evaluation (so no throwaway server outlives the command)."""
        if self.running is not None:
            try:
                self.running.result()
            except Exception:  # the command already ended for another reason
                pass

    def report_data(self, run_dir: Path, candidate: Any, running: Any, decision: Any, status: str) -> Dict[str, Any]:
        """What ``report.json`` holds."""
        model = run_dir / "model.tar.gz"
        return {
            "id": run_dir.name, "created": self.created, "status": status,
            "model": {"file": model.name, "sha256": candidate.sha256, "bytes": model.stat().st_size},
            "training": {"seconds": self.progress.steps.get("train"), "config": _rel(self.paths["config"]),
                         "domain": _rel(self.paths["domain"]), "data": _rel(self.paths["data"])},
            "evaluation": candidate.data,
            "running": running.summary() if running is not None else None,
            "gate": decision.as_dict(self.settings.retrain_faq_margin, running.sha256 if running is not None else None),
            "steps": dict(self.progress.steps),
        }

    def conclude(self, run_dir: Path, candidate: Any, running: Any, decision: Any) -> int:
        """Step 6: keep the refused model aside, or promote it and wait for the running assistant."""
        from bot.retrain import report, steps

        promote = decision.promote and not self.args.no_promote
        status = "promoted" if promote else ("refused" if not decision.promote else "passed, not promoted")
        data = self.report_data(run_dir, candidate, running, decision, status)
        report.write(run_dir, data, candidate.parsed())
        started = self.progress.begin("promote", "serve the new model" if promote else "keep the running model")
        if not promote:
            entry = self.registry.keep(run_dir, refused=True)
            self.progress.end("promote", started)
            where = _rel(entry.path / "report.md")
            if decision.promote:
                self.done(f"model {entry.id} passed the gate; not promoted (--no-promote). Report: {where}")
                return 0
            self.done(f"REFUSED model {entry.id}: {'; '.join(decision.reasons)}. The running model is unchanged. "
                      f"Report: {where}")
            return 1
        archived = self.registry.archive_served(running.data if running is not None else None)
        if archived is not None:
            self.say(f"kept the model served until now as {archived.id} (python -m bot rollback returns to it)")
        entry = self.registry.keep(run_dir)
        self.registry.install(entry, "promote")
        self.say(f"{_rel(self.settings.model)} is now model {entry.id}")
        wait_s = self.args.wait_s if self.args.wait_s is not None else 2 * self.settings.model_pull_interval_s + 60
        took = steps.wait_until_served(self.settings, candidate.sha256, wait_s, self.say)
        self.progress.end("promote", started)
        data["steps"] = dict(self.progress.steps)
        data["served_after_s"] = None if took is None else round(took, 1)
        data["total_s"] = round(self.progress.elapsed(), 1)
        report.write(entry.path, data, candidate.parsed())
        served = (f"served by the running assistant {took:.1f} s after promotion" if took is not None
                  else "served when the assistant (re)starts or pulls it")
        self.done(f"promoted model {entry.id} (FAQ {candidate.faq:.3f}, emergency recall {candidate.recall:.3f}), "
                  f"{served}; total {self.progress.elapsed():.0f} s. Report: {_rel(entry.path / 'report.md')}")
        return 0


# --- rollback and models -----------------------------------------------------------------------

def run_rollback(args: argparse.Namespace) -> int:
    """Serves the previous history entry (or --to ID) again."""
    from bot.retrain import steps
    from bot.retrain.models import Registry, RegistryError

    try:
        settings = settings_module.load()
    except settings_module.SettingsError as e:
        return _fail(f"invalid setting: {e}", 2)
    registry = Registry(settings.model)
    try:
        with registry.lock():
            before = registry.current()
            entry = registry.rollback(args.to)
    except RegistryError as e:
        return _fail(str(e))
    print(f"rollback: {_rel(settings.model)} is now model {entry.id} (was "
          f"{before.id if before else 'a model not in the history'})", flush=True)
    wait_s = args.wait_s if args.wait_s is not None else 2 * settings.model_pull_interval_s + 60
    took = steps.wait_until_served(settings, entry.sha256, wait_s, lambda line: print(f"      {line}", flush=True))
    if took is not None:
        print(f"rollback: served by the running assistant {took:.1f} s later", flush=True)
    return 0


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def model_rows(registry: Any) -> Tuple[List[Dict[str, Any]], Any]:
    """Every kept model, history then refused, with its scores; and the history entry served."""
    from bot.retrain.models import describe

    current = registry.current()
    rows = [describe(e, current) for e in registry.entries()]
    rows += [{**describe(e, None), "status": "refused"} for e in registry.refused_entries()]
    return rows, current


def run_models(args: argparse.Namespace) -> int:
    """Lists the models kept, or prints one report."""
    from bot.retrain.models import Registry

    try:
        settings = settings_module.load()
    except settings_module.SettingsError as e:
        return _fail(f"invalid setting: {e}", 2)
    registry = Registry(settings.model)
    if args.report:
        found = [e for e in registry.entries() + registry.refused_entries() if e.id.startswith(args.report)]
        if len(found) != 1:
            return _fail(f"no single model {args.report!r} in {_rel(registry.history)} or {_rel(registry.refused)}")
        md = found[0].path / "report.md"
        print(md.read_text(encoding="utf-8") if md.exists() else f"(no report for {found[0].id})", end="")
        return 0
    rows, current = model_rows(registry)
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"  {'id':32} {'created (UTC)':20} {'status':10} {'FAQ':>6} {'recall':>6} {'over-esc':>8} {'train s':>7}")
    for row in rows:
        mark = "* " if row["current"] else "  "
        train_s = "-" if row["train_s"] is None else f"{row['train_s']:.0f}"
        print(f"{mark}{row['id']:32} {str(row['created'])[:19]:20} {row['status'][:10]:10} {_fmt(row['faq']):>6} "
              f"{_fmt(row['recall']):>6} {_fmt(row['over_escalation']):>8} {train_s:>7}")
    if current is not None:
        print(f"* served now ({_rel(settings.model)}). A report: python -m bot models --report ID")
    elif settings.model.exists():
        print(f"the served model ({_rel(settings.model)}) is not in the history (trained by make train?); the next "
              "promotion keeps it there first")
    else:
        print(f"no model is served ({_rel(settings.model)} does not exist)")
    return 0
