"""The leave-one-author-out report of the crisis layer: counting, the summary and the table."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.crisis_authors import NO_AUTHOR, AuthorScore, labelled_cases, summary, table


def test_a_score_counts_caught_emergencies_and_escalated_look_alikes():
    score = AuthorScore()
    score.add(True, True, "he is seizing")
    score.add(True, False, "I took them all")
    score.add(False, True, "a forum post said")
    score.add(False, False, "do you take insurance?")
    score.add(False, False, "see you")
    assert score.missed == ["I took them all"]
    assert score.row() == {"recall": 0.5, "emergencies": 2, "over_escalation": 1 / 3, "look_alikes": 3}


def test_an_author_without_a_label_has_no_rate():
    assert AuthorScore().row()["recall"] is None and AuthorScore().row()["over_escalation"] is None
    only_look_alikes = AuthorScore()
    only_look_alikes.add(False, False, "see you tomorrow")
    assert "| K | - | 0.000 of 1 |" in table({"K": only_look_alikes.row()})


def test_the_summary_adds_every_author():
    a, b = AuthorScore(), AuthorScore()
    a.add(True, True, "x")
    a.add(False, True, "y")
    b.add(True, False, "z")
    b.add(False, False, "w")
    rows = summary({"A": a, "B": b})
    assert rows["all"] == {"recall": 0.5, "emergencies": 2, "over_escalation": 0.5, "look_alikes": 2}
    assert list(rows) == ["A", "B", "all"]
    text = table(rows)
    assert "| A | 1.000 of 1 | 1.000 of 1 |" in text and "| all | 0.500 of 2 | 0.500 of 2 |" in text


def test_labelled_cases_keep_their_author_and_mark_the_ones_without(tmp_path: Path):
    (tmp_path / "a.yml").write_text(yaml.safe_dump([{"text": "t1", "label": "emergency", "author": "E"}]))
    (tmp_path / "b.yml").write_text(yaml.safe_dump([{"text": "t2", "label": "lookalike"}]))
    (tmp_path / "notes.txt").write_text("not a case file")
    cases = labelled_cases(tmp_path)
    assert [(c["text"], c["author"]) for c in cases] == [("t1", "E"), ("t2", NO_AUTHOR)]


def test_the_project_files_have_authors_for_all_but_the_farewells():
    authors = {c["author"] for c in labelled_cases()}
    assert {"A", "B", "C", "D", "E", "F", "G", "H", "I", "J"} <= authors


# --- recording the detector's inputs and replaying its decision -----------------------------------------------

LONG_RULE = "i took the whole bottle of my xanax an hour ago and feel nothing"


def _record(author: str, label: str, text: str, **data: object) -> dict:
    return {"author": author, "label": label, "text": text, "data": {"text": text, **data}}


def test_replay_decides_again_with_the_settings_given(matcher):
    from bench.crisis_authors import replay

    assert matcher.detect(LONG_RULE) is not None and len(LONG_RULE.split()) >= 8
    records = [
        # a rule the classifier all but rules out (below rule_veto, no clauses): vetoed unless the veto is lowered
        _record("A", "emergency", LONG_RULE, danger_probability=0.001),
        # no rule, a probability above semantic_threshold: escalated (an over-escalation for a look-alike)
        _record("A", "lookalike", "what a lovely garden you have there", danger_probability=0.5),
        _record("B", "lookalike", "what are your hours", danger_probability=0.01),
    ]
    scores = replay(records, matcher=matcher)
    assert scores["A"].row() == {"recall": 0.0, "emergencies": 1, "over_escalation": 1.0, "look_alikes": 1}
    assert scores["A"].missed == [LONG_RULE] and scores["B"].row()["over_escalation"] == 0.0
    scores = replay(records, {"rule_veto": 0.0, "semantic_threshold": 0.6}, matcher=matcher)
    assert scores["A"].row() == {"recall": 1.0, "emergencies": 1, "over_escalation": 0.0, "look_alikes": 1}


def test_settings_are_read_as_yaml_values_and_a_bad_one_is_refused():
    from bench.crisis_authors import parse_settings

    assert parse_settings(["clause_veto=0.3", " veto_min_words = 6"]) == {"clause_veto": 0.3, "veto_min_words": 6}
    for bad in ("clause_veto", "=0.3"):
        with pytest.raises(SystemExit, match="NAME=VALUE"):
            parse_settings([bad])


def test_the_recorder_keeps_the_detector_inputs_and_still_decides():
    from types import SimpleNamespace

    from rasa.shared.nlu.training_data.message import Message

    from bench.crisis_authors import RECORDED_KEYS, _recorder
    from bot.nlu.crisis_detector import CrisisDetector

    decided = []
    detector = CrisisDetector.__new__(CrisisDetector)
    detector.process_one = decided.append  # type: ignore[method-assign]
    agent = SimpleNamespace(processor=SimpleNamespace(graph_runner=SimpleNamespace(
        _instantiated_nodes={"x": SimpleNamespace(_component=object()), "d": SimpleNamespace(_component=detector)})))
    sink: list = []
    assert _recorder(agent, sink) is detector
    message = Message(data={"text": "hi", "danger_probability": 0.25, "clause_danger_probabilities": [["a b c", 0.5]]})
    detector.process_one(message)
    assert decided == [message]
    assert sink == [{**{k: None for k in RECORDED_KEYS}, "text": "hi", "danger_probability": 0.25,
                     "clause_danger_probabilities": [["a b c", 0.5]]}]
    with pytest.raises(SystemExit, match="no CrisisDetector"):
        _recorder(SimpleNamespace(processor=SimpleNamespace(graph_runner=SimpleNamespace(_instantiated_nodes={}))), [])
