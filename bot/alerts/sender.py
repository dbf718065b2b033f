"""Delivers stored alerts to the staff webhook: total timeout, retries with backoff, once each."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Tuple

import aiohttp

from bot.store.alerts import DELIVERED, LOGGED, Alert, AlertOutbox
from bot.store.spool import Spool

logger = logging.getLogger(__name__)


def backoff_s(attempts: int, maximum: float, first: float = 2.0) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: doubling up to ``maximum``."""
    return min(maximum, first * 2 ** max(0, attempts))


class AlertSender:
    """A background task on the server's event loop that empties the outbox."""

    MAX_PER_ROUND = 50

    def __init__(self, outbox: AlertOutbox, webhook_url: str, timeout_s: float, retry_max_s: float,
                 poll_s: float = 1.0, spool: Spool | None = None) -> None:
        self.outbox, self.webhook_url = outbox, webhook_url
        self.timeout_s, self.retry_max_s, self.poll_s = timeout_s, retry_max_s, poll_s
        self.db = ThreadPoolExecutor(1, thread_name_prefix="alerts-db")  # the event loop never waits on the database
        self.spool = spool or Spool()  # flagged alerts not yet in the database
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False

    def start(self) -> None:
        """Starts the delivery loop on the running event loop."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def unstored(self) -> List[Tuple[str, str]]:
        """(conversation, kind) of the alerts in the spool that the database does not have yet."""
        return [(e["conversation_id"], e["kind"]) for e in self.spool.pending()]

    def flag(self, conversation_id: str, kind: str) -> None:
        """Records an alert durably in the spool at once (before the reply leaves), then in the database off the
        event loop; wakes the sender. If the database fails, the spool keeps it until the database is back."""
        entry = {"id": uuid.uuid4().hex, "conversation_id": conversation_id, "kind": kind, "flagged_at": time.time()}
        try:
            self.spool.append(entry)
        except OSError as e:  # the disk failed: the database is the only record left
            logger.error("alert spool not writable (%s)", type(e).__name__)
        future = asyncio.get_running_loop().run_in_executor(self.db, self._store, entry)
        future.add_done_callback(lambda _: self.wake())

    def _store(self, entry: Dict[str, Any]) -> bool:
        """Moves one spooled alert into the database; False (and it stays spooled) if the database fails.

        Runs on the one database thread only, so a replay never races the first attempt.
        """
        if entry["id"] not in {e.get("id") for e in self.spool.pending()}:
            return True  # already moved
        try:
            self.outbox.record(entry["conversation_id"], entry["kind"], now=entry["flagged_at"], alert_id=entry["id"])
        except Exception as e:
            logger.error("alert for conversation %s could not be stored (%s); kept in the spool until the database "
                         "is back", entry["conversation_id"], type(e).__name__)
            return False
        self.spool.remove([entry["id"]])
        return True

    def wake(self) -> None:
        """Makes the loop look at the outbox now."""
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)  # DNS, connect, send and read together
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._stopping:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()
                if self._stopping:
                    break
                try:
                    await self.deliver_due(session)
                except Exception as e:  # never let the loop die
                    logger.error("alert sender: %s: %s", type(e).__name__, e)

    async def deliver_due(self, session: aiohttp.ClientSession) -> int:
        """Stores what was kept in memory, then delivers every due alert; returns how many were sent."""
        loop = asyncio.get_running_loop()
        for entry in self.spool.pending():  # alerts the database missed (down, or before a restart)
            if not await loop.run_in_executor(self.db, self._store, entry):
                break
        sent = 0
        for _ in range(self.MAX_PER_ROUND):  # one claim per alert: its lease covers that one delivery only
            if self._stopping:
                break
            alerts = await loop.run_in_executor(self.db, self.outbox.claim_due, self.timeout_s * 4)
            if not alerts:
                break
            for alert in alerts:
                sent += await self._deliver(session, alert)
        return sent

    async def _deliver(self, session: aiohttp.ClientSession, alert: Alert) -> int:
        loop = asyncio.get_running_loop()
        if not self.webhook_url:
            logger.warning("%s: conversation %s, kind %s (no ALERT_WEBHOOK_URL set: this line is the alert)",
                           "CALLBACK REQUEST" if alert.kind == "callback" else "CRISIS ALERT",
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

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stops the loop after the delivery in progress (pending alerts stay stored for the next start)."""
        self._stopping = True
        self.wake()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_s)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                self._task.cancel()
        self.db.shutdown(wait=False)
