"""Emergencies are answered at once and staff are alerted, whatever state the action server or the webhook is in.

One assistant (action server + Rasa server, the real model) is started for the module, with its
staff webhook pointing at a local server whose behaviour the tests switch live: answer 200,
answer 500, answer slowly, hang without answering, or be down (port closed). The alert outbox
is read straight from the assistant's SQLite database.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List

import pytest

from bot import facts, launch
from bot.evaluation.replies import flatten
from bot.settings import ROOT
from bot.store import create_tables
from bot.store.alerts import DELIVERED, PENDING, AlertOutbox
from bot.store.spool import Spool
from tests.conftest import Assistant, server_settings, start_assistant

pytestmark = pytest.mark.model

EMERGENCY = "i took all my pills and i cant stay awake"
FAQ = "do you take insurance?"
REPLY_WITHIN_S = 2.0
TIMEOUT_S = 3.0  # ALERT_TIMEOUT_S of the assistant under test
RETRY_MAX_S = 2.0  # ALERT_RETRY_MAX_S
QUIET_S = RETRY_MAX_S + TIMEOUT_S + 1.5  # long enough for a duplicate to show up if there were one


# --- a staff webhook the tests control --------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        hook = self.server.hook
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        except ValueError:
            body = None
        mode, release = hook.mode, hook.release
        hook.record(mode, body)
        try:
            if mode == "hang":
                release.wait(120)  # never answers; the connection is dropped when the mode changes
                return
            if mode == "slow":
                time.sleep(5)
                status = 200
            else:
                status = int(mode)
            data = json.dumps({"ok": status == 200}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hook: "Webhook"


class Webhook:
    """Modes: "200", "500", "slow" (200 after 5 s), "hang" (never answers), "down" (port closed)."""

    def __init__(self) -> None:
        self.port = launch.free_port()
        self.mode = "down"
        self.release = threading.Event()
        self.received: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alert"

    def record(self, mode: str, body: Any) -> None:
        with self._lock:
            self.received.append({"mode": mode, "at": time.monotonic(), "body": body})

    def set(self, mode: str) -> None:
        """Switches the behaviour; hung requests are dropped (without an answer)."""
        self.release.set()
        self.release = threading.Event()
        if mode == "down":
            self._close()
        elif self._server is None:
            for _ in range(50):
                try:
                    server = _Server(("127.0.0.1", self.port), _Handler)
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                raise RuntimeError(f"cannot reopen the webhook on port {self.port}")
            server.hook = self
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self._server = server
        self.mode = mode

    def _close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self.release.set()
        self._close()

    def requests_for(self, conversation_id: str) -> List[Dict[str, Any]]:
        with self._lock:
            return [r for r in self.received if isinstance(r["body"], dict)
                    and r["body"].get("conversation_id") == conversation_id]

    def delivered(self, conversation_id: str) -> List[Dict[str, Any]]:
        """The alerts for a conversation that were answered with 200."""
        return [r["body"] for r in self.requests_for(conversation_id) if r["mode"] == "200"]


# --- the assistant under test -----------------------------------------------------------------

@pytest.fixture(scope="module")
def webhook():
    hook = Webhook()
    hook.set("200")
    try:
        yield hook
    finally:
        hook.close()


@pytest.fixture(scope="module")
def bot(tmp_path_factory, webhook):
    var = tmp_path_factory.mktemp("resilience")
    settings = server_settings(var, ALERT_WEBHOOK_URL=webhook.url, ALERT_TIMEOUT_S=str(TIMEOUT_S),
                               ALERT_RETRY_MAX_S=str(RETRY_MAX_S), LOG_DIR=str(var / "logs"))
    running = start_assistant(settings)
    try:
        yield running
    finally:
        running.rasa.stop()
        running.actions.stop()


@pytest.fixture(autouse=True)
def webhook_answers_again(request, webhook):
    """Every test starts with the webhook answering 200 and no alert left pending by an earlier test.

    (The sender tries due alerts one after the other, so alerts left over from an earlier test
    would delay, or time out against a hung webhook, before the ones a test is about.)
    """
    webhook.set("200")
    if "bot" in request.fixturenames:
        running = request.getfixturevalue("bot")
        wait_for(lambda: not [r for r in outbox(running).all() if r["status"] == PENDING], 60,
                 "alerts of earlier tests delivered", running.rasa.tail)
    yield
    webhook.set("200")


def conversation() -> str:
    return "resilience-" + uuid.uuid4().hex


def outbox(bot: Assistant) -> AlertOutbox:
    return AlertOutbox(create_tables(bot.settings.database), bot.settings.alert_dedup_window_s)


def alert_rows(bot: Assistant, conversation_id: str) -> List[Dict[str, Any]]:
    return [r for r in outbox(bot).all() if r["conversation_id"] == conversation_id]


def wait_for(check: Callable[[], Any], seconds: float, what: str, tail: Callable[[], str] = lambda: "") -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"not within {seconds} s: {what}\n{tail()}")


def send_emergency(bot: Assistant, sender: str, text: str = EMERGENCY) -> float:
    """Sends an emergency; checks the full reply; returns how long it took."""
    f = facts.load()
    started = time.perf_counter()
    status, messages = bot.send(text, sender=sender, timeout=30)
    elapsed = time.perf_counter() - started
    assert status == 200, messages
    assert isinstance(messages, list) and messages, messages
    assert re.search(rf"\b{re.escape(f.emergency_number)}\b", flatten(messages[:1])), messages
    assert f.center_phone in flatten(messages), messages
    assert elapsed <= REPLY_WITHIN_S, f"the emergency reply took {elapsed:.2f} s (limit {REPLY_WITHIN_S} s)"
    return elapsed


def send_faq(bot: Assistant, sender: str) -> float:
    started = time.perf_counter()
    status, messages = bot.send(FAQ, sender=sender, timeout=30)
    elapsed = time.perf_counter() - started
    assert status == 200, messages
    assert "PPO" in flatten(messages), messages
    return elapsed


def emergency_then_faq(bot: Assistant) -> str:
    sender = conversation()
    send_emergency(bot, sender)
    assert send_faq(bot, sender) <= 5.0, "the next message of the conversation is answered promptly"
    return sender


# --- (c), (d), (e) and more: the webhook in every state ---------------------------------------

@pytest.mark.parametrize("mode", ["hang", "slow", "500", "down", "200"])
def test_emergency_answered_whatever_the_webhook_does(bot, webhook, mode):
    webhook.set(mode)
    sender = emergency_then_faq(bot)
    # the alert was stored durably at once, whatever the webhook does
    rows = wait_for(lambda: alert_rows(bot, sender), 1.0, "alert stored", bot.rasa.tail)
    assert len(rows) == 1 and rows[0]["kind"] == "overdose"
    if mode == "200":
        wait_for(lambda: webhook.delivered(sender), 10, "the alert delivered", bot.rasa.tail)
    else:
        # while a delivery attempt is in flight (or failing), others are still answered at once
        time.sleep(1.0)
        emergency_then_faq(bot)
        assert not webhook.delivered(sender)
        assert alert_rows(bot, sender)[0]["status"] == PENDING
    assert bot.rasa.alive(), bot.rasa.tail()


def test_a_hung_attempt_is_abandoned_within_the_total_timeout(bot, webhook):
    webhook.set("hang")
    sender = conversation()
    send_emergency(bot, sender)
    wait_for(lambda: webhook.requests_for(sender), 5, "the hung attempt reaching the webhook", bot.rasa.tail)
    started = time.monotonic()
    wait_for(lambda: (alert_rows(bot, sender) or [{}])[0].get("attempts", 0) >= 1, TIMEOUT_S + 3,
             "the hung attempt abandoned and counted", bot.rasa.tail)
    assert time.monotonic() - started <= TIMEOUT_S + 1.5
    row = alert_rows(bot, sender)[0]
    assert row["status"] == PENDING and "Timeout" in (row["last_error"] or ""), row


def test_the_alert_is_stored_by_the_time_the_reply_arrives(bot):
    """"Recorded durably the moment the conversation is flagged": once the visitor has the reply, a crash
    of the server must not lose the alert, so it is already in the database or in the durable spool
    (bot/store/spool.py, fsynced before the reply leaves, replayed after a restart)."""
    spool = Spool(bot.settings.var_dir / "alerts.spool")
    missing = []
    for _ in range(10):
        sender = conversation()
        send_emergency(bot, sender)
        spooled = any(e["conversation_id"] == sender for e in spool.pending())
        if not spooled and not alert_rows(bot, sender):  # no waiting: this is the moment the reply is received
            missing.append(sender)
    assert not missing, (f"{len(missing)} of 10 alerts were not yet stored when the reply was received "
                         "(they are stored a moment later: a crash in between loses them)")


# --- (a), (b): the action server stopped or killed ---------------------------------------------

def test_emergency_answered_with_the_action_server_sigstopped(bot, webhook):
    pid = bot.actions.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        emergency_then_faq(bot)
        webhook.set("hang")  # and everything else broken too
        emergency_then_faq(bot)
    finally:
        os.kill(pid, signal.SIGCONT)


def test_emergency_answered_with_the_action_server_killed(bot, webhook):
    os.kill(bot.actions.pid, signal.SIGKILL)
    try:
        bot.actions.proc.wait(10)
        emergency_then_faq(bot)
        webhook.set("down")
        emergency_then_faq(bot)
    finally:
        bot.actions.start().wait_healthy(60)


# --- (f), (g): recovery and de-duplication ----------------------------------------------------

@pytest.mark.parametrize("broken", ["down", "hang", "500"])
def test_the_alert_arrives_once_when_the_webhook_recovers(bot, webhook, broken):
    webhook.set(broken)
    sender = conversation()
    send_emergency(bot, sender)
    wait_for(lambda: (alert_rows(bot, sender) or [{}])[0].get("attempts", 0) >= 1, TIMEOUT_S + 5,
             "a failed attempt", bot.rasa.tail)
    assert not webhook.delivered(sender)
    webhook.set("200")
    switched = time.monotonic()
    wait_for(lambda: webhook.delivered(sender), 30, "the alert delivered after the webhook recovered",
             bot.rasa.tail)
    arrived_after = time.monotonic() - switched
    time.sleep(QUIET_S)
    delivered = webhook.delivered(sender)
    assert len(delivered) == 1, delivered
    body = delivered[0]
    assert body["conversation_id"] == sender and body["kind"] == "overdose"
    assert EMERGENCY not in json.dumps(body) and "pills" not in json.dumps(body)
    rows = alert_rows(bot, sender)
    assert len(rows) == 1 and rows[0]["status"] == DELIVERED and rows[0]["id"] == body["alert_id"]
    assert arrived_after <= RETRY_MAX_S + TIMEOUT_S + 3, f"retries are capped at {RETRY_MAX_S} s apart"


def test_three_emergencies_in_one_conversation_make_one_alert(bot, webhook):
    sender = conversation()
    for text in (EMERGENCY, "I'm going to kill myself tonight", "my husband is having a seizure"):
        send_emergency(bot, sender, text)
    wait_for(lambda: webhook.delivered(sender), 15, "the alert delivered", bot.rasa.tail)
    time.sleep(QUIET_S)
    assert len(webhook.delivered(sender)) == 1, webhook.requests_for(sender)
    rows = alert_rows(bot, sender)
    assert len(rows) == 1 and rows[0]["repeats"] == 2, rows


def test_three_emergencies_while_the_webhook_is_down_make_one_alert(bot, webhook):
    webhook.set("down")
    sender = conversation()
    for text in (EMERGENCY, "I'm going to kill myself tonight", "my husband is having a seizure"):
        send_emergency(bot, sender, text)
    time.sleep(1.0)
    webhook.set("200")
    wait_for(lambda: webhook.delivered(sender), 30, "the alert delivered", bot.rasa.tail)
    time.sleep(QUIET_S)
    assert len(webhook.delivered(sender)) == 1, webhook.requests_for(sender)
    assert len(alert_rows(bot, sender)) == 1


# --- (i): invalid alert settings --------------------------------------------------------------

def _env(tmp_path, **extra: str) -> Dict[str, str]:
    env = dict(os.environ)
    for name in ("ALERT_WEBHOOK_URL", "ALERT_TIMEOUT_S", "ALERT_RETRY_MAX_S", "ALERT_DEDUP_WINDOW_S",
                 "DATABASE_URL"):
        env.pop(name, None)
    env.update({"PORT": str(launch.free_port()), "WEB_PORT": str(launch.free_port()),
                "ACTIONS_PORT": str(launch.free_port()), "LOG_DIR": str(tmp_path / "logs"),
                "VAR_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


@pytest.mark.parametrize("name, value", [
    ("ALERT_TIMEOUT_S", "abc"), ("ALERT_TIMEOUT_S", "0"), ("ALERT_RETRY_MAX_S", "-5"),
    ("ALERT_DEDUP_WINDOW_S", "1h"), ("ALERT_WEBHOOK_URL", "localhost:9999/alert"),
])
def test_bot_run_refuses_invalid_alert_settings(tmp_path, name, value):
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=_env(tmp_path, **{name: value}),
                          capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode != 0, done.stdout + done.stderr
    assert name in done.stderr, done.stderr
    assert elapsed < 10, f"took {elapsed:.1f} s to refuse"
    assert "The assistant is up" not in done.stdout


def test_the_rasa_server_alone_refuses_invalid_alert_settings(tmp_path):
    """Started without the CLI's check (launch.rasa_server, as the tests and the bench do)."""
    settings = server_settings(tmp_path)
    service = launch.rasa_server(settings)
    service = replace(service, env={**service.env, "ALERT_TIMEOUT_S": "abc"}, log=tmp_path / "rasa.log")
    process = launch.Process(service).start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.alive():
            if launch.http_ok(service.health_url, timeout=1):
                break
            time.sleep(0.3)
        up = process.alive()
        log = process.tail(20_000)
    finally:
        process.stop()
    assert not up, "the Rasa server started with ALERT_TIMEOUT_S=abc (staff alerts silently broken):\n" + log[-2000:]
    assert process.proc.returncode != 0
    assert "ALERT_TIMEOUT_S" in log, log[-2000:]


