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
  "Call ..." in rasa-webchat dials instead of sending "tel:..." back as a message;
- every message sent is made safe for rasa-webchat's markdown (:mod:`bot.channels.markdown`:
  links only to http, https, tel and sms; link buttons and images likewise; only the widget
  metadata below);
- an emergency reply (``utter_emergency``) and the crisis reminder are sent one line per
  message (the first line says what to call), each with metadata for the widget: ``crisis``
  ("emergency" or "reminder") and rasa-webchat's ``customCss`` class (``crisis-message
  crisis-<kind>``, plus ``crisis-start`` on the first line), which the page's script and
  stylesheet (bot/web/static) show as a crisis message;
- other answers: a blank line ends a list before the line after it (``close_lists``).
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

from bot import names
from bot import settings as settings_module
from bot.channels.context import FAILED_TURN, RecentMessages, incoming, no_reply_message, tracker_lookup
from bot.channels.markdown import close_lists, safe_markdown, safe_url
from bot.channels.sessions import SessionIds, load_key

logger = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 100_000
LINK_SCHEMES = ("tel:", "sms:")


CRISIS_RESPONSES = {names.EMERGENCY_RESPONSE: "emergency", names.CRISIS_REMINDER_RESPONSE: "reminder"}
CRISIS_CSS = "crisis-message crisis-{kind}"
FIRST_PART_CSS = "crisis-start"


def widget_button(button: Dict[str, Any]) -> Dict[str, Any]:
    """A quick reply for rasa-webchat; ``tel:`` and ``sms:`` payloads become link buttons."""
    payload = str(button.get("payload", ""))
    if payload.startswith(LINK_SCHEMES):
        return {"type": "web_url", "title": button["title"], "url": payload}
    return {"content_type": "text", "title": button["title"], "payload": payload}


def crisis_mark(kind: str, first: bool) -> Dict[str, Any]:
    """The widget metadata of one part of a crisis message of ``kind`` ("emergency" or "reminder")."""
    css = CRISIS_CSS.format(kind=kind) + (f" {FIRST_PART_CSS}" if first else "")
    return {"crisis": kind, "customCss": {"style": "class", "css": css}}


def crisis_metadata(utter_action: Any, first: bool) -> Dict[str, Any] | None:
    """The widget metadata of one part of a crisis response (None for any other response)."""
    kind = CRISIS_RESPONSES.get(utter_action) if isinstance(utter_action, str) else None
    return None if kind is None else crisis_mark(kind, first)


def _safe_buttons(buttons: Any) -> List[Dict[str, Any]]:
    """Quick replies with plain string fields; a link button only to a safe address, else dropped."""
    safe = []
    for button in buttons if isinstance(buttons, list) else []:
        if not isinstance(button, dict):
            continue
        clean = {k: str(v) for k, v in button.items() if k in ("type", "content_type", "title", "payload", "url")}
        if "url" in clean and not safe_url(clean["url"]):
            continue
        safe.append(clean)
    return safe


def _safe_metadata(metadata: Any) -> Dict[str, Any] | None:
    """Only the metadata this channel sets: rasa-webchat acts on others (page callbacks, link targets...)."""
    if not isinstance(metadata, dict) or metadata.get("crisis") not in CRISIS_RESPONSES.values():
        return None
    css = metadata.get("customCss")
    first = isinstance(css, dict) and FIRST_PART_CSS in str(css.get("css", "")).split()
    return crisis_mark(str(metadata["crisis"]), first)


def safe_message(message: Dict[str, Any]) -> Dict[str, Any]:
    """A message rasa-webchat renders safely: markdown links, link buttons and images only to
    http, https, tel or sms addresses (images: http and https), and only this channel's metadata."""
    out: Dict[str, Any] = {}
    for key, value in message.items():
        if key == "text":
            out[key] = safe_markdown(str(value))
        elif key in ("quick_replies", "buttons"):
            out[key] = _safe_buttons(value)
        elif key == "metadata":
            metadata = _safe_metadata(value)
            if metadata is not None:
                out[key] = metadata
        elif key == "attachment" and isinstance(value, dict) and value.get("type") == "image":
            payload = value.get("payload")
            src = payload.get("src") if isinstance(payload, dict) else None
            if safe_url(src) and str(src).lower().startswith("http"):
                out[key] = {"type": "image", "payload": {"src": src}}
        # anything else (other attachments, custom JSON's own keys) is not sent: no response uses them
    return out


class SafeSocketIOOutput(SocketIOOutput):
    """Sends buttons as rasa-webchat quick replies, with dialable phone buttons; marks crisis
    messages; every message goes out through :func:`safe_message`."""

    sent = 0  # messages sent for this turn (a channel makes one output per visitor message)

    async def _send_message(self, socket_id: str, response: Any) -> None:
        """The one way out: every message is made safe first."""
        self.sent += 1
        await super()._send_message(socket_id, safe_message(response if isinstance(response, dict) else {}))

    async def _send_parts(self, recipient_id: str, text: str, buttons: List[Dict[str, Any]] | None,
                          utter_action: Any) -> None:
        """A response as the widget's messages: per paragraph (per line for a crisis response,
        each marked), the buttons on the last one."""
        crisis = crisis_metadata(utter_action, first=True) is not None
        # A crisis response shows each line as its own message: the first says what to call.
        parts = [p for p in text.strip().split("\n" if crisis else "\n\n") if p.strip()] or [text]
        messages: List[Dict[str, Any]] = [{"text": close_lists(p)} for p in parts]
        for i, message in enumerate(messages):
            metadata = crisis_metadata(utter_action, first=i == 0)
            if metadata:
                message["metadata"] = metadata
        if buttons is not None:
            messages[-1]["quick_replies"] = [widget_button(b) for b in buttons]
        for message in messages:
            await self._send_message(recipient_id, message)

    async def send_custom_json(self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any) -> None:
        """Custom JSON (``data``, or the whole object) goes to this conversation only, made safe:
        Rasa's own emits it as keyword arguments, so a ``room`` in it would choose the recipient."""
        data = json_message.get("data") if isinstance(json_message.get("data"), dict) else json_message
        await self._send_message(recipient_id, data)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """One message per paragraph, marked if the response is a crisis one."""
        await self._send_parts(recipient_id, text, None, kwargs.get("utter_action"))

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: List[Dict[str, Any]],
                                     **kwargs: Any) -> None:
        """One message per paragraph; the buttons go on the last one."""
        await self._send_parts(recipient_id, text, buttons, kwargs.get("utter_action"))


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
            request = (sio.get_environ(sid) or {}).get("sanic.request")
            agent = getattr(request.app.ctx, "agent", None) if request is not None else None
            clean, metadata = await incoming(self.recent, session_id, text, data.get("metadata"),
                                             tracker_lookup(agent, self.recent.max_age_s))
            output = SafeSocketIOOutput(sio, self.bot_message_evt)
            message = UserMessage(clean, output, session_id, input_channel=self.name(), metadata=metadata)
            try:
                await on_new_message(message)
            except Exception as e:  # the traceback may quote the visitor's text: DEBUG only
                logger.error("socket.io: handling a message of %s failed: %s", session_id, type(e).__name__)
                logger.debug("socket.io: failure details", exc_info=True)
                await sio.emit("error", {"error": FAILED_TURN}, room=sid)
                return
            if not output.sent:  # an action failed without a word to the visitor: the line to call
                logger.warning("socket.io: the turn of %s produced no reply; sent the phone line", session_id)
                fallback = no_reply_message(session_id)
                await output.send_text_with_buttons(session_id, fallback["text"], fallback["buttons"])

        return webhook
