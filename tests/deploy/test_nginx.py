"""The cluster's nginx configuration, served by a real nginx in front of stub servers.

Checks what the configuration promises: REST requests of one conversation always reach the
same server, socket.io is sticky by client address and can upgrade to websocket, a dead server's
requests (POSTs too) go to another, and what nginx answers by itself (rate limited, too large,
no server up) is a bot message that carries the emergency number and the center's line.
"""
from __future__ import annotations

import http.client
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from bot import facts
from bot.cluster import nginx
from bot.launch import free_port
from tests.services import NginxServer, reachable_tmpdir, require


class Stub(BaseHTTPRequestHandler):
    """Answers every request with JSON naming the server, the path and the headers it got."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        out = json.dumps({"server": self.server.name, "path": self.path, "bytes": len(body),  # type: ignore[attr-defined]
                          "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


class Dying(BaseHTTPRequestHandler):
    """Reads a request, notes its X-Request-ID and closes the connection without a reply (a killed server)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(self.headers.get("X-Request-ID"))  # type: ignore[attr-defined]
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


class StubServer:
    """A stub backend on a free port, in a thread of the test process."""

    def __init__(self, name: str, handler: type = Stub) -> None:
        self.port = free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.httpd.seen = []  # type: ignore[attr-defined]
        self.httpd.name = name  # type: ignore[attr-defined]
        self.httpd.protocol_version = "HTTP/1.1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def request(port: int, method: str, path: str, body: bytes | None = None, source: str = "127.0.0.1",
            headers: Dict[str, str] | None = None) -> Tuple[int, Dict[str, str], bytes]:
    """One request from the loopback address ``source`` (each address is a client of its own)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def post(port: int, sender: str, source: str = "127.0.0.1", extra: str = "") -> Tuple[int, Any]:
    body = json.dumps({"sender": sender, "message": "hello" + extra}).encode()
    status, _, raw = request(port, "POST", "/webhooks/rest/webhook", body, source)
    return status, json.loads(raw)


@pytest.fixture(scope="module")
def stubs() -> Iterator[List[StubServer]]:
    servers = [StubServer("rasa-1"), StubServer("rasa-2"), StubServer("web")]
    try:
        yield servers
    finally:
        for s in servers:
            s.stop()


def start_nginx(stubs: List[StubServer], rasa: List[int] | None = None, **limits: Any) -> NginxServer:
    require("nginx")
    prefix = reachable_tmpdir("nginx-test-")
    config = nginx.NginxConfig("127.0.0.1", free_port(), rasa or [stubs[0].port, stubs[1].port], stubs[2].port,
                               int(limits.get("max_body_bytes", 2000)), float(limits.get("rate_per_s", 1000)),
                               int(limits.get("burst", 1000)), prefix, prefix / "logs")
    server = NginxServer(nginx.write(config), prefix, config.health_url)
    server.port = config.listen_port  # type: ignore[attr-defined]
    return server.start()


@pytest.fixture(scope="module")
def front(stubs) -> Iterator[NginxServer]:
    server = start_nginx(stubs)
    try:
        yield server
    finally:
        server.destroy()


def _port(server: NginxServer) -> int:
    return int(server.port)  # type: ignore[attr-defined]


def carries_danger_numbers(messages: Any) -> bool:
    """Whether a reply is a list of bot messages whose text names 911, the crisis line and the center's line."""
    f = facts.load()
    text = " ".join(str(m.get("text", "")) for m in messages)
    buttons = [b for m in messages for b in m.get("buttons", [])]
    return (isinstance(messages, list) and f.emergency_number in text and f.crisis_line in text
            and f.center_phone in text and any(b["payload"] == f"tel:{f.center_phone_dial}" for b in buttons))


def test_a_conversation_always_reaches_the_same_server(front):
    seen: Dict[str, set] = {}
    for i in range(30):
        sender = f"visitor-{i}"
        for turn in range(4):
            status, body = post(_port(front), sender, extra=f" {turn}")
            assert status == 200
            seen.setdefault(sender, set()).add(body["server"])
    assert all(len(servers) == 1 for servers in seen.values())
    assert {s for servers in seen.values() for s in servers} == {"rasa-1", "rasa-2"}  # and both are used


