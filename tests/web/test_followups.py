"""Answers offer follow-up questions (the widget shows them as quick replies): plain questions
the assistant answers with the intended topic, right after the answer that offers them."""
from __future__ import annotations

import uuid
from typing import Dict, List, Tuple

import pytest
import yaml

from bot import facts
from bot.evaluation.replies import conversation
from bot.settings import ROOT

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
SUGGESTIONS: Dict[str, str] = yaml.safe_load((ROOT / "data" / "suggestions.yml").read_text(encoding="utf-8"))[
    "suggestions"]
QUESTION_TOPIC = {question: topic for topic, question in SUGGESTIONS.items()}
LINKS = ("tel:", "sms:")
# Buttons that start the callback form, not a follow-up question (tests/e2e/test_callback.py).
CALLBACK_REQUESTS = {"Can someone call me back about my insurance?"}
# How a visitor reaches a topic's answer: its suggestion question, except where that one is answered
# on another topic (akathisia's "severe restlessness" gets the serious symptoms, which list it).
ENTRY = {**SUGGESTIONS, "akathisia": "Is akathisia a withdrawal symptom?"}


def follow_ups() -> List[Tuple[str, str]]:
    """(topic, topic of the follow-up question) for every follow-up button of an answer."""
    pairs = []
    for name, variations in DOMAIN["responses"].items():
        if name.startswith("utter_faq/"):
            for button in variations[0].get("buttons") or []:
                if not str(button["payload"]).startswith(LINKS) and button["payload"] not in CALLBACK_REQUESTS:
                    pairs.append((name.split("/", 1)[1], QUESTION_TOPIC.get(button["payload"], button["payload"])))
    return pairs


def answer_text(topic: str) -> str:
    return DOMAIN["responses"][f"utter_faq/{topic}"][0]["text"].format(**vars(facts.load()))


def test_answers_offer_follow_ups_from_the_issue():
    pairs = set(follow_ups())
    assert ("common_symptoms", "serious_symptoms") in pairs, "from the common symptoms to the serious ones"
    assert ("stop_abruptly", "safest_setting") in pairs, "from stopping to the safest setting"
    assert len({topic for topic, _ in pairs}) >= 15, "most answers offer a next question"


@pytest.mark.parametrize("topic, follow_up", follow_ups())
def test_a_follow_up_is_a_known_plain_question_on_another_topic(topic, follow_up):
    assert follow_up in SUGGESTIONS, f"{follow_up!r} is not a question of data/suggestions.yml"
    assert follow_up != topic
    for variation in DOMAIN["responses"][f"utter_faq/{topic}"]:
        titles = [b["title"] for b in variation.get("buttons") or []]
        assert len(titles) == len(set(titles)) and len(titles) <= 5, titles
        assert all(not str(b["payload"]).startswith("/") for b in variation.get("buttons") or []), "no shortcuts"
        assert any(str(b["payload"]).startswith("tel:") for b in variation.get("buttons") or []), \
            "the center's line stays on every answer"


@pytest.mark.model
@pytest.mark.parametrize("topic, follow_up", follow_ups())
def test_a_follow_up_is_answered_on_its_topic_after_the_answer_that_offers_it(assistant, topic, follow_up):
    sender = f"follow-up-{uuid.uuid4().hex}"
    first = conversation(assistant.url, sender, ["hello", ENTRY[topic]])
    assert first and first[0]["text"].startswith(answer_text(topic)[:100]), (topic, first)
    reply = conversation(assistant.url, sender, [SUGGESTIONS[follow_up]])
    assert reply and reply[0]["text"].startswith(answer_text(follow_up)[:100]), (topic, follow_up, reply)
