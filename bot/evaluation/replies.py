"""Talking to a running assistant over REST, and reading its replies as a visitor would."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Dict, List, Sequence, Tuple

Reply = List[Dict[str, Any]]


def post(url: str, sender: str, text: str, timeout: float = 30.0) -> Reply:
    """POSTs one message to a REST webhook; the bot's messages (raises OSError or ValueError)."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (our own server)
        data = json.loads(resp.read().decode() or "[]")
    if not isinstance(data, list):
        raise ValueError(f"unexpected reply: {data!r}"[:300])
    return data


def post_raw(url: str, body: bytes, timeout: float = 30.0,
             content_type: str = "application/json") -> Tuple[int, Any]:
    """POSTs any body; (HTTP status, parsed JSON or the raw text) even for 4xx and 5xx."""
    req = urllib.request.Request(url, body, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw.decode() or "null")
    except ValueError:
        return status, raw.decode(errors="replace")


def conversation(url: str, sender: str, texts: Sequence[str], timeout: float = 30.0) -> Reply:
    """Sends ``texts`` in order in one conversation; the reply to the last one."""
    reply: Reply = []
    for text in texts:
        reply = post(url, sender, text, timeout)
    return reply


def flatten(messages: Reply | None) -> str:
    """All that a visitor sees or clicks in a reply: texts, button titles and payloads, custom data."""
    parts: List[str] = []
    for m in messages or []:
        parts.append(str(m.get("text") or ""))
        for b in m.get("buttons") or []:
            parts += [str(b.get("title", "")), str(b.get("payload", ""))]
        for key in ("custom", "attachment", "image"):
            if m.get(key):
                parts.append(json.dumps(m[key]))
    return "\n".join(p for p in parts if p)
