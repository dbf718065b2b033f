"""The socket.io channel sends dialable phone buttons to the web widget."""
from __future__ import annotations

import asyncio

from bot.channels.socketio import SafeSocketIOInput, SafeSocketIOOutput, widget_button


def test_tel_payloads_become_link_buttons():
    link = {"type": "web_url", "title": "Call", "url": "tel:911"}
    assert widget_button({"title": "Call", "payload": "tel:911"}) == link
    assert widget_button({"title": "Q", "payload": "What is it?"})["payload"] == "What is it?"


class FakeSio:
    def __init__(self):
        self.sent = []

    async def emit(self, event, data, room=None):
        self.sent.append((event, data, room))


def test_buttons_go_on_the_last_paragraph():
    sio = FakeSio()
    out = SafeSocketIOOutput(sio, "bot_uttered")
    asyncio.run(out.send_text_with_buttons("r1", "one\n\ntwo", [{"title": "Call", "payload": "tel:911"}]))
    assert [d["text"] for _, d, _ in sio.sent] == ["one", "two"]
    assert sio.sent[-1][1]["quick_replies"][0]["url"] == "tel:911"
    assert "quick_replies" not in sio.sent[0][1]


def test_channel_keeps_rasas_name():
    assert SafeSocketIOInput.name() == "socketio"
