"""Delivers stored alerts to the staff webhook: total timeout, retries with backoff, once each."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import List, Tuple

import aiohttp

from bot.store.alerts import DELIVERED, LOGGED, Alert, AlertOutbox

logger = logging.getLogger(__name__)


def backoff_s(attempts: int, maximum: float, first: float = 2.0) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: doubling up to ``maximum``."""
    return min(maximum, first * 2 ** max(0, attempts))


class AlertSender:
    """A background task on the server's event loop that empties the outbox."""

    def __init__(self, outbox: AlertOutbox, webhook_url: str, timeout_s: float, retry_max_s: float,
                 poll_s: float = 1.0) -> None:
        self.outbox, self.webhook_url = outbox, webhook_url
        self.timeout_s, self.retry_max_s, self.poll_s = timeout_s, retry_max_s, poll_s
        self.db = ThreadPoolExecutor(1, thread_name_prefix="alerts-db")  # the event loop never waits on the database
        self.unstored: List[Tuple[str, str]] = []  # flagged while the database failed; stored on recovery
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Starts the delivery loop on the running event loop."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def flag(self, conversation_id: str, kind: str) -> None:
        """Stores an alert for a flagged conversation, off the event loop; wakes the sender."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.db, self._store, conversation_id, kind)
        future.add_done_callback(lambda _: self.wake())

    def _store(self, conversation_id: str, kind: str) -> None:
        try:
            self.outbox.record(conversation_id, kind)
        except Exception as e:  # the database is down: keep it in memory, retried by the loop
            logger.error("alert for conversation %s could not be stored (%s); kept in memory until the database is "
                         "back", conversation_id, type(e).__name__)
            self.unstored.append((conversation_id, kind))

    def wake(self) -> None:
        """Makes the loop look at the outbox now."""
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)  # DNS, connect, send and read together
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()
                try:
                    await self.deliver_due(session)
                except Exception as e:  # never let the loop die
                    logger.error("alert sender: %s: %s", type(e).__name__, e)

    async def deliver_due(self, session: aiohttp.ClientSession) -> int:
        """Stores what was kept in memory, then delivers every due alert; returns how many were sent."""
        loop = asyncio.get_running_loop()
        while self.unstored:
            conversation_id, kind = self.unstored.pop(0)
            try:
                await loop.run_in_executor(self.db, self.outbox.record, conversation_id, kind)
            except Exception:
                self.unstored.insert(0, (conversation_id, kind))
                break
        alerts = await loop.run_in_executor(self.db, self.outbox.claim_due, self.timeout_s * 4)
        sent = 0
        for alert in alerts:
            sent += await self._deliver(session, alert)
        return sent

    async def _deliver(self, session: aiohttp.ClientSession, alert: Alert) -> int:
        loop = asyncio.get_running_loop()
        if not self.webhook_url:
            logger.warning("CRISIS ALERT: conversation %s, kind %s (no ALERT_WEBHOOK_URL set: this line is the alert)",
                           alert.conversation_id, alert.kind)
            await loop.run_in_executor(self.db, self.outbox.mark_sent, alert.id, LOGGED)
            return 1
        try:
            async with session.post(self.webhook_url, json=alert.payload()) as resp:
                if not 200 <= resp.status < 300:
                    raise OSError(f"webhook answered {resp.status}")
        except Exception as e:
            wait = backoff_s(alert.attempts, self.retry_max_s)
            error = f"{type(e).__name__}: {e}"[:200]
            logger.warning("crisis alert for conversation %s not delivered (%s); retry in %.0f s",
                           alert.conversation_id, error, wait)
            await loop.run_in_executor(self.db, self.outbox.mark_failed, alert.id, error, wait)
            return 0
        await loop.run_in_executor(self.db, self.outbox.mark_sent, alert.id, DELIVERED)
        logger.info("crisis alert delivered for conversation %s", alert.conversation_id)
        return 1

    async def stop(self) -> None:
        """Stops the loop (pending alerts stay stored for the next start)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self.db.shutdown(wait=True)
