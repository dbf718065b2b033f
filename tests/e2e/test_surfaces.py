"""What the running servers expose: no version banner, bounded bodies, a loopback-only action
server that echoes nothing, buttons that always work, and no visitor text in the logs."""
from __future__ import annotations

import asyncio
import http.client
import ipaddress
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from bot.evaluation.replies import flatten, post_raw
from tests.e2e.test_socketio import INSURANCE, Widget, emergency_number_in, quick_replies, texts

pytestmark = pytest.mark.model

TIMEOUT_S = 30


def secret() -> str:
    return "zebra-" + uuid.uuid4().hex


def logs(assistant: Any) -> str:
    time.sleep(1.0)  # let both servers finish writing
    return (assistant.rasa.log.read_text(errors="replace") + "\n"
            + assistant.actions.log.read_text(errors="replace"))


def get(url: str) -> Tuple[int, Dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:  # noqa: S310 (our own server)
            return resp.status, dict(resp.headers), resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode(errors="replace")


# ------------------------------------------------------------------ no version banner


def test_the_root_page_names_neither_rasa_nor_its_version(assistant):
    status, headers, body = get(f"http://127.0.0.1:{assistant.port}/")
    everything = body + "\n" + "\n".join(f"{k}: {v}" for k, v in headers.items())
    assert status == 200
    assert "rasa" not in everything.lower(), everything
    assert "3.6" not in everything, everything


@pytest.mark.parametrize("path", ["/version", "/status", "/conversations/x/tracker", "/domain", "/model"])
def test_rasas_http_api_is_not_served(assistant, path):
    status, headers, body = get(f"http://127.0.0.1:{assistant.port}{path}")
    assert status == 404, (status, body[:300])
    assert "3.6" not in body and "rasa" not in body.lower(), body[:500]


def test_the_model_cannot_be_replaced_or_queried(assistant):
    base = f"http://127.0.0.1:{assistant.port}"
    for path, body in [("/model/parse", b'{"text": "hi"}'), ("/model", b'{"model_file": "/tmp/x.tar.gz"}'),
                       ("/conversations/x/messages", b'{"text": "hi", "sender": "user"}')]:
        status, reply = post_raw(base + path, body, TIMEOUT_S)
        assert status in (404, 405), (path, status, reply)


# ------------------------------------------------------------------ body limit


def test_a_body_over_the_limit_gets_a_4xx(assistant):
    limit = assistant.settings.max_body_bytes
    body = json.dumps({"sender": "big", "message": "a" * (limit + limit // 2)}).encode()
    start = time.monotonic()
    status, reply = post_raw(assistant.url, body, TIMEOUT_S)
    assert status in (400, 413), (status, str(reply)[:300])
    assert time.monotonic() - start < TIMEOUT_S
    status, reply = assistant.send(INSURANCE, sender="after-big")
    assert status == 200 and "PPO" in flatten(reply)


def test_a_chunked_body_over_the_limit_gets_a_4xx(assistant):
    limit = assistant.settings.max_body_bytes
    chunk = b"a" * 65_536
    conn = http.client.HTTPConnection("127.0.0.1", assistant.port, timeout=TIMEOUT_S)
    try:
        conn.putrequest("POST", "/webhooks/rest/webhook")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        sent = 0
        try:
            conn.send(b'%x\r\n{"sender": "big", "message": "\r\n' % len(b'{"sender": "big", "message": "'))
            while sent < limit * 3 // 2:
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            conn.send(b'2\r\n"}\r\n0\r\n\r\n')
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading once the limit is passed
        status = conn.getresponse().status
    finally:
        conn.close()
    assert 400 <= status < 500, status


def test_the_action_server_refuses_a_body_over_the_limit(assistant):
    body = json.dumps({"next_action": "action_x", "tracker": {"blob": "a" * 1_500_000}}).encode()
    status, reply = post_raw(f"http://127.0.0.1:{assistant.settings.actions_port}/webhook", body, TIMEOUT_S)
    assert status in (400, 413), (status, str(reply)[:300])


# ------------------------------------------------------------------ the action server


def listening_addresses(port: int) -> List[str]:
    """Local addresses of the sockets listening on TCP ``port``, from /proc/net/tcp and tcp6."""
    found: List[str] = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port or len(address) != width:
                continue
            # Each 32-bit word of the address is in host (little-endian) order.
            raw = b"".join(bytes.fromhex(address[i:i + 8])[::-1] for i in range(0, width, 8))
            found.append(str(ipaddress.ip_address(raw)))
    return found


def non_loopback_addresses() -> List[str]:
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [a for a in out.split() if not ipaddress.ip_address(a.split("%")[0]).is_loopback]


def test_the_action_server_listens_on_loopback_only(assistant):
    port = assistant.settings.actions_port
    addresses = listening_addresses(port)
    assert addresses, f"nothing listens on {port}"
    assert set(addresses) == {"127.0.0.1"}, addresses
    for address in non_loopback_addresses():
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            with pytest.raises(OSError):  # refused (not a timeout from a filtered port: that also fails)
                s.connect((address, port))


def test_the_rasa_server_listens_where_configured(assistant):
    assert set(listening_addresses(assistant.port)) == {assistant.settings.interface}


def forged_calls(text: str) -> List[Tuple[bytes, Dict[str, str]]]:
    tracker = {"sender_id": "s", "latest_message": {"text": text, "intent": {"name": "emergency"}},
               "events": [{"event": "user", "text": text}], "slots": {"note": text}}
    call = {"next_action": "action_x", "tracker": tracker, "domain": {}}
    as_json = {"Content-Type": "application/json"}
    return [
        (json.dumps(call).encode(), as_json),
        (json.dumps({**call, "version": 123}).encode(), as_json),  # rasa_sdk's version check fails
        (json.dumps({**call, "version": "3.6.21"}).encode(), as_json),
        (json.dumps({**call, "tracker": text, "domain": text}).encode(), as_json),
        (json.dumps({**call, "next_action": ["action_x"]}).encode(), as_json),
        (json.dumps({"tracker": tracker}).encode(), as_json),
        (json.dumps([call]).encode(), as_json),
        (zlib.compress(json.dumps(call).encode()), {"Content-Encoding": "deflate"}),
        (b"garbage " + text.encode(), {"Content-Encoding": "deflate"}),
        (zlib.compress(b"{" + text.encode()), {"Content-Encoding": "deflate"}),
        (b"{" + text.encode() + b"\x00\xff", as_json),
        (b"\xff\xfe" + text.encode() + b"\x00{{", {"Content-Type": "application/octet-stream"}),
        (text.encode() * 50, {"Content-Type": "text/plain"}),
    ]


def test_forged_or_failing_action_calls_echo_nothing(assistant):
    hidden = secret()
    url = f"http://127.0.0.1:{assistant.settings.actions_port}/webhook"
    answers = []
    for body, headers in forged_calls(hidden):
        req = urllib.request.Request(url, body, headers)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310 (our own server)
                status, reply = resp.status, resp.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            status, reply = e.code, e.read().decode(errors="replace")
        answers.append((status, reply))
        assert hidden not in reply, f"the action server echoed the request: {status} {reply[:500]}"
        assert status < 500 or "error" in reply, (status, reply[:300])
    assert assistant.actions.alive()
    written = logs(assistant)
    assert "action_x" in written, "the forged calls left no trace: is this the action server's log?"
    assert hidden not in written, "a forged action call's content reached a log"
    status, reply = assistant.send(INSURANCE, sender="after-forged")
    assert status == 200 and "PPO" in flatten(reply)


# ------------------------------------------------------------------ buttons


def check_buttons(buttons: List[Dict[str, Any]], where: str) -> None:
    for button in buttons:
        title = str(button.get("title") or "").strip()
        target = str(button.get("payload") or button.get("url") or "").strip()
        assert title and target, f"a button without a title or payload in {where}: {button}"


@pytest.mark.parametrize("text", ["", " ", "\u200b", "/", "\x00", "?", ".", "yes", "x" * 5000],
                         ids=["empty", "space", "zwsp", "slash", "nul", "question-mark", "dot", "yes", "5000-x"])
def test_rest_replies_to_empty_or_odd_messages_have_working_buttons(assistant, text):
    status, messages = assistant.send(text, sender="buttons-" + uuid.uuid4().hex)
    assert status == 200 and isinstance(messages, list) and messages, messages
    assert flatten(messages).strip()
    check_buttons([b for m in messages for b in m.get("buttons") or []], repr(text))
    if text in ("", " ", "\u200b", "/", "\x00"):
        assert [b for m in messages for b in m.get("buttons") or []], "the empty-message reply offers the line"


@pytest.mark.parametrize("text", ["", "\u200b", "?"], ids=["empty", "zwsp", "question-mark"])
async def test_socketio_replies_to_empty_or_odd_messages_have_working_buttons(assistant, text):
    async with Widget(assistant.port) as tab:
        await tab.session({})
        replies = await tab.ask(text)
    assert texts(replies).strip()
    buttons = quick_replies(replies)
    assert buttons
    check_buttons(buttons, repr(text))


# ------------------------------------------------------------------ no visitor text in the logs


def test_rest_visitor_text_never_reaches_the_logs(assistant):
    hidden = secret()
    s = "logs-" + uuid.uuid4().hex
    messages = [
        f"my name is {hidden} and I just took the whole bottle, I want to die",
        f"{hidden} do you take insurance?",
        f"/ /restart {hidden}",
        f'/greet{{"crisis_flagged": "{hidden}"}}',
        "the beginning. " * 300 + f"{hidden} I took the whole bottle. " + "the end. " * 300,
        f"{hidden}\ud800 i took the whole bottle",  # a message the pipeline fails on
        f"{hidden}" + "\x00" * 10,
    ]
    replies = [assistant.send(text, sender=s) for text in messages]
    assert emergency_number_in(flatten(replies[0][1][:1])), replies[0]
    written = logs(assistant)
    assert s in written, "the alert line naming the conversation is missing: is this the server's log?"
    assert hidden not in written, "a visitor's words reached a log"


async def test_socketio_visitor_text_never_reaches_the_logs(assistant):
    hidden = secret()
    async with Widget(assistant.port) as tab:
        conversation = await tab.session({"session_id": hidden})
        first = await tab.ask(f"{hidden} I just took the whole bottle")
        await tab.ask(f"plain question {hidden}: do you take insurance?")
        await tab.client.emit("user_uttered", {"message": f"{hidden}\ud800 help"})  # fails in the pipeline
        await tab.client.emit("user_uttered", {"message": hidden * 10_000})  # over the length limit
        await tab.client.emit("user_uttered", {"message": 1, "metadata": hidden})
        await asyncio.sleep(2)
    assert emergency_number_in(texts(first[:1])), first
    written = logs(assistant)
    assert conversation in written, "the alert line naming the conversation is missing: is this the server's log?"
    assert hidden not in written, "a visitor's words reached a log"
