"""The retraining gate and its report, without a trained model: decisions on hand-made scores, the
per-topic numbers, the files, the throwaway servers' configuration, and the command's early refusals.
"""
from __future__ import annotations

import argparse
import shutil
import struct
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from bot import launch
from bot.cli import retrain as cli
from bot.retrain import gate, report
from bot.retrain.gate import Evaluation, decide, what_got_worse
from bot.settings import ROOT


def case(text: str, kind: str, ok: bool, topic: str | None = None, escalated: bool = False) -> Dict[str, Any]:
    return {"text": text, "kind": kind, "topic": topic, "ok": ok, "escalated": escalated, "reply": f"reply to {text}"}


def evaluation(faq_ok: int = 100, faq_n: int = 100, recall: float = 1.0, dev_emergency: float = 1.0,
               missed: List[Dict] | None = None, over: float = 0.0, over_examples: List[Dict] | None = None,
               results: List[Dict] | None = None, topics: Dict | None = None, fallback: float = 0.0) -> Evaluation:
    return Evaluation({
        "model_sha256": "f" * 64,
        "dev": {"faq": [faq_ok / faq_n, faq_n], "emergency": [dev_emergency, 50], "out_of_scope": [1.0, 20],
                "smalltalk": [1.0, 20], "over_escalation": 0.0},
        "dev_results": results or [],
        "crisis": {"recall": recall, "over_escalation": over, "emergencies": 290, "look_alikes": 153,
                   "missed_examples": missed or [], "over_escalated_examples": over_examples or []},
        "topics": topics or {}, "fallback_rate": fallback,
    })


# ---------------------------------------------------------------------------------------------
# Decisions.


def test_a_model_as_good_as_the_running_one_is_promoted():
    decision = decide(evaluation(), evaluation(), margin=0.01)
    assert decision.promote and decision.worse == []
    assert "emergency recall 1.000" in decision.reasons[0]


def test_a_missed_emergency_refuses_whatever_the_faq_accuracy():
    missed = [{"text": f"i took all my pills {i}", "kind": "overdose", "first": "Here is what we know"}
              for i in range(7)]
    decision = decide(evaluation(recall=283 / 290, missed=missed), evaluation(faq_ok=90), margin=0.01)
    assert not decision.promote
    assert any("emergency recall on the crisis suite is 0.976, must be 1.0" in r for r in decision.reasons)
    line = decision.worse[0]
    assert "7 of 290 emergencies NOT escalated" in line
    assert "[overdose] 'i took all my pills 0'" in line and "and 2 more" in line  # examples, then a count


def test_the_development_sets_emergencies_count_too():
    decision = decide(evaluation(dev_emergency=0.98), None, margin=0.01)
    assert not decision.promote and "development set is 0.980" in decision.reasons[0]


def test_faq_accuracy_may_drop_by_the_margin_and_no_more():
    running = evaluation(faq_ok=111, faq_n=111)
    assert decide(evaluation(faq_ok=110, faq_n=111), running, margin=0.01).promote  # -0.009
    refused = decide(evaluation(faq_ok=109, faq_n=111), running, margin=0.01)  # -0.018
    assert not refused.promote and "FAQ accuracy dropped from 1.000 to 0.982" in refused.reasons[0]
    assert decide(evaluation(faq_ok=109, faq_n=111), running, margin=0.02).promote
    assert decide(evaluation(faq_ok=90, faq_n=100), None, margin=0.01).promote  # nothing running to compare with


def test_an_answer_nobody_approved_is_never_promoted():
    decision = decide(evaluation(), evaluation(), margin=0.01, pending=["utter_faq/insurance"])
    assert not decision.promote and "not approved: utter_faq/insurance" in decision.reasons[0]


def test_what_got_worse_names_regressions_with_examples():
    before = [case("do you take aetna", "faq", True, "insurance"), case("how long is detox", "faq", True, "program"),
              case("hi", "smalltalk", True, "greet"), case("already wrong", "faq", False, "book")]
    after = [case("do you take aetna", "faq", False, "insurance"), case("how long is detox", "faq", True, "program"),
             case("hi", "smalltalk", False, "greet"), case("already wrong", "faq", False, "book")]
    topics_before = {"insurance": {"f1": 1.0}, "program": {"f1": 0.9}}
    topics_after = {"insurance": {"f1": 0.5}, "program": {"f1": 0.85}}
    new_over = [{"text": "what if he has a seizure"}, {"text": "old one"}]
    running = evaluation(results=before, topics=topics_before, over=0.01, over_examples=[{"text": "old one"}],
                         fallback=0.01)
    candidate = evaluation(results=after, topics=topics_after, over=0.02, over_examples=new_over, fallback=0.05)
    lines = what_got_worse(candidate, running)
    text = "\n".join(lines)
    assert "FAQ questions now answered wrongly: 1, e.g. [insurance] 'do you take aetna'" in text
    assert "already wrong" not in text  # failed before too: not a regression
    assert "small talk now answered wrongly: 1" in text
    assert "over-escalation 0.010 -> 0.020" in text and "'what if he has a seizure'" in text
    assert "'old one'" not in text
    assert "intent F1 dropped for insurance 1.00 -> 0.50" in text and "program" not in text.split("F1")[1]
    assert "fallback rate" in text and "0.010 -> 0.050" in text


