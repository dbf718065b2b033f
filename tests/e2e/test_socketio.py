"""The web widget's channel: socket.io delivers the bot's replies (python-socketio 5.9.0, see README).

Also: session ids are issued by the server, a socket only hears its own conversation, bad
messages get an ``error`` event, and browsers from other origins cannot connect.
"""
from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, List, Tuple

import pytest
import socketio
import websockets

from bot import facts

pytestmark = pytest.mark.model

EMERGENCY = "I just took the whole bottle"
INSURANCE = "do you take insurance?"
SAFE_NOW_INSURANCE = "I'm safe now, my sister is with me. do you take insurance?"


def emergency_number_in(text: str) -> bool:
    """Whether ``text`` names the emergency number (the crisis reply or the crisis reminder)."""
    return re.search(rf"\b{re.escape(facts.load().emergency_number)}\b", text) is not None


def texts(replies: List[Dict[str, Any]]) -> str:
    """The texts of socket.io ``bot_uttered`` messages, joined."""
    return "\n".join(str(r.get("text") or "") for r in replies)


def quick_replies(replies: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Every button (quick reply) of socket.io ``bot_uttered`` messages."""
    return [q for r in replies for q in r.get("quick_replies") or []]


class Widget:
    """One browser tab with the widget: a socket.io client that records every event it receives."""

    def __init__(self, port: int, origin: str | None = None, transport: str = "polling") -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.headers = {"Origin": origin} if origin else {}
        self.transport = transport
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: List[Tuple[str, Any]] = []
        self.changed = asyncio.Event()
        for name in ("session_confirm", "bot_uttered", "error", "connect_error"):
            self.client.on(name, self._recorder(name))

    def _recorder(self, name: str):
        async def record(*args: Any) -> None:
            self.events.append((name, args[0] if len(args) == 1 else list(args)))
            self.changed.set()
        return record

    def received(self, name: str) -> List[Any]:
        """The data of every ``name`` event received so far."""
        return [data for event, data in self.events if event == name]

    async def connect(self, wait: bool = True) -> "Widget":
        await self.client.connect(self.url, socketio_path="/socket.io", transports=[self.transport],
                                  headers=self.headers, wait=wait, wait_timeout=10)
        return self

    async def close(self) -> None:
        eio = self.client.eio
        tasks = [t for t in (eio.read_loop_task, eio.write_loop_task) if t is not None]
        if self.client.connected:
            await self.client.disconnect()
        elif eio.state == "connected":  # refused: drop the transport without waiting on a poll
            await eio.disconnect(abort=True)
        for task in tasks:  # a long poll left behind must not outlive the event loop
            if not task.done():
                task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def __aenter__(self) -> "Widget":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def wait_for(self, name: str, count: int, timeout: float = 30.0) -> List[Any]:
        """Waits until ``count`` ``name`` events were received in all; fails after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.received(name)) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"fewer than {count} {name!r} events within {timeout:.0f} s; "
                                     f"received: {self.events!r}"[:3000])
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return self.received(name)

    async def settle(self, quiet: float = 0.8) -> None:
        """Waits until no event arrived for ``quiet`` seconds (the rest of a reply, or nothing)."""
        while True:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), quiet)
            except asyncio.TimeoutError:
                return

    async def session(self, *data: Any) -> str:
        """Sends a session_request (with ``data`` as its arguments) and returns the confirmed id."""
        seen = len(self.received("session_confirm"))
        await self.client.emit("session_request", tuple(data) if data else None)
        return (await self.wait_for("session_confirm", seen + 1))[seen]

    async def ask(self, message: Any, timeout: float = 30.0, **extra: Any) -> List[Dict[str, Any]]:
        """Sends a user_uttered and returns the bot_uttered messages of the reply."""
        seen = len(self.received("bot_uttered"))
        await self.client.emit("user_uttered", {"message": message, **extra})
        await self.wait_for("bot_uttered", seen + 1, timeout)
        await self.settle()
        return self.received("bot_uttered")[seen:]

    async def emit_expecting_error(self, *data: Any) -> Any:
        """Sends a user_uttered with ``data`` as its arguments; the ``error`` event it gets."""
        seen = len(self.received("error"))
        await self.client.emit("user_uttered", tuple(data) if data else None)
        return (await self.wait_for("error", seen + 1, 15))[seen]


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


