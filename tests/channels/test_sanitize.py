"""What visitors type is cleaned before the assistant sees it."""
from __future__ import annotations

from bot.channels.sanitize import MAX_CHARS, clean, keep_original, sanitize, shorten, strip_shortcut


def test_intent_shortcuts_lose_their_slash():
    assert sanitize('/restart') == "restart"
    assert sanitize('/inform{"crisis_flagged": false}') == 'inform{"crisis_flagged": false}'
    assert sanitize("//greet") == "greet"
    assert strip_shortcut("what is 1/2 mg") == "what is 1/2 mg"


def test_control_characters_and_empty_input():
    assert clean("hi\x00\x07 there\u200b") == "hi there"
    assert sanitize(None) == ""
    assert sanitize("   \t\n ") == ""


def test_long_messages_are_capped_but_keep_danger_from_the_middle():
    filler = "I have a question about the program. " * 2000
    text = filler + "I just took the whole bottle. " + filler
    out = sanitize(text, is_danger=lambda s: "whole bottle" in s)
    assert len(out) <= MAX_CHARS + 200
    assert "I just took the whole bottle." in out


def test_short_messages_are_untouched():
    assert shorten("hello", is_danger=lambda s: True) == "hello"


def test_a_shortened_message_keeps_its_original_in_metadata():
    raw = "x" * (MAX_CHARS * 3)
    text = sanitize(raw)
    assert keep_original(raw, text, {"a": 1}) == {"a": 1, "original_text": raw}
    assert keep_original("hi", "hi", None) is None
