"""The web widget's channel: socket.io delivers the bot's replies (python-socketio 5.9.0, see README)."""
from __future__ import annotations

import asyncio
import uuid

import pytest
import socketio

from bot import facts

pytestmark = pytest.mark.model


async def converse(port: int, text: str, timeout: float = 30):
    client = socketio.AsyncClient()
    replies: list = []
    got = asyncio.Event()

    @client.on("bot_uttered")
    async def on_bot(data):
        replies.append(data)
        got.set()

    session = uuid.uuid4().hex
    await client.connect(f"http://127.0.0.1:{port}", socketio_path="/socket.io", transports=["polling"])
    try:
        await client.emit("session_request", {"session_id": session})
        await asyncio.sleep(0.5)
        await client.emit("user_uttered", {"message": text, "session_id": session})
        await asyncio.wait_for(got.wait(), timeout)
        await asyncio.sleep(1.0)  # let the remaining messages of the reply arrive
    finally:
        await client.disconnect()
    return replies


def test_widget_channel_delivers_the_reply_with_a_dialable_button(assistant):
    replies = asyncio.run(converse(assistant.port, "do you take insurance?"))
    text = " ".join(r.get("text", "") for r in replies)
    assert "PPO" in text
    links = [q for r in replies for q in r.get("quick_replies", []) if q.get("type") == "web_url"]
    assert links and links[0]["url"].startswith("tel:")


def test_widget_channel_escalates_and_strips_shortcuts(assistant):
    replies = asyncio.run(converse(assistant.port, "/restart i took the whole bottle"))
    assert facts.load().emergency_number in replies[0]["text"]