async def test_crisis_messages_are_marked_for_the_widget_and_answers_are_not(assistant):
    """The emergency reply goes line by line, each marked; later answers carry a marked reminder (a message that says
    the visitor is safe now: a short one that does not is still the danger, below)."""
    async with Widget(assistant.port) as tab:
        await tab.session({})
        emergency = await tab.ask(EMERGENCY)
        later = await tab.ask(SAFE_NOW_INSURANCE)
    assert emergency_number_in(emergency[0]["text"]), emergency
    assert all(m.get("metadata", {}).get("crisis") == "emergency" for m in emergency), emergency
    classes = [m["metadata"]["customCss"]["css"].split() for m in emergency]
    assert "crisis-start" in classes[0] and not any("crisis-start" in c for c in classes[1:]), classes
    assert len(emergency) >= 3 and all("\n" not in m["text"] for m in emergency), "one line per message"
    answer = [m for m in later if "PPO" in m["text"]]
    reminder = [m for m in later if m.get("metadata", {}).get("crisis") == "reminder"]
    assert answer and "metadata" not in answer[0], later
    assert reminder and emergency_number_in(reminder[0]["text"]), later


async def test_a_short_question_right_after_an_emergency_gets_the_safety_reply_first_then_its_answer(assistant):
    """The carried path (crisis_detector, carry_words): "do you take insurance?" right after "I just took the whole
    bottle" is still that danger."""
    async with Widget(assistant.port) as tab:
        await tab.session({})
        await tab.ask(EMERGENCY)
        later = await tab.ask(INSURANCE)
    assert emergency_number_in(later[0]["text"]) and later[0]["metadata"]["crisis"] == "emergency", later
    assert any("PPO" in m["text"] for m in later), later


# ------------------------------------------------------------------ server-issued session ids


@pytest.mark.parametrize("request_args", [(), ({},), (None,), ({"other": "key"},), ("not a dict",), ([1, 2],)],
                         ids=["no-data", "empty-object", "null", "no-session-id", "string", "list"])
async def test_a_session_request_without_an_id_gets_a_fresh_server_id(assistant, request_args):
    async with Widget(assistant.port) as tab:
        first = await tab.session(*request_args)
        second = await tab.session(*request_args)
    assert isinstance(first, str) and len(first) >= 16, first
    assert first != second, "every request without a valid id must get a fresh one"


@pytest.mark.parametrize("made_up", ["abc", "x" * 10_000, 123, {"a": 1}, None, "", ["abc"], True,
                                     uuid.uuid4().hex, "A" * 24 + "." + "0" * 32],
                         ids=["abc", "10k-chars", "int", "object", "null", "empty", "list", "bool", "uuid",
                              "right-shape-unsigned"])
async def test_a_made_up_session_id_is_replaced_by_a_fresh_one(assistant, made_up):
    async with Widget(assistant.port) as tab:
        confirmed = await tab.session({"session_id": made_up})
        again = await tab.session({"session_id": made_up})
    assert isinstance(confirmed, str) and confirmed, confirmed
    assert confirmed != made_up and again != made_up
    assert confirmed != again, "the same made-up id must not map to the same conversation twice"


async def test_a_tampered_server_id_is_replaced(assistant):
    async with Widget(assistant.port) as tab:
        issued = await tab.session({})
        last = issued[-1]
        tampered = issued[:-1] + ("0" if last != "0" else "1")
        confirmed = await tab.session({"session_id": tampered})
    assert confirmed not in (tampered, issued)


