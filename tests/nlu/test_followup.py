"""Follow-ups are read together with the visitor's previous message; other messages are untouched."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.followup import FollowUpContext, is_followup


@pytest.mark.parametrize("text", ["how long do they usually last?", "and what are the really dangerous ones?",
                                  "is that covered by insurance?", "why is that?", "and for klonopin?",
                                  "what about valium", "is it permanent?"])
def test_follow_ups(text):
    assert is_followup(text)


@pytest.mark.parametrize("text", ["how long is your program?", "do you take insurance?", "is this chat private?",
                                  "what are common withdrawal symptoms", "",
                                  "I have been tapering off klonopin for two years and they told me it would be easy"])
def test_not_follow_ups(text):
    assert not is_followup(text)


def message(text, previous=None):
    return Message(data={"text": text, "metadata": {"previous_text": previous} if previous else None})


def test_a_follow_up_is_prefixed_with_the_previous_message():
    m = message("why is that?", "are benzos addictive?")
    FollowUpContext({}).process([m])
    assert m.get("text") == "are benzos addictive? why is that?"


def test_without_a_previous_message_or_a_follow_up_nothing_changes():
    first, plain = message("why is that?"), message("do you take insurance?", "hi")
    FollowUpContext({}).process([first, plain])
    assert first.get("text") == "why is that?" and plain.get("text") == "do you take insurance?"


@pytest.mark.parametrize("previous, expected", [
    ("what are common withdrawal symptoms?", True), ("weekday mornings", True),
    ("555.234.5678", False), ("(555) 234-5678", False), ("maria@example.com", False), ("ok", False)])
def test_only_words_give_a_follow_up_context(previous, expected):
    from bot.nlu.followup import gives_context

    assert gives_context(previous) is expected


@pytest.mark.parametrize("text", ["he's still not waking up", "she's breathing really slow", "his lips are purple",
                                  "they're not answering"])
def test_contracted_and_possessive_pronouns_lean_on_the_previous_message(text):
    from bot.nlu.followup import is_followup

    assert is_followup(text)


@pytest.mark.parametrize("previous, text, expected", [
    ("what are the symptoms?", "how long do they last?", "what are the symptoms? how long do they last?"),
    ("  what are the symptoms?\n", " how long do they last?  ", "what are the symptoms? how long do they last?"),
])
def test_read_after_joins_the_two_messages_with_one_space(previous, text, expected):
    from bot.nlu.followup import read_after

    assert read_after(previous, text) == expected
