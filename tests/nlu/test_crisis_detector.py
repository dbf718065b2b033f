"""The crisis detector component: either path escalates, whatever the classifier thought."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.crisis_detector import CrisisDetector


@pytest.fixture(scope="module")
def detector(matcher):
    return CrisisDetector({}, matcher=matcher)


def message(text, intent="faq", confidence=0.99, ranking=None):
    m = Message(data={"text": text})
    m.set("intent", {"name": intent, "confidence": confidence})
    m.set("intent_ranking", ranking or [{"name": intent, "confidence": confidence}])
    return m


def kind_of(m):
    return [e["value"] for e in m.get("entities") or [] if e["entity"] == "emergency_kind"]


def test_rule_overrides_a_confident_faq_prediction(detector):
    m = message("how long is the program? never mind, I just took the whole bottle", "faq", 0.99)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert m.get("intent_ranking")[0]["name"] == "emergency"
    assert kind_of(m) == ["overdose"]


def test_rule_escalates_with_an_uncertain_model(detector):
    m = message("my wife is having a siezure", "greet", 0.21,
                [{"name": "greet", "confidence": 0.21}, {"name": "faq", "confidence": 0.2}])
    detector.process([m])
    assert m.get("intent")["name"] == "emergency" and kind_of(m) == ["seizure"]


def test_classifier_alone_escalates_with_a_general_kind(detector):
    m = message("everything feels pointless and I have made my decision", "emergency", 0.7)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert kind_of(m) == ["general"]


def test_classifier_below_top_but_over_threshold_escalates(detector):
    m = message("some odd message", "faq", 0.5,
                [{"name": "faq", "confidence": 0.5}, {"name": "emergency", "confidence": 0.45}])
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"


def test_questions_stay_questions(detector):
    m = message("can withdrawal cause seizures?", "faq", 0.9,
                [{"name": "faq", "confidence": 0.9}, {"name": "emergency", "confidence": 0.05}])
    detector.process([m])
    assert m.get("intent")["name"] == "faq" and not kind_of(m)


def test_empty_text_is_left_alone(detector):
    m = message("", "out_of_scope", 0.4)
    detector.process([m])
    assert m.get("intent")["name"] == "out_of_scope"


def test_an_escalated_question_is_also_answered(detector):
    m = message("what are the most serious withdrawal symptoms? i am having a seizure right now", "faq", 0.9)
    m.set("response_selector", {"faq": {"ranking": [{"intent_response_key": "faq/serious_symptoms",
                                                     "confidence": 0.8}]}})
    detector.process([m])
    entities = {e["entity"]: e["value"] for e in m.get("entities")}
    assert m.get("intent")["name"] == "emergency" and entities.get("also_answer") == "yes"


def test_a_statement_of_danger_is_not_answered_as_an_faq(detector):
    m = message("i am having a seizure right now", "emergency", 0.9)
    m.set("response_selector", {"faq": {"ranking": [{"intent_response_key": "faq/serious_symptoms",
                                                     "confidence": 0.9}]}})
    detector.process([m])
    assert "also_answer" not in {e["entity"] for e in m.get("entities")}


def test_classifier_alone_does_not_escalate_a_figure_of_speech(detector):
    m = message("the wait on hold is killing me lol", "emergency", 0.99,
                [{"name": "emergency", "confidence": 0.99}, {"name": "out_of_scope", "confidence": 0.01}])
    detector.process([m])
    assert m.get("intent")["name"] == "out_of_scope" and not kind_of(m)
    assert all(r["name"] != "emergency" for r in m.get("intent_ranking"))
