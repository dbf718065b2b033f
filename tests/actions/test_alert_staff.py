"""The staff alert: a webhook without the message text, or a WARNING log line."""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.alert_staff import ActionAlertStaff

SECRET_TEXT = "I took the whole bottle"


def tracker():
    return Tracker("conv-42", {"emergency_kind": "overdose", "crisis_flagged": True},
                   {"text": SECRET_TEXT, "intent": {"name": "emergency"}}, [], False, None, {}, "")


def run_action():
    return asyncio.run(ActionAlertStaff().run(CollectingDispatcher(), tracker(), {}))


def test_without_webhook_a_warning_names_the_conversation_not_the_text(monkeypatch, caplog):
    monkeypatch.delenv("ALERT_WEBHOOK_URL", raising=False)
    with caplog.at_level(logging.WARNING):
        assert run_action() == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("conv-42" in w and "overdose" in w for w in warnings)
    assert not any(SECRET_TEXT in r.getMessage() for r in caplog.records)


def test_webhook_gets_the_alert(monkeypatch):
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/alert")
        run_action()
    finally:
        server.shutdown()
        server.server_close()
    assert received and received[0]["conversation_id"] == "conv-42" and received[0]["kind"] == "overdose"
    assert SECRET_TEXT not in json.dumps(received[0])


def test_unreachable_webhook_falls_back_to_the_log(monkeypatch, caplog):
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "http://127.0.0.1:9/unreachable")
    monkeypatch.setenv("ALERT_TIMEOUT_S", "0.5")
    with caplog.at_level(logging.WARNING):
        run_action()
    assert any("CRISIS FLAGGED" in r.getMessage() for r in caplog.records)