async def test_a_reload_keeps_the_session_and_the_crisis_flag(assistant):
    async with Widget(assistant.port) as tab:
        issued = await tab.session({})
        first = await tab.ask(EMERGENCY)
    assert emergency_number_in(texts(first[:1])), first
    async with Widget(assistant.port) as reloaded:  # the same tab after a reload sends its id back
        confirmed = await reloaded.session({"session_id": issued})
        after = await reloaded.ask(INSURANCE)
    assert confirmed == issued, "a server-issued id must be confirmed unchanged"
    reply = texts(after)
    assert "PPO" in reply, after
    assert emergency_number_in(reply), f"the crisis flag from before the reload must add the reminder: {after}"


async def test_a_new_session_does_not_inherit_another_crisis_flag(assistant):
    async with Widget(assistant.port) as tab:
        await tab.session({})
        await tab.ask(EMERGENCY)
    async with Widget(assistant.port) as other:
        await other.session({})
        reply = texts(await other.ask(INSURANCE))
    assert "PPO" in reply and not emergency_number_in(reply), reply


async def test_two_tabs_with_the_same_made_up_id_get_separate_conversations(assistant):
    shared = "shared-" + uuid.uuid4().hex
    async with Widget(assistant.port) as a, Widget(assistant.port) as b:
        id_a = await a.session({"session_id": shared})
        id_b = await b.session({"session_id": shared})
        assert id_a != id_b and shared not in (id_a, id_b)
        reply_a = await a.ask(INSURANCE)
        await b.settle(1.5)
        assert "PPO" in texts(reply_a)
        assert b.received("bot_uttered") == [], "b received a's reply"
        reply_b = await b.ask(EMERGENCY)
        await a.settle(1.5)
        assert emergency_number_in(texts(reply_b[:1]))
        assert len(a.received("bot_uttered")) == len(reply_a), "a received b's reply"
        # a's conversation was not flagged by b's emergency
        later_a = await a.ask(INSURANCE)
    assert "PPO" in texts(later_a) and not emergency_number_in(texts(later_a)), later_a


async def test_a_message_naming_another_session_goes_to_the_senders_own(assistant):
    async with Widget(assistant.port) as victim, Widget(assistant.port) as intruder:
        victim_id = await victim.session({})
        intruder_id = await intruder.session({})
        assert victim_id != intruder_id
        reply = await intruder.ask(INSURANCE, session_id=victim_id)
        await victim.settle(1.5)
    assert "PPO" in texts(reply)
    assert victim.received("bot_uttered") == [], "a message naming another session id reached that session"


# ------------------------------------------------------------------ bad messages


@pytest.mark.parametrize("message", [123, None, {"x": 1}, ["hi"], True, 1.5, "a" * 100_001, "a" * 500_000],
                         ids=["int", "null", "object", "list", "bool", "float", "100001-chars", "500k-chars"])
async def test_a_bad_message_gets_an_error_event_and_the_channel_keeps_working(assistant, message):
    async with Widget(assistant.port) as tab:
        await tab.session({})
        error = await tab.emit_expecting_error({"message": message})
        await tab.settle(0.5)
        assert tab.received("bot_uttered") == [], "a bad message must not be answered as if it were text"
        reply = await tab.ask(INSURANCE)
    assert error, error
    assert "PPO" in texts(reply), reply