# ---------------------------------------------------------------------------------------------
# Labels and per-topic numbers.


def test_labels_are_the_faq_answer_or_the_intent():
    assert gate.expected_label({"kind": "faq", "topic": "insurance"}) == "insurance"
    assert gate.expected_label({"kind": "smalltalk", "topic": "greet"}) == "greet"
    assert gate.expected_label({"kind": "emergency"}) == "emergency"
    assert gate.predicted_label({"intent": {"name": "faq", "full_retrieval_intent_name": "faq/insurance"}}) == \
        "insurance"
    selector = {"faq": {"response": {"intent_response_key": "faq/book"}}}
    assert gate.predicted_label({"intent": {"name": "faq"}, "response_selector": selector}) == "book"
    assert gate.predicted_label({"intent": {"name": "nlu_fallback"}}) == "nlu_fallback"
    assert gate.predicted_label({"intent": None}) == "?"


PARSED = [("insurance", "insurance", "a"), ("insurance", "book", "b"), ("book", "book", "c"),
          ("emergency", "emergency", "d"), ("greet", "nlu_fallback", "e"), ("out_of_scope", "book", "f")]


def test_topic_scores_and_confusions():
    scores = report.topic_scores(PARSED)
    assert list(scores) == ["emergency", "out_of_scope", "greet", "book", "insurance"]  # non-FAQ labels first
    assert scores["insurance"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert scores["book"]["precision"] == pytest.approx(1 / 3, abs=1e-4) and scores["book"]["recall"] == 1.0
    assert scores["greet"]["f1"] == 0.0
    labels, matrix = report.confusion(PARSED)
    assert labels == ["emergency", "out_of_scope", "nlu_fallback", "greet", "book", "insurance"]
    assert matrix[labels.index("insurance")][labels.index("book")] == 1
    assert sum(map(sum, matrix)) == len(PARSED)
    top = report.top_confusions(PARSED)
    assert {(c["expected"], c["predicted"]) for c in top} == {("insurance", "book"), ("greet", "nlu_fallback"),
                                                              ("out_of_scope", "book")}
    assert report.fallback_rate(PARSED, ["insurance", "book", "greet"]) == 0.25
    assert report.macro_f1({"a": {"f1": 1.0}, "b": {"f1": 0.5}}) == 0.75


def test_the_report_files(tmp_path):
    candidate = evaluation(results=[case("do you take aetna", "faq", True, "insurance")])
    candidate.data.update(topics=report.topic_scores(PARSED), confusions=report.top_confusions(PARSED),
                          fallback_rate=0.25)
    decision = decide(candidate, evaluation(faq_ok=99), margin=0.01)
    data = {"id": "20261130-120000-000-abcdef12", "created": "2026-11-30T12:00:00+00:00", "status": "promoted",
            "model": {"sha256": "ab" * 32, "bytes": 4_200_000},
            "training": {"seconds": 61.5, "config": "config.yml", "domain": "domain.yml", "data": "data"},
            "evaluation": candidate.data, "running": evaluation(faq_ok=99).summary(),
            "gate": decision.as_dict(0.01, "cd" * 32), "steps": {"validate": 8.0, "train": 61.5}}
    report.write(tmp_path, data, PARSED)
    png = (tmp_path / "confusion.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 600 and height >= 600
    assert report.read(tmp_path)["gate"]["promote"] is True
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# Model 20261130-120000-000-abcdef12: promoted")
    assert "in 61.5 s" in md and "**PROMOTED**" in md
    assert "| FAQ accuracy (development set, 100) | 1.000 | 0.990 |" in md
    assert "| emergency recall (crisis suite, 290) | 1.000 | 1.000 |" in md
    assert "| fallback rate (development set questions) | 0.250 | 0.000 |" in md
    assert "| insurance | 1.000 | 0.500 | 0.667 | 2 |" in md
    assert "| insurance | book | 1 | b |" in md
    assert "![confusion matrix" in md and "| train | 61.5 |" in md
    assert report.read(tmp_path / "missing") == {}


def test_the_evaluation_cache_key_follows_the_model_and_the_code(tmp_path, monkeypatch):
    key = gate.eval_key("a" * 64)
    assert key == gate.eval_key("a" * 64) and key != gate.eval_key("b" * 64)
    files = {str(p.relative_to(ROOT)) for p in gate.code_files()}
    assert {"bot/crisis/patterns.yml", "bot/nlu/crisis_detector.py", "bot/channels/rest.py",
            "data/suggestions.yml", "credentials.yml"} <= files
    assert not any(f.startswith("bot/staff") for f in files)  # the staff site does not shape replies
    patterns = tmp_path / "patterns.yml"
    patterns.write_text("rules: []\n")
    monkeypatch.setattr(gate, "code_files", lambda: [patterns])
    before = gate.eval_key("a" * 64)
    patterns.write_text("rules: [] # changed\n")
    assert gate.eval_key("a" * 64) != before


# ---------------------------------------------------------------------------------------------
# The throwaway servers never alert staff nor write the project's database.


def test_evaluation_servers_have_no_model_server_broker_or_database(tmp_path, monkeypatch):
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "https://staff.example/alert")
    monkeypatch.setenv("DATABASE_URL", "postgresql://prod/db")
    model = tmp_path / "m.tar.gz"
    model.write_bytes(b"m")
    servers = gate.EvalServers(model, tmp_path / "logs", "test")
    try:
        settings = servers.settings
        assert settings.alert_webhook_url == "" and str(servers.var_dir) in settings.database
        ports = [settings.port, settings.actions_port, settings.web_port, settings.staff_port,
                 settings.model_server_port]
        assert len(set(ports)) == 5
        actions, rasa = servers.services
        assert rasa.env["ALERT_WEBHOOK_URL"] == "" and rasa.env["DATABASE_URL"] == ""
        assert "--enable-api" not in rasa.argv
        endpoints = Path(rasa.argv[rasa.argv.index("--endpoints") + 1])
        assert yaml.safe_load(endpoints.read_text()) == {
            "action_endpoint": {"url": f"http://127.0.0.1:{settings.actions_port}/webhook"}}
        assert not launch.pulls_model(endpoints)
        assert rasa.argv[rasa.argv.index("--model") + 1] == str(model)
    finally:
        servers.__exit__()
    assert not servers.var_dir.exists()


# ---------------------------------------------------------------------------------------------
# The command's early refusals (nothing is trained).


def retrain_args(tmp_path: Path, **overrides: Any) -> argparse.Namespace:
    values = dict(config=ROOT / "config.yml", domain=ROOT / "domain.yml", data=ROOT / "data", approvals=None,
                  no_promote=False, wait_s=0.0)
    values.update(overrides)
    return argparse.Namespace(**values)


@pytest.fixture
def served(tmp_path, monkeypatch) -> Path:
    model = tmp_path / "models" / "current.tar.gz"
    model.parent.mkdir()
    model.write_bytes(b"the running model")
    monkeypatch.setenv("MODEL", str(model))
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
    return model


def test_retrain_refuses_before_training_when_an_answer_is_not_approved(served, tmp_path, capsys):
    asked = []

    def stub(domain: Path, approvals_path: Path) -> List[str]:
        asked.append((domain, approvals_path))
        return ["utter_faq/insurance", "utter_emergency"]

    code = cli.run_retrain(retrain_args(tmp_path), pending_fn=stub)
    out = capsys.readouterr().out
    assert code == 1
    assert asked == [(ROOT / "domain.yml", ROOT / "data" / "approvals.yml")]
    assert "[1/6] approvals" in out and "not approved: utter_faq/insurance, utter_emergency" in out
    assert out.strip().splitlines()[-1].startswith("retrain: refused before training: 2 answer(s)")
    assert "[2/6]" not in out  # nothing was trained
    assert served.read_bytes() == b"the running model"
    assert sorted(p.name for p in served.parent.iterdir()) == [".registry.lock", "current.tar.gz"]


def test_retrain_says_which_path_is_missing(served, tmp_path, capsys):
    assert cli.run_retrain(retrain_args(tmp_path, data=tmp_path / "nope"), pending_fn=lambda d, a: []) == 2
    assert "data" in capsys.readouterr().err and served.read_bytes() == b"the running model"


def test_retrain_refuses_data_that_does_not_validate(served, tmp_path, capsys):
    """Real Rasa validation (as `rasa data validate --fail-on-warnings`): an example of an intent the domain lacks."""
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    nlu = data / "nlu" / "extra.yml"
    nlu.write_text('version: "3.1"\nnlu:\n- intent: not_in_the_domain\n  examples: |\n    - hello there\n'
                   "    - hi there\n")
    code = cli.run_retrain(retrain_args(tmp_path, data=data), pending_fn=lambda d, a: [])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "[2/6] validate" in out
    assert "  - There is a message in the training data labeled with intent 'not_in_the_domain'" in out
    assert "refused: the training data does not validate" in out.strip().splitlines()[-1]
    assert "[4/6]" not in out
    assert served.read_bytes() == b"the running model"
    assert not (served.parent / "history").exists() and not (served.parent / "refused").exists()
    assert not list(served.parent.glob(".retrain-*"))  # the work folder is gone
