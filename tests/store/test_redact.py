"""Redaction of visitors' personal details, without touching doses, dates or emergency numbers."""
from __future__ import annotations

import pytest

from bot import facts
from bot.store.redact import redact


@pytest.mark.parametrize("text, expected", [
    ("call me at (555) 123-4567 please", "call me at [phone] please"),
    ("555.123.4567", "[phone]"),
    ("my number is 555-123-4567.", "my number is [phone]."),
    ("5551234567", "[phone]"),
    ("555 123 4567 after 6", "[phone] after 6"),
    ("1-800-555-0199", "[phone]"),
    ("+1 (555) 123-4567", "[phone]"),
    ("+44 20 7946 0958", "[phone]"),
    ("+33 1 23 45 67 89 is my cell", "[phone] is my cell"),
    ("+4915112345678", "[phone]"),
    ("ring 020 7946 0958", "ring [phone]"),
    ("my room is 555-1234", "my room is [phone]"),
    ("write to jane.doe+benzo@example.co.uk today", "write to [email] today"),
    ("JO_99@mail.example.org", "[email]"),
    ("ssn 123-45-6789", "ssn [ssn]"),
    ("card 4111 1111 1111 1111 exp", "card [card] exp"),
    ("4111-1111-1111-1111", "[card]"),
    ("4111111111111111", "[card]"),
    ("amex 3782 822463 10005", "amex [card]"),
    ("I live at 123 Main St, Springfield", "I live at [address], Springfield"),
    ("4500 North Oak Avenue", "[address]"),
    ("come to 12 5th Ave.", "come to [address]"),
    ("I'm at 77 elm st", "I'm at [address]"),
    ("12 Elm Dr, Austin", "[address], Austin"),
    ("call (555) 123-4567 or mail a@b.io", "call [phone] or mail [email]"),
])
def test_personal_details_are_replaced(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "call 911 or 988 right now",
    "I took 2 mg of xanax and 0.5mg klonopin",
    "my dose went from 1.5 to 0.25 mg",
    "a range of 250-1000 mg",
    "on 2024-01-05 and 01/05/2024, or 5.1.2024",
    "from 2020-01-01 to 2021-01-01",
    "since 2019, between 2019-2020",
    "at 10:30 pm, 3 times a day for 15 years",
    "I am 34 years old and 5 foot 6, 140 lbs",
    "5 minutes down the road",
    "I took 2 Xanax Dr said no",
    "I need 2 more dr visits",
    "zip 90210, ref 12345678",
    "it has been 45 days",
    "week 3 of 12",
    "",
])
def test_ordinary_sentences_are_left_alone(text):
    assert redact(text) == text


def test_the_center_line_and_emergency_numbers_survive_in_a_reply():
    """The library redacts visitors' words; if a reply ever went through it, what it must keep
    is still there (except the center's line, which is why replies are never redacted)."""
    f = facts.load()
    reply = f"Call {f.emergency_number} now, or {f.crisis_line}."
    assert redact(reply) == reply
    assert redact(f"Our line: {f.center_phone}") == "Our line: [phone]", "a visitor typing the line is redacted"