async def test_a_message_of_exactly_the_limit_is_answered(assistant):
    text = (INSURANCE + " ") * (100_000 // (len(INSURANCE) + 1))
    text += "x" * (100_000 - len(text))
    assert len(text) == 100_000
    async with Widget(assistant.port) as tab:
        await tab.session({})
        reply = await tab.ask(text)
    assert reply and not tab.received("error"), tab.events


@pytest.mark.parametrize("data", [("just a string",), (123,), (), ([{"message": "hi"}],), ({"text": "hi"},)],
                         ids=["string", "int", "no-data", "list", "no-message-key"])
async def test_a_malformed_user_uttered_gets_an_error_event(assistant, data):
    async with Widget(assistant.port) as tab:
        await tab.session({})
        error = await tab.emit_expecting_error(*data)
        reply = await tab.ask(INSURANCE)
    assert error
    assert "PPO" in texts(reply), reply


async def test_a_message_before_the_session_request_gets_an_error_event(assistant):
    async with Widget(assistant.port) as tab:
        error = await tab.emit_expecting_error({"message": INSURANCE, "session_id": uuid.uuid4().hex})
        await tab.settle(1.0)
        assert tab.received("bot_uttered") == [], "a message without a confirmed session was answered"
        await tab.session({})
        reply = await tab.ask(INSURANCE)
    assert error
    assert "PPO" in texts(reply)


# ------------------------------------------------------------------ origins


@pytest.mark.parametrize("template", ["http://evil.example", "null", "http://localhost:{web}.evil.example",
                                      "https://localhost:{web}", "http://localhost:{other}", "http://localhost",
                                      "http://evil.example/?http://localhost:{web}"])
async def test_a_browser_from_another_origin_cannot_connect(assistant, template):
    web = assistant.settings.web_port
    origin = template.format(web=web, other=web + 1)
    tab = Widget(assistant.port, origin=origin)
    await tab.connect(wait=False)  # the engine.io handshake; the socket.io connect is what is refused
    try:
        refusal = (await tab.wait_for("connect_error", 1, 10))[0]
        await tab.settle(0.5)
        assert not tab.client.namespaces, f"{origin} got connected"
        with pytest.raises(socketio.exceptions.BadNamespaceError):
            await tab.client.emit("session_request", {})
    finally:
        await tab.close()
    assert refusal, origin


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_the_allowed_origins_connect_and_converse(assistant, host):
    async with Widget(assistant.port, origin=f"http://{host}:{assistant.settings.web_port}") as tab:
        assert tab.client.connected
        await tab.session({})
        reply = await tab.ask(INSURANCE)
    assert "PPO" in texts(reply)


def test_a_refused_origin_cannot_send_events_over_raw_polling(assistant):
    """Below the client library: the engine.io handshake succeeds, but the socket.io connect is
    rejected, and events sent anyway get no session and no answer."""
    base = f"http://127.0.0.1:{assistant.port}/socket.io/?EIO=4&transport=polling"
    headers = {"Origin": "http://evil.example", "Content-Type": "text/plain;charset=UTF-8"}

    def call(url: str, body: bytes | None = None, timeout: float = 10) -> str:
        req = urllib.request.Request(url, body, headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (our own server)
                return resp.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return f"HTTP {e.code}"
        except (TimeoutError, urllib.error.URLError):  # a long poll with nothing to deliver
            return ""

    handshake = call(base)
    assert handshake.startswith("0{"), handshake
    url = base + "&sid=" + json.loads(handshake[1:])["sid"]
    call(url, b"40")
    connected = call(url)
    assert connected.startswith("44"), f"the connect must be rejected: {connected!r}"
    call(url, b'42["session_request",{}]')
    call(url, json.dumps(["user_uttered", {"message": INSURANCE}]).encode())
    later = call(url, timeout=6)
    assert "session_confirm" not in later and "PPO" not in later, later


async def test_a_refused_origin_cannot_connect_over_websocket_either(assistant):
    """The websocket transport (raw, as python-engineio's websocket client needs a newer aiohttp)."""
    url = f"ws://127.0.0.1:{assistant.port}/socket.io/?EIO=4&transport=websocket"

    async def first_answer(origin: str) -> str:
        async with websockets.connect(url, origin=origin, open_timeout=10) as ws:
            opened = await asyncio.wait_for(ws.recv(), 10)
            assert str(opened).startswith("0{"), opened
            await ws.send("40")
            return str(await asyncio.wait_for(ws.recv(), 10))

    assert (await first_answer("http://evil.example")).startswith("44")
    assert (await first_answer(f"http://localhost:{assistant.settings.web_port}")).startswith("40")
