"""What every channel does to a visitor's text before the assistant sees it.

- Rasa treats a message starting with ``/`` as a shortcut (``/intent{"slot": ...}``,
  ``/restart``) that skips understanding and can set slots. Visitors never get that:
  the assistant's own buttons send plain questions (or ``tel:`` links), so a leading
  ``/`` is removed and the rest is understood like any other text.
- Control characters become spaces, Unicode is normalised, and the text is capped at
  ``MAX_CHARS``. A longer message keeps its beginning and end, and any sentence in the
  middle that names a danger, so the crisis detector still sees it; the full message
  is kept in the message metadata (`original_text`), so nothing the visitor wrote is lost.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Callable

MAX_CHARS = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"[ \t]{2,}")
_SENTENCE = re.compile(r"[^.!?\n]*[.!?\n]?")


def clean(text: str | None) -> str:
    """Normalised text without control characters or runs of spaces, stripped."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", str(text))
    text = _CONTROL.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def strip_shortcut(text: str) -> str:
    """Removes the leading ``/`` that would make Rasa skip understanding."""
    return text.lstrip("/").lstrip() if text.startswith("/") else text


def shorten(text: str, is_danger: Callable[[str], bool] | None = None, limit: int = MAX_CHARS) -> str:
    """Caps ``text`` at about ``limit`` characters, keeping sentences ``is_danger`` flags."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit // 2], text[-limit // 4:]
    middle = text[limit // 2: -limit // 4]
    kept = []
    if is_danger is not None:
        budget = limit // 4
        for sentence in _SENTENCE.findall(middle):
            if sentence.strip() and len(sentence) <= budget and is_danger(sentence):
                kept.append(sentence.strip())
                budget -= len(sentence)
    return " … ".join([head] + kept + [tail])


def sanitize(text: str | None, is_danger: Callable[[str], bool] | None = None) -> str:
    """The text the assistant understands for what the visitor typed."""
    return shorten(strip_shortcut(clean(text)), is_danger)


def keep_original(raw: str | None, text: str, metadata: dict | None) -> dict | None:
    """Metadata that keeps the visitor's full message when it was shortened, so nothing is lost."""
    if raw is None or len(raw) <= MAX_CHARS or raw == text:
        return metadata
    return {**(metadata or {}), "original_text": raw}
