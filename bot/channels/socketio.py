"""Rasa's socket.io channel (used by the web widget), on the server's terms.

Compare ``rasa/core/channels/socketio.py``; the routes, events and output are Rasa's, but:
- session ids are issued by the server (:mod:`bot.channels.sessions`): an id the server did
  not issue (made up, of the wrong type or length) is replaced by a fresh one, and a socket
  only ever joins the room of its own confirmed session, so it receives replies only for it;
  a message is always attributed to the socket's confirmed session, whatever id it carries;
- browsers from origins other than the allowed ones (``CORS_ORIGINS``) cannot connect;
- a message that is not a string, or is longer than ``MAX_MESSAGE_CHARS``, gets an ``error``
  event instead of silence; text is sanitised like on the REST channel, long messages in a
  thread so the event loop never stalls;
- buttons whose payload is a ``tel:`` or ``sms:`` link are sent as link buttons, so clicking
  "Call ..." in rasa-webchat dials instead of sending "tel:..." back as a message.
Needs python-socketio 5.9.0 (see README).
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, List

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot import settings as settings_module
from bot.channels.context import FAILED_TURN, RecentMessages, incoming
from bot.channels.sessions import SessionIds, load_key

logger = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 100_000
LINK_SCHEMES = ("tel:", "sms:")


def widget_button(button: Dict[str, Any]) -> Dict[str, Any]:
    """A quick reply for rasa-webchat; ``tel:`` and ``sms:`` payloads become link buttons."""
    payload = str(button.get("payload", ""))
    if payload.startswith(LINK_SCHEMES):
        return {"type": "web_url", "title": button["title"], "url": payload}
    return {"content_type": "text", "title": button["title"], "payload": payload}


class SafeSocketIOOutput(SocketIOOutput):
    """Sends buttons as rasa-webchat quick replies, with dialable phone buttons."""

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: List[Dict[str, Any]],
                                     **kwargs: Any) -> None:
        """One message per paragraph; the buttons go on the last one."""
        parts = [p for p in text.strip().split("\n\n") if p] or [text]
        messages: List[Dict[str, Any]] = [{"text": p} for p in parts]
        messages[-1]["quick_replies"] = [widget_button(b) for b in buttons]
        for message in messages:
            await self._send_message(recipient_id, message)


def origin_allowed(environ: Dict[str, Any], allowed: tuple) -> bool:
    """Browsers send an Origin header: it must be an allowed one. Clients without one (no browser) pass."""
    origin = environ.get("HTTP_ORIGIN")
    return not origin or "*" in allowed or origin in allowed


class SafeSocketIOInput(InputChannel):
    """Socket.io input channel with server-issued sessions and sanitised messages."""

    @classmethod
    def name(cls) -> str:
        """Keeps Rasa's channel name so the widget's defaults work unchanged."""
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> InputChannel:
        """Reads the event names and path from credentials.yml."""
        credentials = credentials or {}
        return cls(credentials.get("user_message_evt", "user_uttered"),
                   credentials.get("bot_message_evt", "bot_uttered"),
                   credentials.get("socketio_path", "/socket.io"))

    def __init__(self, user_message_evt: str = "user_uttered", bot_message_evt: str = "bot_uttered",
                 socketio_path: str = "/socket.io", settings: settings_module.Settings | None = None) -> None:
        """Reads the settings (allowed origins, session key) when the server starts."""
        self.user_message_evt, self.bot_message_evt = user_message_evt, bot_message_evt
        self.socketio_path = socketio_path
        self.settings = settings or settings_module.load()
        self.sessions = SessionIds(load_key(self.settings.session_secret, self.settings.var_dir))
        self.confirmed: Dict[str, str] = {}  # socket id -> its confirmed session id
        self.recent = RecentMessages()
        self.sio: AsyncServer | None = None

    def get_output_channel(self) -> OutputChannel | None:
        """The output channel used for messages not triggered by a visitor."""
        return None if self.sio is None else SafeSocketIOOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's socket.io routes and events, on the server's terms."""
        # Origins are checked in `connect`; engine.io's own CORS stays off, as in Rasa (Sanic's CORS answers).
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio
        allowed = self.settings.allowed_origins

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect")
        async def connect(sid: str, environ: Dict[str, Any], auth: Any = None) -> bool:
            if not origin_allowed(environ, allowed):
                logger.info("socket.io: refused a connection from origin %s", str(environ.get("HTTP_ORIGIN"))[:100])
                return False
            return True

        @sio.on("disconnect")
        async def disconnect(sid: str) -> None:
            self.confirmed.pop(sid, None)

        @sio.on("session_request")
        async def session_request(sid: str, data: Any = None, *_: Any) -> None:
            requested = data.get("session_id") if isinstance(data, dict) else None
            session_id = self.sessions.confirm(requested)
            old = self.confirmed.get(sid)
            if old and old != session_id:
                sio.leave_room(sid, old)
            self.confirmed[sid] = session_id
            sio.enter_room(sid, session_id)
            await sio.emit("session_confirm", session_id, room=sid)

        @sio.on(self.user_message_evt)
        async def handle_message(sid: str, data: Any = None, *_: Any) -> None:
            session_id = self.confirmed.get(sid)
            if session_id is None:
                await sio.emit("error", {"error": "send session_request first"}, room=sid)
                return
            text = data.get("message") if isinstance(data, dict) else None
            if not isinstance(text, str):
                await sio.emit("error", {"error": '"message" must be a string'}, room=sid)
                return
            if len(text) > MAX_MESSAGE_CHARS:
                await sio.emit("error", {"error": f"message longer than {MAX_MESSAGE_CHARS} characters"}, room=sid)
                return
            clean, metadata = await incoming(self.recent, session_id, text, data.get("metadata"))
            message = UserMessage(clean, SafeSocketIOOutput(sio, self.bot_message_evt), session_id,
                                  input_channel=self.name(), metadata=metadata)
            try:
                await on_new_message(message)
            except Exception as e:  # the traceback may quote the visitor's text: DEBUG only
                logger.error("socket.io: handling a message of %s failed: %s", session_id, type(e).__name__)
                logger.debug("socket.io: failure details", exc_info=True)
                await sio.emit("error", {"error": FAILED_TURN}, room=sid)

        return webhook
