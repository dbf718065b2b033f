"""Rasa's REST channel, hardened for the public site (compare ``rasa/core/channels/rest.py``).

``POST /webhooks/rest/webhook`` with ``{"sender": "...", "message": "..."}`` answers with
the bot's messages as JSON, like Rasa's own channel, but:
- a body that is not a JSON object, a missing or non-string ``message`` or a bad
  ``sender`` gets a 400 with a clear error instead of a crash;
- the text is sanitised (:mod:`bot.channels.sanitize`): no ``/intent`` shortcuts, no
  control characters, long messages capped without losing a danger in the middle;
- visitors' messages are never logged above DEBUG (Rasa's channel logs them on errors).
"""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Awaitable, Callable, Dict

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.sanitize import MAX_CHARS, keep_original, sanitize
from bot.crisis import shared_matcher

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
_SENDER = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")


def is_danger(sentence: str) -> bool:
    """Whether the crisis patterns flag a sentence (used to keep it in long messages)."""
    return shared_matcher().detect(sentence) is not None


def parse_body(request: Request) -> Dict[str, Any]:
    """The validated ``sender`` and ``message``; raises ValueError with a reason."""
    if request.body and len(request.body) > MAX_BODY_BYTES:
        raise ValueError(f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        body = request.json
    except Exception:  # sanic raises its own InvalidUsage for bad JSON
        raise ValueError("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValueError('body must be a JSON object: {"sender": "...", "message": "..."}')
    message = body.get("message")
    if not isinstance(message, str):
        raise ValueError('"message" must be a string')
    sender = body.get("sender", "default")
    if not isinstance(sender, str) or not _SENDER.match(sender):
        raise ValueError('"sender" must be 1-128 letters, digits or _.:@-')
    metadata = body.get("metadata")
    return {"sender": sender, "message": message, "metadata": metadata if isinstance(metadata, dict) else None}


class SafeRestInput(InputChannel):
    """REST input channel that validates and sanitises what visitors send."""

    @classmethod
    def name(cls) -> str:
        """Served under ``/webhooks/rest/`` like Rasa's REST channel, which it replaces."""
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The channel's routes: a health check and the webhook."""
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = parse_body(request)
            except ValueError as e:
                return response.json({"error": str(e)}, status=400)
            raw = body["message"]
            if len(raw) > MAX_CHARS:  # long: scanning the middle for danger takes a moment
                text = await asyncio.get_running_loop().run_in_executor(None, sanitize, raw, is_danger)
            else:
                text = sanitize(raw)
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(text, collector, body["sender"],
                                                 input_channel=self.name(),
                                                 metadata=keep_original(raw, text, body["metadata"])))
            except Exception:
                logger.exception("rest channel: handling a message from %s failed", body["sender"])
                if not collector.messages:
                    return response.json({"error": "the assistant could not answer; please try again"},
                                         status=500)
            return response.json(collector.messages)

        return webhook
