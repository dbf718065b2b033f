"""The alert sender against local webhooks: delivery, retries with backoff, total timeout, DB outages."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable, Dict, List

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.alerts.sender import AlertSender, backoff_s
from bot.store import create_tables
from bot.store.alerts import DELIVERED, LOGGED, PENDING, AlertOutbox

PAYLOAD_KEYS = {"event", "alert_id", "conversation_id", "kind", "time"}


class Webhook:
    """A local staff webhook whose behaviour the test sets: answer a status, or hang."""

    def __init__(self) -> None:
        self.mode = "200"
        self.statuses: List[int] = []  # answered in order first, then ``mode``
        self.received: List[Dict[str, Any]] = []  # every request's body, with the mode it met
        self.release = asyncio.Event()
        self.server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.statuses:
            status = self.statuses.pop(0)
        elif self.mode == "hang":
            self.received.append({"mode": "hang", "at": time.monotonic(), "body": body})
            await self.release.wait()
            return web.Response(status=200)
        else:
            status = int(self.mode)
        self.received.append({"mode": str(status), "at": time.monotonic(), "body": body})
        return web.json_response({"ok": status == 200}, status=status)

    def delivered(self, conversation_id: str | None = None) -> List[Dict[str, Any]]:
        """Bodies answered with 200."""
        return [r["body"] for r in self.received if r["mode"] == "200"
                and (conversation_id is None or r["body"].get("conversation_id") == conversation_id)]

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/alert"))


@pytest.fixture
async def webhook():
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/alert", hook.handle)
    hook.server = TestServer(app, host="127.0.0.1")
    await hook.server.start_server()
    try:
        yield hook
    finally:
        hook.release.set()
        await hook.server.close()


@pytest.fixture
def outbox(tmp_path) -> AlertOutbox:
    return AlertOutbox(create_tables(f"sqlite:///{tmp_path / 'alerts.db'}"), 3600.0)


async def shutdown(sender: AlertSender) -> None:
    """sender.stop(), with a safety net: stop() can hang (see test_stop_returns_when_an_alert_was_just_stored)."""
    stopping = asyncio.ensure_future(sender.stop())
    done, _ = await asyncio.wait({stopping}, timeout=5)
    if not done and sender._task is not None:
        sender._task.cancel()
        await asyncio.wait({stopping}, timeout=5)


@pytest.fixture
async def senders():
    """Senders started by a test, stopped after it."""
    started: List[AlertSender] = []
    yield started
    for s in started:
        await shutdown(s)


def start(senders: List[AlertSender], *args: Any, **kwargs: Any) -> AlertSender:
    kwargs.setdefault("poll_s", 0.05)
    sender = AlertSender(*args, **kwargs)
    sender.start()
    senders.append(sender)
    return sender


async def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.05)
    pytest.fail(f"not within {seconds} s: {what}")


def row(outbox: AlertOutbox, conversation_id: str) -> Dict[str, Any] | None:
    rows = [r for r in outbox.all() if r["conversation_id"] == conversation_id]
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


# --- backoff ----------------------------------------------------------------------------------

def test_backoff_doubles_up_to_the_maximum():
    waits = [backoff_s(n, 300.0) for n in range(12)]
    assert waits[:4] == [2.0, 4.0, 8.0, 16.0]
    assert all(b >= a for a, b in zip(waits, waits[1:]))
    assert max(waits) == 300.0
    assert backoff_s(50, 300.0) == 300.0
    assert backoff_s(0, 0.5) == 0.5
    assert backoff_s(3, 10.0, first=1.0) == 8.0


# --- delivery ---------------------------------------------------------------------------------

async def test_an_alert_is_delivered_once_to_a_webhook_that_answers_200(webhook, outbox, senders):
    sender = start(senders, outbox, webhook.url, timeout_s=2.0, retry_max_s=1.0)
    sender.flag("conv-ok", "overdose")
    await wait_for(lambda: (row(outbox, "conv-ok") or {}).get("status") == DELIVERED, 5, "delivered")
    await asyncio.sleep(0.5)  # several more rounds of the loop: no second delivery
    assert len(webhook.received) == 1, webhook.received
    body = webhook.delivered("conv-ok")[0]
    assert set(body) == PAYLOAD_KEYS, "the payload carries no message text, only the alert"
    stored = row(outbox, "conv-ok")
    assert body["conversation_id"] == "conv-ok"
    assert body["kind"] == "overdose"
    assert body["alert_id"] == stored["id"]
    assert body["event"] == "crisis_flagged"
    assert stored["attempts"] == 1 and stored["delivered_at"] is not None


async def test_the_same_conversation_flagged_again_is_not_sent_twice(webhook, outbox, senders):
    sender = start(senders, outbox, webhook.url, timeout_s=2.0, retry_max_s=1.0)
    for _ in range(3):
        sender.flag("conv-dup", "suicide")
    await wait_for(lambda: webhook.delivered("conv-dup"), 5, "delivered")
    sender.flag("conv-dup", "suicide")  # and once more after delivery
    await asyncio.sleep(0.6)
    assert len(webhook.delivered("conv-dup")) == 1
    assert row(outbox, "conv-dup")["repeats"] == 3


async def test_a_500_is_retried_until_delivered(webhook, outbox, senders, caplog):
    webhook.statuses = [500]
    sender = start(senders, outbox, webhook.url, timeout_s=2.0, retry_max_s=0.3)
    with caplog.at_level(logging.WARNING, logger="bot.alerts.sender"):
        sender.flag("conv-500", "seizure")
        await wait_for(lambda: (row(outbox, "conv-500") or {}).get("status") == DELIVERED, 5,
                       "delivered after a retry")
    assert [r["mode"] for r in webhook.received] == ["500", "200"]
    assert len(webhook.delivered("conv-500")) == 1
    retry_gap = webhook.received[1]["at"] - webhook.received[0]["at"]
    assert 0.2 <= retry_gap < 3.0, f"the retry waits the backoff (0.3 s here), waited {retry_gap:.2f} s"
    assert row(outbox, "conv-500")["attempts"] == 2
    assert any("conv-500" in r.getMessage() and "500" in r.getMessage() for r in caplog.records)


async def test_repeated_errors_back_off_and_the_alert_stays_pending(webhook, outbox, senders):
    webhook.mode = "503"
    sender = start(senders, outbox, webhook.url, timeout_s=2.0, retry_max_s=0.4)
    sender.flag("conv-503", "general")
    await wait_for(lambda: len(webhook.received) >= 3, 6, "three attempts")
    stored = row(outbox, "conv-503")
    assert stored["status"] == PENDING
    assert stored["attempts"] >= 2
    assert "503" in (stored["last_error"] or "")
    assert stored["next_attempt_at"] > stored["flagged_at"]
    webhook.mode = "200"
    await wait_for(lambda: (row(outbox, "conv-503") or {}).get("status") == DELIVERED, 5, "delivered")
    assert len(webhook.delivered("conv-503")) == 1


async def test_a_hung_webhook_is_abandoned_within_the_total_timeout(webhook, outbox, senders):
    webhook.mode = "hang"
    timeout = 0.6
    sender = start(senders, outbox, webhook.url, timeout_s=timeout, retry_max_s=0.3)
    flagged_at = time.monotonic()
    sender.flag("conv-hang", "overdose")
    await wait_for(lambda: (row(outbox, "conv-hang") or {}).get("attempts", 0) >= 1, timeout + 2.0,
                   "the hung attempt given up and counted")
    abandoned_after = time.monotonic() - flagged_at
    assert abandoned_after < timeout + 1.0, f"given up after {abandoned_after:.2f} s, timeout {timeout} s"
    stored = row(outbox, "conv-hang")
    assert stored["status"] == PENDING
    assert "Timeout" in (stored["last_error"] or ""), stored["last_error"]
    # the loop is still alive: another alert is attempted too, and both arrive once the webhook answers
    sender.flag("conv-hang-2", "suicide")
    await wait_for(lambda: any(r["body"]["conversation_id"] == "conv-hang-2" for r in webhook.received),
                   5, "the next alert attempted")
    webhook.mode = "200"
    await wait_for(lambda: all((row(outbox, c) or {}).get("status") == DELIVERED for c in ("conv-hang", "conv-hang-2")),
                   10, "both delivered once the webhook answers")
    assert len(webhook.delivered("conv-hang")) == 1
    assert len(webhook.delivered("conv-hang-2")) == 1


async def test_a_closed_port_is_retried(outbox, senders, unused_tcp_port):
    sender = start(senders, outbox, f"http://127.0.0.1:{unused_tcp_port}/alert", timeout_s=1.0, retry_max_s=0.2)
    sender.flag("conv-closed", "general")
    await wait_for(lambda: (row(outbox, "conv-closed") or {}).get("attempts", 0) >= 2, 5, "two attempts")
    stored = row(outbox, "conv-closed")
    assert stored["status"] == PENDING and stored["last_error"]


async def test_without_a_webhook_the_alert_is_a_warning_line(outbox, senders, caplog):
    with caplog.at_level(logging.WARNING):
        sender = start(senders, outbox, "", timeout_s=1.0, retry_max_s=1.0)
        sender.flag("conv-log-7", "harm_to_others")
        await wait_for(lambda: (row(outbox, "conv-log-7") or {}).get("status") == LOGGED, 5, "logged")
        await asyncio.sleep(0.4)
    lines = [r for r in caplog.records if "conv-log-7" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].levelno == logging.WARNING
    assert "harm_to_others" in lines[0].getMessage()
    assert row(outbox, "conv-log-7")["attempts"] == 1


async def test_flag_returns_at_once_even_when_the_database_is_slow(outbox, senders):
    class SlowOutbox(AlertOutbox):
        def record(self, *args: Any, **kwargs: Any) -> bool:
            time.sleep(1.0)
            return super().record(*args, **kwargs)

    slow = SlowOutbox(outbox.engine, 3600.0)
    sender = start(senders, slow, "", timeout_s=1.0, retry_max_s=1.0)
    started = time.perf_counter()
    sender.flag("conv-slow-db", "overdose")
    assert time.perf_counter() - started < 0.1, "flag() must not wait for the database"
    # the loop is not blocked either
    ticks = 0
    while time.perf_counter() - started < 0.5:
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks > 20
    await wait_for(lambda: row(outbox, "conv-slow-db"), 5, "stored eventually")


# --- stopping ---------------------------------------------------------------------------------

def test_stop_returns_when_an_alert_was_just_stored(outbox):
    """The server shuts down (broker.close() -> sender.stop()) just as an alert's store completes (wake()).

    Python 3.10's asyncio.wait_for returns the inner result instead of raising when it is cancelled
    in the same loop iteration as the inner wait completes, so the loop's one cancel() is swallowed
    and stop() waits for the task forever. Run in a thread with its own loop to time it out.
    """
    state: Dict[str, Any] = {}

    async def main() -> None:
        sender = AlertSender(outbox, "", 1.0, 1.0, poll_s=0.05)
        state["sender"], state["loop"] = sender, asyncio.get_running_loop()
        sender.start()
        await asyncio.sleep(0.2)
        sender.wake()  # what flag()'s done callback does once the alert is stored
        await sender.stop()
        state["stopped"] = True

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    thread.join(5)
    stopped = state.get("stopped", False)
    if not stopped and "loop" in state:  # clean up: cancel the swallowed task again
        state["loop"].call_soon_threadsafe(state["sender"]._task.cancel)
        thread.join(5)
    assert stopped, "AlertSender.stop() did not return within 5 s: the delivery loop swallowed its cancellation"


# --- database outages -------------------------------------------------------------------------

async def test_an_alert_flagged_while_the_database_is_down_is_kept_and_stored_later(
        webhook, tmp_path, senders, caplog):
    good = create_tables(f"sqlite:///{tmp_path / 'alerts.db'}")
    unwritable = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'alerts.db'}", future=True)
    outbox = AlertOutbox(unwritable, 3600.0)
    with caplog.at_level(logging.WARNING):
        sender = start(senders, outbox, webhook.url, timeout_s=1.0, retry_max_s=0.3)
        sender.flag("conv-db-down", "overdose")
        sender.flag("conv-db-down", "overdose")
        await wait_for(lambda: len(sender.unstored) >= 1, 3, "kept in memory")
        await asyncio.sleep(0.5)  # the loop keeps running against the broken database
        assert webhook.received == []
        assert sender._task is not None and not sender._task.done(), "the loop died on a database error"
        outbox.engine = good  # the database is back
        reader = AlertOutbox(good, 3600.0)
        await wait_for(lambda: (row(reader, "conv-db-down") or {}).get("status") == DELIVERED, 5,
                       "stored and delivered once the database works")
        await asyncio.sleep(0.4)
    assert sender.unstored == []
    assert len(webhook.delivered("conv-db-down")) == 1, "two flags of one conversation: one alert"
    assert len([r for r in reader.all() if r["conversation_id"] == "conv-db-down"]) == 1
    assert any("conv-db-down" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


async def test_a_database_error_at_flag_time_from_a_mock(webhook, outbox, senders):
    calls = {"n": 0}
    real_record = outbox.record

    def flaky_record(conversation_id: str, kind: str, now: float | None = None, alert_id: str | None = None) -> bool:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))
        return real_record(conversation_id, kind, now, alert_id)

    outbox.record = flaky_record  # type: ignore[method-assign]
    sender = start(senders, outbox, webhook.url, timeout_s=1.0, retry_max_s=0.3)
    sender.flag("conv-flaky", "seizure")
    await wait_for(lambda: webhook.delivered("conv-flaky"), 5, "delivered after the database recovered")
    assert calls["n"] >= 3
    assert row(outbox, "conv-flaky")["kind"] == "seizure"


async def test_pending_alerts_survive_a_stopped_sender(tmp_path, webhook):
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    webhook.mode = "500"
    first = AlertSender(AlertOutbox(create_tables(url), 3600.0), webhook.url, 1.0, 0.2, poll_s=0.05)
    first.start()
    first.flag("conv-restart", "overdose")
    await wait_for(lambda: webhook.received, 5, "a failed attempt")
    await shutdown(first)
    webhook.mode = "200"
    second = AlertSender(AlertOutbox(sa.create_engine(url, future=True), 3600.0), webhook.url, 1.0, 0.2,
                         poll_s=0.05)
    second.start()
    try:
        await wait_for(lambda: webhook.delivered("conv-restart"), 5, "delivered by the next sender")
        await asyncio.sleep(0.4)
    finally:
        await shutdown(second)
    assert len(webhook.delivered("conv-restart")) == 1


async def test_two_senders_sharing_the_outbox_deliver_each_alert_once_to_a_slow_webhook(tmp_path):
    """The outbox's promise: several servers may share the table and each alert is delivered once.

    A webhook that takes 0.4 s per answer (inside the 1 s total timeout) and a burst of 15 alerts:
    the first sender claims them all at once; the second must not send any of them again.
    """
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    received: List[str] = []

    async def slow_ok(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(0.4)
        received.append(body["conversation_id"])
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/alert", slow_ok)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    hook = str(server.make_url("/alert"))
    first = AlertSender(AlertOutbox(create_tables(url), 3600.0), hook, 1.0, 0.5, poll_s=0.05)
    second = AlertSender(AlertOutbox(sa.create_engine(url, future=True, connect_args={"timeout": 10}), 3600.0),
                         hook, 1.0, 0.5, poll_s=0.05)
    try:
        for i in range(15):
            first.outbox.record(f"burst-{i}", "general")
        first.start()
        await wait_for(lambda: received, 5, "the first sender delivering")
        second.start()
        reader = AlertOutbox(sa.create_engine(url, future=True), 3600.0)
        await wait_for(lambda: all(r["status"] == DELIVERED for r in reader.all()), 20, "all delivered")
        await asyncio.sleep(0.5)
    finally:
        await shutdown(first)
        await shutdown(second)
        await server.close()
    duplicates = sorted({c for c in received if received.count(c) > 1})
    assert not duplicates, f"delivered more than once: {duplicates}"
    assert sorted(set(received)) == sorted(f"burst-{i}" for i in range(15))
