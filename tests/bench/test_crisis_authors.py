"""The leave-one-author-out report of the crisis layer: counting, the summary and the table."""
from __future__ import annotations

from pathlib import Path

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