# --- (h): an alert survives a restart (last: it replaces the Rasa server) ---------------------

def test_a_pending_alert_survives_a_restart_of_the_rasa_server(bot, webhook):
    webhook.set("down")
    sender = conversation()
    send_emergency(bot, sender)
    wait_for(lambda: (alert_rows(bot, sender) or [{}])[0].get("attempts", 0) >= 1, TIMEOUT_S + 5,
             "a failed attempt before the restart", bot.rasa.tail)
    bot.rasa.stop()
    assert alert_rows(bot, sender)[0]["status"] == PENDING
    webhook.set("200")
    time.sleep(1.0)
    assert not webhook.delivered(sender), "the old server is stopped: nobody can have delivered it yet"
    bot.rasa = launch.Process(launch.rasa_server(bot.settings)).start()
    bot.rasa.wait_healthy(bot.settings.start_timeout_s)
    wait_for(lambda: webhook.delivered(sender), 30, "the alert delivered by the restarted server", bot.rasa.tail)
    # the restarted server answers at once, and the same conversation flagged again within the
    # window raises no second alert (the de-duplication survives the restart too)
    send_emergency(bot, sender)
    send_faq(bot, sender)
    time.sleep(QUIET_S)
    assert len(webhook.delivered(sender)) == 1, webhook.requests_for(sender)
    rows = alert_rows(bot, sender)
    assert len(rows) == 1 and rows[0]["status"] == DELIVERED, rows
