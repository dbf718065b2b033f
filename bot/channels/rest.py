"""Rasa's REST channel, hardened for the public site (compare ``rasa/core/channels/rest.py``).

``POST /webhooks/rest/webhook`` with ``{"sender": "...", "message": "..."}`` answers with
the bot's messages as JSON, like Rasa's own channel, but:
- a body that is not a JSON object, a missing or non-string ``message`` or a bad
  ``sender`` gets a 400 with a clear error instead of a crash;
- the text is sanitised (:mod:`bot.channels.sanitize`): no ``/intent`` shortcuts, no
  control characters, long messages capped without losing a danger in the middle;
- visitor ``metadata`` is kept only if it is a small JSON object (:mod:`bot.channels.context`);
- visitors' messages are never logged above DEBUG (Rasa's channel logs them on errors);
- an ``X-Request-ID`` of nginx's form (32 hex digits; nginx sets it, the same when it retries a
  request on another server) becomes the message's ``message_id``, by which the tracker store
  recognises a turn already stored (``bot/store/conversations.py``); otherwise Rasa makes one;
- ``GET /`` answers a plain status instead of Rasa's version banner.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable, Dict

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.context import FAILED_TURN, RecentMessages, incoming, no_reply_message, tracker_lookup

logger = logging.getLogger(__name__)

_SENDER = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
_REQUEST_ID = re.compile(r"[0-9a-f]{32}")  # nginx's $request_id, and the form of Rasa's own message ids


def message_id(request: Request) -> str | None:
    """The request's ``X-Request-ID`` if it has nginx's form (32 lowercase hex digits), else None."""
    value = request.headers.get("x-request-id")
    return value if isinstance(value, str) and _REQUEST_ID.fullmatch(value) else None


def parse_body(request: Request, max_bytes: int | None = None) -> Dict[str, Any]:
    """The validated ``sender`` and ``message``; raises ValueError with a reason.

    ``max_bytes`` is MAX_BODY_BYTES (bot/settings.py), which Sanic enforces earlier too
    (SANIC_REQUEST_MAX_SIZE, bot/launch.py): this check holds if the channel runs elsewhere.
    """
    if max_bytes is not None and request.body and len(request.body) > max_bytes:
        raise ValueError(f"body larger than {max_bytes} bytes")
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
    return {"sender": sender, "message": message, "metadata": body.get("metadata")}


async def root_status(request: Request) -> HTTPResponse:
    """``GET /``: a plain status; Rasa's own says "Hello from Rasa: <version>"."""
    return response.json({"status": "ok"})


class QuietRootBlueprint(Blueprint):
    """A blueprint that, when registered, takes over Rasa's root route (no version banner)."""

    def register(self, app: Any, options: Any) -> None:
        """Replaces the handler of ``GET /`` before registering the channel's routes."""
        for route in app.router.routes:
            if route.path == "" and "GET" in route.methods:
                route.handler = root_status
        super().register(app, options)


class SafeRestInput(InputChannel):
    """REST input channel that validates and sanitises what visitors send."""

    def __init__(self) -> None:
        """Remembers each conversation's previous message (for follow-ups); reads the body limit."""
        from bot.settings import load

        self.recent = RecentMessages()
        self.max_body_bytes = load().max_body_bytes

    @classmethod
    def name(cls) -> str:
        """Served under ``/webhooks/rest/`` like Rasa's REST channel, which it replaces."""
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The channel's routes: a health check and the webhook."""
        webhook = QuietRootBlueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            # ready only when the model is loaded: a server that cannot answer is not healthy
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None or not agent.is_ready():
                return response.json({"status": "loading"}, status=503)
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = parse_body(request, self.max_body_bytes)
            except ValueError as e:
                return response.json({"error": str(e)}, status=400)
            lookup = tracker_lookup(getattr(request.app.ctx, "agent", None), self.recent.max_age_s)
            text, metadata = await incoming(self.recent, body["sender"], body["message"], body["metadata"], lookup)
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(text, collector, body["sender"], input_channel=self.name(),
                                                 message_id=message_id(request), metadata=metadata))
            except Exception as e:  # the traceback may quote the visitor's text: DEBUG only
                logger.error("rest channel: handling a message from %s failed: %s", body["sender"], type(e).__name__)
                logger.debug("rest channel: failure details", exc_info=True)
                if not collector.messages:
                    return response.json({"error": FAILED_TURN}, status=500)
            if not collector.messages:  # an action failed without a word to the visitor
                logger.warning("rest channel: the turn of %s produced no reply; sent the phone line", body["sender"])
                return response.json([no_reply_message(body["sender"])])
            return response.json(collector.messages)

        return webhook
