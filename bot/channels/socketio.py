"""Rasa's socket.io channel (used by the web widget) with the REST channel's safeguards.

Compare ``rasa/core/channels/socketio.py``. Every visitor message is sanitised like on
the REST channel (:mod:`bot.channels.sanitize`), and buttons whose payload is a
``tel:`` link are sent as link buttons, so that clicking "Call ..." in rasa-webchat dials
instead of sending "tel:..." back as a message. Needs python-socketio 5.9.0 (see README).
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, List

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from bot.channels.rest import is_danger
from bot.channels.sanitize import MAX_CHARS, keep_original, sanitize


def widget_button(button: Dict[str, Any]) -> Dict[str, Any]:
    """A quick reply for rasa-webchat; ``tel:`` payloads become link buttons."""
    payload = str(button.get("payload", ""))
    if payload.startswith("tel:"):
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


class SafeSocketIOInput(SocketIOInput):
    """Socket.io input channel that sanitises visitors' messages."""

    @classmethod
    def name(cls) -> str:
        """Keeps Rasa's channel name so the widget's defaults work unchanged."""
        return "socketio"

    def get_output_channel(self) -> OutputChannel | None:
        """The output channel used for messages not triggered by a visitor (none here)."""
        if self.sio is None:
            return None
        return SafeSocketIOOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's socket.io routes, with sanitising and our output channel in between."""

        async def safe_on_new_message(message: UserMessage) -> Any:
            raw = message.text or ""
            message.text = sanitize(raw, is_danger if len(raw) > MAX_CHARS else None)
            message.metadata = keep_original(raw, message.text, message.metadata)
            output = message.output_channel
            if isinstance(output, SocketIOOutput) and not isinstance(output, SafeSocketIOOutput):
                message.output_channel = SafeSocketIOOutput(output.sio, output.bot_message_evt)
            return await on_new_message(message)

        return super().blueprint(safe_on_new_message)