def test_socketio_is_sticky_by_client_and_can_upgrade(front):
    servers = set()
    for client in range(2, 30):
        source = f"127.0.0.{client}"
        got = {json.loads(request(_port(front), "GET", "/socket.io/?EIO=4&transport=polling", source=source)[2])
               ["server"] for _ in range(3)}
        assert len(got) == 1
        servers |= got
    assert servers == {"rasa-1", "rasa-2"}
    _, _, raw = request(_port(front), "GET", "/socket.io/?EIO=4&transport=websocket",
                        headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    headers = json.loads(raw)["headers"]
    assert headers["upgrade"] == "websocket" and headers["connection"].lower() == "upgrade"


def test_the_page_is_served_and_nothing_else_is_posted_to_it(front):
    status, _, raw = request(_port(front), "GET", "/")
    assert status == 200 and json.loads(raw)["server"] == "web"
    assert request(_port(front), "POST", "/", b"{}")[0] == 403
    assert request(_port(front), "GET", "/webhooks/rest/")[0] == 200  # the channel's health check


def test_a_body_over_the_limit_is_refused_with_the_numbers(front):
    body = json.dumps({"sender": "big", "message": "x" * 3000}).encode()
    status, headers, raw = request(_port(front), "POST", "/webhooks/rest/webhook", body)
    assert status == 413 and headers["content-type"].startswith("application/json")
    assert carries_danger_numbers(json.loads(raw))


def test_the_rate_limit_answers_with_the_numbers(stubs):
    server = start_nginx(stubs, rate_per_s=1, burst=3)
    try:
        statuses = []
        for i in range(8):
            status, headers, raw = request(_port(server), "POST", "/webhooks/rest/webhook",
                                           json.dumps({"sender": "fast", "message": f"m{i}"}).encode(),
                                           source="127.0.0.7")
            statuses.append(status)
            if status == 429:
                assert carries_danger_numbers(json.loads(raw)) and headers["retry-after"] == "2"
        assert statuses[:4] == [200] * 4 and 429 in statuses
        assert post(_port(server), "calm", source="127.0.0.8")[0] == 200  # another client is not limited
        status, headers, raw = request(_port(server), "GET", "/", source="127.0.0.7")
        assert status == 429 and headers["content-type"].startswith("text/html")
        assert facts.load().emergency_number in raw.decode()
    finally:
        server.destroy()


def test_a_dead_server_is_skipped_and_none_up_still_gives_the_numbers(stubs):
    dead = free_port()
    server = start_nginx(stubs, rasa=[dead, stubs[0].port])
    try:
        for i in range(20):  # POSTs included: a refused connection never reached a server
            status, body = post(_port(server), f"visitor-{i}")
            assert status == 200 and body["server"] == "rasa-1"
    finally:
        server.destroy()
    server = start_nginx(stubs, rasa=[free_port(), free_port()])
    try:
        status, _, raw = request(_port(server), "POST", "/webhooks/rest/webhook", b'{"sender":"a","message":"help"}')
        assert status == 503 and carries_danger_numbers(json.loads(raw))
    finally:
        server.destroy()


def test_each_request_carries_nginxs_own_request_id(front):
    ids = set()
    for i in range(10):
        body = json.dumps({"sender": f"v-{i}", "message": "hi"}).encode()
        _, _, raw = request(_port(front), "POST", "/webhooks/rest/webhook", body,
                            headers={"X-Request-ID": "f" * 32, "X-Forwarded-For": "10.9.9.9"})
        headers = json.loads(raw)["headers"]
        assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"]) and headers["x-request-id"] != "f" * 32
        assert headers["x-forwarded-for"].endswith("127.0.0.1") and headers.get("connection") != "close"
        ids.add(headers["x-request-id"])
    assert len(ids) == 10
    _, _, raw = request(_port(front), "GET", "/socket.io/?EIO=4&transport=polling", headers={"X-Request-ID": "f" * 32})
    assert json.loads(raw)["headers"]["x-request-id"] != "f" * 32


def test_a_request_retried_on_another_server_keeps_its_request_id(stubs):
    """A server that dies with the request (read, no reply): nginx sends it to the other server with the
    same X-Request-ID, by which the REST channel and the tracker store recognise a turn stored twice."""
    dying = StubServer("dying", Dying)
    server = start_nginx(stubs, rasa=[dying.port, stubs[0].port])
    try:
        retried = []
        for i in range(20):
            before = len(dying.httpd.seen)  # type: ignore[attr-defined]
            status, _, raw = request(_port(server), "POST", "/webhooks/rest/webhook",
                                     json.dumps({"sender": f"visitor-{i}", "message": "help"}).encode())
            assert status == 200 and json.loads(raw)["server"] == "rasa-1"
            if len(dying.httpd.seen) > before:  # type: ignore[attr-defined]
                retried.append((dying.httpd.seen[-1], json.loads(raw)["headers"]["x-request-id"]))  # type: ignore[attr-defined]
        assert retried and all(first == second and first for first, second in retried), retried
    finally:
        server.destroy()
        dying.stop()


def test_the_template_writes_no_fact_itself():
    text = Path(nginx.TEMPLATE).read_text(encoding="utf-8")
    f = facts.load()
    assert f.center_phone not in text and f.phone_digits not in text.replace("-", "")
    assert f" {f.emergency_number}" not in text
