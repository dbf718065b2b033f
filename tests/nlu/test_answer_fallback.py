"""The answer-confidence fallback: doubts the intent and the selected answer."""
from __future__ import annotations

from rasa.shared.nlu.training_data.message import Message

from bot.nlu.answer_fallback import AnswerConfidenceFallback

QUESTIONS = {"insurance": "Do you take insurance?", "contact": "How can I reach you?",
             "book": "Do you have a book?"}


def component(**kw):
    return AnswerConfidenceFallback({"intent_threshold": 0.5, "ambiguity_threshold": 0.1,
                                     "answer_threshold": 0.4, **kw}, questions=QUESTIONS)


def message(intent, conf, second=0.0, answers=(("insurance", 0.9), ("contact", 0.05), ("book", 0.05))):
    m = Message(data={"text": "some text"})
    m.set("intent", {"name": intent, "confidence": conf})
    m.set("intent_ranking", [{"name": intent, "confidence": conf}, {"name": "other", "confidence": second}])
    m.set("response_selector", {"faq": {"ranking": [
        {"intent_response_key": f"faq/{t}", "confidence": c} for t, c in answers]}})
    return m


def suggestions(m):
    return {e["entity"]: e["value"] for e in m.get("entities") or [] if e["entity"].startswith("suggestion_")}


def test_confident_intent_and_answer_pass():
    m = message("faq", 0.95)
    component().process([m])
    assert m.get("intent")["name"] == "faq" and not suggestions(m)


def test_confident_intent_with_doubtful_answer_falls_back_with_two_closest_questions():
    m = message("faq", 0.95, answers=(("contact", 0.3), ("book", 0.25), ("insurance", 0.2)))
    component().process([m])
    assert m.get("intent")["name"] == "nlu_fallback"
    assert m.get("intent")["fallback_reason"] == "answer confidence"
    assert suggestions(m) == {"suggestion_1": "How can I reach you?", "suggestion_2": "Do you have a book?"}


def test_low_intent_confidence_falls_back():
    m = message("greet", 0.3)
    component().process([m])
    assert m.get("intent")["name"] == "nlu_fallback"


def test_ambiguous_intents_fall_back():
    m = message("thanks", 0.52, second=0.47)
    component().process([m])
    assert m.get("intent")["fallback_reason"] == "ambiguous intent"


def test_emergency_never_falls_back():
    m = message("emergency", 0.2, second=0.19)
    component().process([m])
    assert m.get("intent")["name"] == "emergency"


def test_answer_confidence_only_matters_for_faq():
    m = message("greet", 0.9, answers=(("contact", 0.1),))
    component().process([m])
    assert m.get("intent")["name"] == "greet"


def test_the_retrieval_intent_can_need_a_higher_confidence():
    m = message("faq", 0.6)
    component(retrieval_intent_threshold=0.7).process([m])
    assert m.get("intent")["fallback_reason"] == "intent confidence"
    other = message("greet", 0.6)
    component(retrieval_intent_threshold=0.7).process([other])
    assert other.get("intent")["name"] == "greet"
