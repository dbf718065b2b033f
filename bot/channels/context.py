"""What both channels do with an incoming message before Rasa sees it, and the previous message.

:func:`incoming` sanitises the text (:mod:`bot.channels.sanitize`), keeps a visitor's
``metadata`` only if it is a small JSON object, keeps the full text when it was shortened,
and adds the conversation's previous message. Each channel remembers, per conversation, the
last message it passed on (bounded in number and age, in this process's memory) and hands it
to the NLU pipeline as the message metadata
``previous_text``, which :mod:`bot.nlu.followup` reads. A conversation this process has not seen
(after a restart, or one that another server of a cluster took until now) gets its last visitor
message from the tracker store instead (:func:`tracker_lookup`). A visitor cannot set it: a
``previous_text`` the client sends is replaced.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, Tuple

from bot.channels.sanitize import clean_text, keep_original

logger = logging.getLogger(__name__)
PREVIOUS_TEXT = "previous_text"
#: conversation id -> the conversation's last visitor message as stored, or None
Lookup = Callable[[str], Awaitable["str | None"]]
MAX_METADATA_CHARS = 2000
# What a visitor is told when a turn fails (the details go to the log at DEBUG only).
FAILED_TURN = "the assistant could not answer; please try again"
# When a turn ends without any reply (an action, such as the callback form's, could not run: the
# action server is down or hung), the visitor still hears what to do. Emergencies never get here:
# their replies are static responses that need no action server.
NO_REPLY = ("Sorry, I couldn't finish that just now (if you were leaving a callback request, it was not "
            "taken and nothing was sent). Please call our team at {center_phone}, {center_hours}. If you or "
            "someone with you may be in danger, call {emergency_number} now.")


def no_reply_message(recipient_id: str) -> Dict[str, Any]:
    """The bot message sent when a turn produced none: the line to call, and 911."""
    from bot import facts

    f = facts.load()
    text = NO_REPLY.format(center_phone=f.center_phone, center_hours=f.center_hours,
                           emergency_number=f.emergency_number)
    return {"recipient_id": recipient_id, "text": text,
            "buttons": [{"title": f"Call {f.center_phone}", "payload": f"tel:{f.center_phone_dial}"}]}


class RecentMessages:
    """conversation id -> (time, last message), least recently used dropped first."""

    def __init__(self, max_conversations: int = 50_000, max_age_s: float = 1800.0) -> None:
        self.max_conversations, self.max_age_s = max_conversations, max_age_s
        self._items: "OrderedDict[str, Tuple[float, str]]" = OrderedDict()
        self._lock = threading.Lock()

    def knows(self, conversation_id: str) -> bool:
        """Whether this process has seen the conversation (however long ago)."""
        with self._lock:
            return conversation_id in self._items

    def swap(self, conversation_id: str, text: str, now: float | None = None) -> str | None:
        """Remembers ``text`` as the conversation's last message; returns the one before it, if recent."""
        now = time.monotonic() if now is None else now
        with self._lock:
            previous = self._items.pop(conversation_id, None)
            self._items[conversation_id] = (now, text)
            while len(self._items) > self.max_conversations:
                self._items.popitem(last=False)
        if previous is None or now - previous[0] > self.max_age_s:
            return None
        return previous[1]


def with_previous(metadata: Dict[str, Any] | None, previous: str | None) -> Dict[str, Any] | None:
    """The message metadata with our ``previous_text`` (and never the client's)."""
    out = {k: v for k, v in (metadata or {}).items() if k != PREVIOUS_TEXT}
    if previous:
        out[PREVIOUS_TEXT] = previous
    return out or None


def safe_metadata(metadata: Any) -> Dict[str, Any] | None:
    """A visitor's ``metadata`` if it is a small JSON object, else None (it is never trusted)."""
    if not isinstance(metadata, dict):
        return None
    try:
        size = len(json.dumps(metadata))
    except (TypeError, ValueError, RecursionError):
        return None
    return metadata if size <= MAX_METADATA_CHARS else None


def tracker_lookup(agent: Any, max_age_s: float) -> Lookup | None:
    """Reads a conversation's last visitor message (if under ``max_age_s`` old) from the agent's tracker store."""
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return None

    async def lookup(conversation_id: str) -> str | None:
        try:
            tracker = await store.retrieve(conversation_id)
        except Exception as e:  # the store logs its own failures; the message is then read on its own
            logger.debug("previous message of %s not read: %s", conversation_id, type(e).__name__)
            return None
        message = tracker.latest_message if tracker is not None else None
        text = getattr(message, "text", None)
        if not text or time.time() - (getattr(message, "timestamp", 0.0) or 0.0) > max_age_s:
            return None
        return str(text)

    return lookup


async def incoming(recent: RecentMessages, conversation_id: str, raw: str, metadata: Any,
                   lookup: Lookup | None = None) -> Tuple[str, Dict[str, Any] | None]:
    """The text Rasa reads for what the visitor sent, and the message's metadata.

    ``lookup`` gives the previous message of a conversation this process has not seen.
    """
    text = await clean_text(raw)
    known = recent.knows(conversation_id)
    previous = recent.swap(conversation_id, text)
    if previous is None and not known and lookup is not None:
        previous = await lookup(conversation_id)
    return text, with_previous(keep_original(raw, text, safe_metadata(metadata)), previous)
