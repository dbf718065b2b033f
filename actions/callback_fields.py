"""Checking and normalising what a visitor types into the callback form (no Rasa, no I/O).

Each function returns the cleaned value, or None when the answer cannot be used (the form
then asks again, saying why). ``is_skip`` recognises "skip", "no", "none"... for the
optional questions.
"""
from __future__ import annotations

import re
import unicodedata

SKIP_WORDS = {"skip", "no", "none", "nope", "no thanks", "no thank you", "n/a", "na", "nothing", "pass", "-",
              "skip it", "no email", "no e-mail", "i don't have one", "dont have one", "no message"}
YES_WORDS = {"yes", "y", "yeah", "yep", "yes please", "send", "send it", "send my request", "confirm", "ok", "okay",
             "sure", "correct", "that's right", "thats right", "right", "please do", "go ahead"}
NO_WORDS = {"no", "n", "nope", "don't send", "dont send", "do not send", "cancel", "stop", "never mind", "nevermind"}
SELF_WORDS = {"me", "myself", "about me", "for me", "it's me", "its me", "it is about me", "me myself", "mine",
              "self", "i am", "i'm", "im"}
OTHER_HINTS = ("someone", "somebody", "else", "son", "daughter", "mom", "mother", "dad", "father", "wife",
               "husband", "partner", "friend", "brother", "sister", "parent", "child", "kid", "family", "loved one",
               "boyfriend", "girlfriend", "grand")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
# Numbers that must never be a callback number.
_NOT_CALLABLE = {"911", "988", "112", "999"}
MAX_NAME, MAX_TIME, MAX_MESSAGE = 80, 120, 500


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", text).strip().strip(".!").strip().lower()


def is_skip(text: str) -> bool:
    """The visitor declines an optional question."""
    return _plain(text) in SKIP_WORDS


NAME_PREFIXES_ALONE = {"my name is", "my name's", "i am", "i'm", "this is", "call me", "name"}
_QUESTION_START = re.compile(r"^(how|what|what's|whats|when|where|why|who|which|is|are|can|could|do|does|did|will|"
                             r"would|should|shall|may|am)\b", re.I)


def is_question(text: str, strict: bool = True) -> bool:
    """Written as a question: a question mark; unless ``strict``, also a question word first.

    Strict for answers that may begin like a question ("Will Smith", "May Chen", "when I'm off
    work"): only a question mark counts there.
    """
    value = (text or "").strip()
    return "?" in value or (not strict and bool(_QUESTION_START.match(value)))


def name(text: str) -> str | None:
    """A person's name: letters (any script), spaces, apostrophes, hyphens, periods; no digits or questions."""
    value = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text or "")).strip()
    if value.lower().replace("\u2019", "'").strip(" .!,") in NAME_PREFIXES_ALONE:
        return None
    value = re.sub(r"^(my name is|my name['\u2019]s|i am|i['\u2019]m|this is|it['\u2019]s|call me|name:)\s+", "", value,
                   flags=re.I)
    value = value.strip(" .!,")
    if not value or len(value) > MAX_NAME or "?" in value:
        return None
    # letters and the marks that combine with them (Devanagari, Tamil... vowel signs are marks)
    if not all(ch.isalpha() or unicodedata.category(ch).startswith("M") or ch in " '-.’" for ch in value) \
            or not any(ch.isalpha() for ch in value):
        return None
    if len(value.split()) > 6:
        return None
    return value


def phone(text: str, own_line: str = "") -> str | None:
    """A callable number in E.164 form (+15551234567): US numbers with or without +1, or + and 8-15 digits."""
    raw = unicodedata.normalize("NFKC", text or "").strip()
    if not raw or len(raw) > 40 or re.search(r"[A-Za-z]", re.sub(r"(?i)\b(ext|x)\.?\s*\d+$", "", raw)):
        return None
    raw = re.sub(r"(?i)\s*(ext|x)\.?\s*\d+$", "", raw)  # an extension is not part of the number
    raw = raw.replace("(0)", " ")  # "+44 (0) 20 ...": the trunk 0 is not dialled from abroad
    if re.search(r"[^\d\s()+.\-]", raw):
        return None
    digits = re.sub(r"\D", "", raw)
    if digits in _NOT_CALLABLE:
        return None
    if raw.startswith("+") and not raw.startswith("+1"):
        result = "+" + digits if 8 <= len(digits) <= 15 else None
    else:
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
        if len(digits) != 10 or digits[0] in "01" or digits[3] in "01":
            return None
        result = "+1" + digits
    if result is not None and own_line and re.sub(r"\D", "", own_line).endswith(result.lstrip("+").lstrip("1")):
        return None  # the center's own line
    return result


def display_phone(e164: str) -> str:
    """(555) 123-4567 for a US number, the E.164 form otherwise."""
    if e164.startswith("+1") and len(e164) == 12:
        d = e164[2:]
        return f"({d[:3]}) {d[3:6]}-{d[6:]}"
    return e164


def email(text: str) -> str | None:
    """A plausible e-mail address, lower-cased domain; None if not one."""
    value = (text or "").strip().strip("<>.,")
    if len(value) > 254 or not _EMAIL.match(value):
        return None
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def best_time(text: str) -> str | None:
    """When to call, as typed (trimmed): any short text with a letter or a digit."""
    value = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text or "")).strip()
    if not value or len(value) > MAX_TIME or not re.search(r"\w", value):
        return None
    return value


def message(text: str) -> str | None:
    """A short message for the team (trimmed, capped)."""
    value = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text or "")).strip()
    return value[:MAX_MESSAGE] if value else None


def about(text: str) -> str | None:
    """"self" or "someone_else" from "about me", "my son", "someone else"...; None if unclear."""
    value = _plain(text)
    if not value:
        return None
    words = re.findall(r"[a-z']+", value)
    if (value in SELF_WORDS or value.startswith(("about me", "it's about me", "me,", "for myself"))
            or "myself" in words or "my own" in value or "my self" in value):
        return "self"
    if any(re.search(rf"\b{re.escape(hint)}", value) for hint in OTHER_HINTS):
        return "someone_else"
    return None


def confirmation(text: str) -> str | None:
    """"yes" (send) or "no" (don't); None if unclear."""
    value = _plain(text)
    if value in YES_WORDS:
        return "yes"
    if value in NO_WORDS:
        return "no"
    return None
