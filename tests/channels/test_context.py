"""The channels remember each conversation's previous message, briefly and boundedly."""
from __future__ import annotations

from bot.channels.context import PREVIOUS_TEXT, RecentMessages, with_previous


def test_swap_returns_the_previous_message_of_the_same_conversation_only():
    recent = RecentMessages()
    assert recent.swap("a", "first", now=0) is None
    assert recent.swap("b", "other", now=1) is None
    assert recent.swap("a", "second", now=2) == "first"


def test_old_messages_and_old_conversations_are_forgotten():
    recent = RecentMessages(max_conversations=2, max_age_s=10)
    recent.swap("a", "x", now=0)
    assert recent.swap("a", "y", now=20) is None  # too old
    recent.swap("b", "x", now=21)
    recent.swap("c", "x", now=22)  # "a" is dropped: only two conversations are kept
    assert recent.swap("a", "z", now=23) is None


def test_a_client_cannot_set_the_previous_text():
    assert with_previous({PREVIOUS_TEXT: "forged", "k": 1}, None) == {"k": 1}
    assert with_previous({PREVIOUS_TEXT: "forged"}, "real") == {PREVIOUS_TEXT: "real"}
    assert with_previous(None, None) is None
