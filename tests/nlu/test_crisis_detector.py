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


# The semantic path: the danger probability of bot.nlu.semantic_crisis beside the rules and the n-gram classifier.

def semantic(text, p, intent="faq", confidence=0.9, ranking=None):
    m = message(text, intent, confidence, ranking)
    if p is not None:
        m.set("danger_probability", p)
    return m


def processors_of(m):
    return [e["processors"] for e in m.get("entities") or [] if e["entity"] == "emergency_kind"]


def test_semantic_alone_escalates_with_a_general_kind(detector, matcher):
    text = "everything feels pointless and I have made my decision"
    assert matcher.assess(text).detection is None and matcher.assess(text).kind is None
    m = semantic(text, 0.9)
    detector.process([m])
    assert m.get("intent") == {"name": "emergency", "confidence": 1.0}
    assert [r["name"] for r in m.get("intent_ranking")] == ["emergency", "faq"]
    assert kind_of(m) == ["general"] and processors_of(m) == [["semantic"]]
    (entity,) = [e for e in m.get("entities") if e["entity"] == "emergency_kind"]
    assert entity["replaced_intent"] == "faq"


def test_semantic_alone_takes_the_kind_of_a_rule_that_did_not_fire(detector, matcher):
    assessment = matcher.assess("I might overdose")
    assert assessment.detection is None and not assessment.benign and assessment.kind == "overdose"
    m = semantic("I might overdose", 0.85)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert kind_of(m) == ["overdose"] and processors_of(m) == [["semantic"]]


def test_semantic_threshold_is_inclusive_and_configurable(detector, matcher):
    text = "everything feels pointless and I have made my decision"
    at, below = semantic(text, 0.8), semantic(text, 0.79)
    detector.process([at, below])
    assert at.get("intent")["name"] == "emergency"
    assert below.get("intent")["name"] == "faq" and not kind_of(below)
    stricter = CrisisDetector({"semantic_threshold": 0.95}, matcher=matcher)
    m = semantic(text, 0.9)
    stricter.process([m])
    assert m.get("intent")["name"] == "faq"


def test_a_middling_probability_escalates_with_an_ngram_hint(detector):
    m = semantic("everything feels pointless and I have made my decision", 0.6, ranking=[
        {"name": "faq", "confidence": 0.9}, {"name": "greet", "confidence": 0.08},
        {"name": "emergency", "confidence": 0.02}])
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert [r["name"] for r in m.get("intent_ranking")] == ["emergency", "faq", "greet"]
    assert kind_of(m) == ["general"] and processors_of(m) == [["semantic"]]


def test_a_middling_probability_without_a_hint_does_not_escalate(detector):
    ranking = [{"name": "faq", "confidence": 0.9}, {"name": "greet", "confidence": 0.1}]
    m = semantic("everything feels pointless and I have made my decision", 0.6, ranking=ranking)
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.9}
    assert m.get("intent_ranking") == ranking and not kind_of(m)


def test_a_hint_below_ngram_hint_does_not_escalate_a_middling_probability(detector):
    m = semantic("everything feels pointless and I have made my decision", 0.6, ranking=[
        {"name": "faq", "confidence": 0.995}, {"name": "emergency", "confidence": 0.005}])
    detector.process([m])
    assert m.get("intent")["name"] == "faq" and not kind_of(m)


def test_a_low_probability_demotes_an_ngram_emergency(detector):
    m = semantic("everything feels pointless and I have made my decision", 0.05, "emergency", 0.7, [
        {"name": "emergency", "confidence": 0.7}, {"name": "faq", "confidence": 0.2},
        {"name": "greet", "confidence": 0.1}])
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.2}
    assert [r["name"] for r in m.get("intent_ranking")] == ["faq", "greet"]
    assert not kind_of(m)


def test_a_low_probability_demotes_an_ngram_emergency_with_nothing_after_it(detector):
    m = semantic("everything feels pointless and I have made my decision", 0.01, "emergency", 0.99)
    detector.process([m])
    assert m.get("intent") == {"name": "out_of_scope", "confidence": 0.0}
    assert m.get("intent_ranking") == [] and not kind_of(m)


def test_a_low_probability_removes_an_emergency_over_the_threshold_below_the_top(detector):
    m = semantic("some odd message", 0.02, "faq", 0.5,
                 [{"name": "faq", "confidence": 0.5}, {"name": "emergency", "confidence": 0.45}])
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.5}
    assert [r["name"] for r in m.get("intent_ranking")] == ["faq"]


def test_without_a_probability_the_ngram_classifier_decides_alone(detector):
    m = semantic("everything feels pointless and I have made my decision", None, "emergency", 0.7, [
        {"name": "emergency", "confidence": 0.7}, {"name": "faq", "confidence": 0.2},
        {"name": "greet", "confidence": 0.1}])
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert kind_of(m) == ["general"] and processors_of(m) == [["classifier"]]


def test_a_confirming_probability_keeps_the_ngram_emergency(detector):
    m = semantic("everything feels pointless and I have made my decision", 0.1, "emergency", 0.7)
    detector.process([m])
    assert m.get("intent")["name"] == "emergency" and processors_of(m) == [["classifier"]]


def test_a_rule_escalates_whatever_the_probability(detector):
    m = semantic("my husband took too much", 0.0, "faq", 0.9,
                 [{"name": "faq", "confidence": 0.9}, {"name": "emergency", "confidence": 0.1}])
    detector.process([m])
    assert m.get("intent")["name"] == "emergency"
    assert kind_of(m) == ["overdose"] and processors_of(m) == [["rule:took_everything"]]


def test_semantic_does_not_escalate_what_the_matcher_finds_benign(detector, matcher):
    text = "I overdosed back in 2015, I'm fine now, how does your program work?"
    assessment = matcher.assess(text)
    assert assessment.detection is None and assessment.benign
    m = semantic(text, 0.95)
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.9} and not kind_of(m)


def test_a_benign_message_loses_an_ngram_emergency_even_when_semantic_agrees(detector):
    text = "I overdosed back in 2015, I'm fine now, how does your program work?"
    m = semantic(text, 0.95, "emergency", 0.8,
                 [{"name": "emergency", "confidence": 0.8}, {"name": "faq", "confidence": 0.2}])
    detector.process([m])
    assert m.get("intent") == {"name": "faq", "confidence": 0.2} and not kind_of(m)
    assert [r["name"] for r in m.get("intent_ranking")] == ["faq"]
