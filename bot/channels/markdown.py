"""Markdown that the web widget may render: links only to http, https, tel and sms addresses.

rasa-webchat 1.0.1 renders the bot's messages with react-markdown and ``transformLinkUri: null``:
whatever scheme a link has is kept, so ``[x](javascript:...)`` in a bot message would be a
clickable script. :func:`safe_markdown` keeps an inline link ``[text](url)`` only when its url
is safe (:func:`safe_url`) and backslash-escapes every other ``\\``, ``[``, ``]``, ``<``, ``>``,
``!`` and ``&``: without them no other link, reference link, image, autolink, HTML or character
reference can form, and the characters show as typed. A bare ``mailto:`` (which remark turns
into a link) is escaped too. :func:`close_lists` ends a list before the line that follows it
(markdown would otherwise run that line into the list's last item).
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

SAFE_SCHEMES = ("http", "https", "tel", "sms")
# An inline link with a plain label and a destination without spaces, brackets or backslashes.
_LINK = re.compile(r"\[([^\[\]\n]{1,500})\]\(\s*([^\s()<>\\]{1,2000})\s*\)")
_SPECIAL = re.compile(r"([\\\[\]<>!&])")
_MAILTO = re.compile(r"(mailto):", re.IGNORECASE)


def safe_url(url: object) -> bool:
    """Whether ``url`` is an http, https, tel or sms address, spelled plainly (no entities, no spaces)."""
    if not isinstance(url, str) or not url or url != url.strip() or any(ord(c) < 33 for c in url):
        return False
    scheme = urlsplit(url).scheme.lower()
    return scheme in SAFE_SCHEMES and url.lower().startswith(scheme + ":")


def _escape(text: str) -> str:
    return _MAILTO.sub(r"\1\\:", _SPECIAL.sub(r"\\\1", text))


def safe_markdown(text: str) -> str:
    """``text`` with its safe inline links kept and everything else that could make a link escaped."""
    out, last = [], 0
    for match in _LINK.finditer(text):
        label, url = match.groups()
        if not safe_url(url):
            continue
        out.append(_escape(text[last:match.start()]))
        out.append(f"[{_escape(label)}]({url})")
        last = match.end()
    out.append(_escape(text[last:]))
    return "".join(out)


def close_lists(text: str) -> str:
    """A blank line between a list item (``- ...``) and a following line that is not one."""
    lines = text.split("\n")
    out = lines[:1]
    for previous, line in zip(lines, lines[1:]):
        if previous.lstrip().startswith("- ") and line.strip() and not line.lstrip().startswith("- "):
            out.append("")
        out.append(line)
    return "\n".join(out)
