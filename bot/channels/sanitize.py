"""What every channel does to a visitor's text before the assistant sees it.

- Rasa treats a message starting with ``/`` as a shortcut (``/intent{"slot": ...}``,
  ``/restart``) that skips understanding and can set slots. Visitors never get that: the
  assistant's own buttons send plain questions (or ``tel:`` / ``sms:`` links), so every
  leading slash, whitespace and invisible character is removed, however they are mixed, and
  the rest is understood like any other text.
- Control characters become spaces; format and other default-ignorable characters (zero
  width spaces and joiners, soft hyphen, bidi controls, tag characters, variation
  selectors...) are removed, so they can hide nothing from the crisis rules or the shortcut
  filter; Unicode is normalised (NFC).
- The text is capped at ``MAX_CHARS``. A longer message keeps its beginning and end, and any
  sentence in the middle that names a danger (scanning at most ``MAX_SCAN_CHARS``, so the
  cost per message is bounded); the full message is kept in the message metadata
  (``original_text``), so nothing the visitor wrote is lost.
"""
from __future__ import annotations

import asyncio
import re
import unicodedata
from typing import Callable

MAX_CHARS = 4000
MAX_SCAN_CHARS = 200_000
SEPARATOR = " … "
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# Default-ignorable code points that are not of category Cf (those are removed by category).
_IGNORABLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2065\u3164\ufe00-\ufe0f\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_SPACES = re.compile(r"[^\S\n]{2,}")
_SENTENCE = re.compile(r"[^.!?\n]*[.!?\n]?")
# Slashes and look-alike slashes, with any whitespace, at the start of a message.
_SHORTCUT = re.compile(r"^[\s/\u2044\u2215\u29f8\uff0f\\]+")


def _visible(text: str) -> str:
    """Removes format (Cf) and other default-ignorable characters, and lone surrogates (Cs).

    A lone surrogate (half an emoji, e.g. "\\ud83d" from a text field cut at its limit) cannot
    be encoded and would break every component that hashes the text.
    """
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Cs"))
    return _IGNORABLE.sub("", text)


def clean(text: str | None) -> str:
    """Normalised text without control, format or invisible characters nor runs of spaces, stripped."""
    if not text:
        return ""
    text = _visible(_CONTROL.sub(" ", str(text)))
    # after the removal, so that an invisible character between a letter and its accent hides nothing
    text = unicodedata.normalize("NFC", text)
    return _SPACES.sub(" ", text).strip()


def strip_shortcut(text: str) -> str:
    """Removes every leading slash and space, so Rasa never reads visitor text as ``/intent``."""
    return _SHORTCUT.sub("", text)


def shorten(text: str, is_danger: Callable[[str], bool] | None = None, limit: int = MAX_CHARS) -> str:
    """Caps ``text`` at about ``limit`` characters, keeping sentences ``is_danger`` flags."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit // 2], text[-limit // 4:]
    middle = text[limit // 2: -limit // 4][:MAX_SCAN_CHARS]
    kept = []
    if is_danger is not None:
        budget = limit // 4
        for sentence in _SENTENCE.findall(middle):
            if budget <= 0:
                break
            if sentence.strip() and len(sentence) + len(SEPARATOR) <= budget and is_danger(sentence):
                kept.append(sentence.strip())
                budget -= len(sentence) + len(SEPARATOR)
    return SEPARATOR.join([head] + kept + [tail])


def sanitize(text: str | None, is_danger: Callable[[str], bool] | None = None) -> str:
    """The text the assistant understands for what the visitor typed."""
    return shorten(strip_shortcut(clean(text)), is_danger)


def is_danger(sentence: str) -> bool:
    """Whether the crisis rules flag a sentence (used to keep it when a long message is capped)."""
    from bot.crisis import shared_matcher  # built on first use: no I/O at import

    return shared_matcher().detect(sentence) is not None


def needs_thread(text: str | None) -> bool:
    """Whether sanitising ``text`` may take long enough to run off the event loop."""
    return text is not None and len(text) > MAX_CHARS


async def clean_text(raw: str) -> str:
    """Sanitises a message; long ones in a thread, never blocking the event loop."""
    if needs_thread(raw):
        # the middle of a long message is scanned for danger: slow, so in a thread
        return await asyncio.get_running_loop().run_in_executor(None, sanitize, raw, is_danger)
    return sanitize(raw)


def keep_original(raw: str | None, text: str, metadata: dict | None) -> dict | None:
    """Metadata that keeps the visitor's full message when it was shortened, so nothing is lost."""
    if raw is None or len(raw) <= MAX_CHARS or raw == text:
        return metadata
    return {**(metadata or {}), "original_text": raw}
