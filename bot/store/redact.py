"""Redaction of personal details in visitors' messages: phone numbers, e-mail, SSNs, cards, addresses.

Applied to what visitors wrote (previews, exports, ``review show --redact``), never to the
assistant's own replies, which carry the center's line and the emergency numbers on purpose.
The patterns aim at the forms people actually type and leave alone what a withdrawal
conversation is full of: doses ("2 mg", "0.5mg"), dates ("2024-01-05", "01/05/2024"),
years, durations, and the emergency numbers 911 and 988.

Street addresses are redacted only in the unambiguous form "<number> <Name...> <street type>"
("123 Main St", "4500 North Oak Avenue", "12 5th Ave"); a lowercase street name is accepted
only with an abbreviated type ("123 main st"), so that "5 minutes down the road" stays.
"""
from __future__ import annotations

import re
from typing import Callable, List, Tuple

EMAIL, PHONE, SSN, CARD, ADDRESS = "[email]", "[phone]", "[ssn]", "[card]", "[address]"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")

# 123-45-6789 or 123 45 6789 (the same separator twice).
_SSN = re.compile(r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])")

# Cards: 13-19 digits in one run, 4-4-4-4(-3) groups, or Amex's 4-6-5 (spaces or dashes).
_CARD = re.compile(
    r"(?<![\w+-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{5})(?![\w-])"
)

# +44 20 7946 0958, +33 1 23 45 67 89, +1 (555) 123-4567: a "+" and 7-15 digits in groups.
_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}(?![\w])")

# North American numbers: (555) 123-4567, 555.123.4567, 555-123-4567, 5551234567, 1-800-555-0100.
_US = re.compile(
    r"(?<![\w+(-])(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-]?)\d{3}[ .-]?\d{4}(?![\w-])"
)

# Domestic numbers with a trunk 0: 020 7946 0958, 0161-496-0000, (030) 1234567.
_TRUNK = re.compile(r"(?<![\w+.-])(?:\(0\d{1,4}\)|0\d{1,4})[ .-]?\d{3,4}[ .-]?\d{3,4}(?![\w.-])")

# Local seven-digit numbers with a separator (555-1234), but not a range of doses (250-1000 mg).
_LOCAL = re.compile(
    r"(?<![\w.-])\d{3}[-.]\d{4}(?![\w.-])(?!\s*(?:mg|mcg|µg|ug|ml|g|milligrams?|micrograms?)\b)",
    re.IGNORECASE,
)

# "Dr" (also "doctor") counts only at the end of a clause: "12 Elm Dr, Austin", not "2 Xanax Dr said".
_STREET_TYPES = (r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Dr(?=\.?(?:\s*[,;:!?)]|\.?\s*$))|Lane|Ln|"
                 r"Court|Ct|Way|Place|Pl|Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Square|Sq")
_ADDRESS = re.compile(
    # Capitalized (or numbered: 5th) street names, any street type in any case.
    rf"(?<![\w.-])\d{{1,6}}[A-Za-z]?\s+(?:(?:[A-Z][A-Za-z'-]*|\d{{1,3}}(?:st|nd|rd|th))\.?\s+){{1,4}}"
    rf"(?i:{_STREET_TYPES})\b\.?"
    # Lowercase names, only with an abbreviated type: 123 main st.
    rf"|(?<![\w.-])\d{{1,6}}\s+(?:[a-z]+\s+){{1,3}}(?:st|ave|blvd|rd)\b\.?"
)

# (pattern, placeholder, minimum digits, maximum digits) in the order they apply: e-mail first
# (addresses may hold digits), SSNs and cards before phones (their digit runs look alike).
_RULES: List[Tuple[re.Pattern[str], str, int, int]] = [
    (_EMAIL, EMAIL, 0, 10_000),
    (_SSN, SSN, 9, 9),
    (_CARD, CARD, 13, 19),
    (_INTERNATIONAL, PHONE, 7, 15),
    (_US, PHONE, 10, 11),
    (_TRUNK, PHONE, 9, 12),
    (_LOCAL, PHONE, 7, 7),
    (_ADDRESS, ADDRESS, 1, 10_000),
]


def _replacer(placeholder: str, low: int, high: int) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        digits = sum(ch.isdigit() for ch in match.group(0))
        return placeholder if low <= digits <= high else match.group(0)
    return replace


def redact(text: str) -> str:
    """``text`` with phone numbers, e-mail addresses, SSNs, card numbers and street addresses
    replaced by ``[phone]``, ``[email]``, ``[ssn]``, ``[card]`` and ``[address]``."""
    if not text:
        return text
    for pattern, placeholder, low, high in _RULES:
        text = pattern.sub(_replacer(placeholder, low, high), text)
    return text
