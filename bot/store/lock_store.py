"""Rasa's lock store on Redis, atomic across servers: one conversation's messages run one at a time, in order.

Rasa (``rasa/core/lock_store.py``) serialises a conversation's messages with a ticket lock:
``agent.handle_message`` and the processor wrap each message in ``async with
lock_store.lock(sender_id)``. Its ``RedisLockStore`` reads the lock as JSON, changes it in
Python and writes it back: two servers can issue the same ticket and both process a
message of the same conversation at once (RasaHQ/rasa#9213, #11256). This store keeps
Rasa's interface (``lock()``) but makes every step one atomic Lua script on Redis:

* **A FIFO ticket queue per conversation**: a sorted set of tickets scored by an ``INCR``
  counter; the head of the queue holds the lock; the others poll (5 ms, doubling to 100 ms)
  until they are the head. Messages are processed in the order they reached Redis.
* **Leases, not lifetimes**: every ticket expires ``lease_s`` after its owner last showed
  it is alive (a waiter at each poll, the holder every ``lease_s / 3`` from a background
  task), by Redis's own clock. A server killed while holding or waiting gives the lock up
  within ``lease_s``, instead of Rasa's 60 s. A holder stops renewing after Rasa's
  ``lock_lifetime`` (60 s), so a hung turn cannot block its conversation for ever.
* **Release is compare-and-delete**: a server removes only its own ticket.
* **Within one server**, a per-conversation ``asyncio.Lock`` (FIFO) is taken first, so a
  server's own messages never depend on Redis for their order.

**When Redis is down or hung** (the choice made here): every Redis call is bounded by
``timeout_s`` (connect and read, 1 s by default); on failure the store logs one ERROR
("processing messages without the cross-server lock") and, for ``retry_after_s``, does not
ask Redis at all: messages are processed under the server's own lock only. A visitor,
and above all one in danger, gets an answer within a second or two instead of a hang or a
500; what is lost while Redis is away is only the cross-server guarantee, which matters
only if one conversation's messages reach two servers at the same moment (nginx routes a
conversation to one server, ``deploy/README.md``). A WARNING says when Redis is back. A
message that waited ``max_wait_s`` for the lock is processed without it, with an ERROR.

Configured in the endpoints file (``lock_store: {type: bot.store.lock_store.AtomicRedisLockStore,
url: redis://:password@host:port/0}``); ``bot/cluster.py`` writes it.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncGenerator, Dict, Set
from urllib.parse import urlparse

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockStore

logger = logging.getLogger(__name__)

# KEYS: queue (zset ticket -> number), expiries (zset ticket -> ms), counter. ARGV: ticket, lease ms,
# enqueue (1: join the queue if absent), key ttl ms. Returns 1 (holds the lock), 0 (waits), -1 (not queued).
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, ticket in ipairs(expired) do
  redis.call('ZREM', KEYS[1], ticket)
  redis.call('ZREM', KEYS[2], ticket)
end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if ARGV[3] ~= '1' then return -1 end
  redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[3]), ARGV[1])
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
if redis.call('ZRANGE', KEYS[1], 0, 0)[1] == ARGV[1] then return 1 end
return 0
"""

# Same keys; ARGV: ticket, lease ms, key ttl ms. Returns 1 if the ticket still holds the lock (lease extended).
RENEW = """
if redis.call('ZRANGE', KEYS[1], 0, 0)[1] ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
return 1
"""

# Same keys; ARGV: ticket. Removes only this ticket (compare-and-delete); the keys go with the last one.
RELEASE = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) end
return removed
"""

POLL_FIRST_S = 0.005
POLL_MAX_S = 0.1


def _errors() -> tuple:
    """What a Redis call raises when Redis is down, hung or refuses (imported late: no I/O at import)."""
    from redis.exceptions import RedisError

    return (RedisError, OSError, asyncio.TimeoutError)


def _reason(error: BaseException) -> str:
    """One line for the log (never a password: redis-py's messages carry host and port only)."""
    if isinstance(error, asyncio.TimeoutError):
        return "no answer in time"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}"


def _where(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.hostname or '?'}:{parsed.port or 6379}"


@dataclass
class _Local:
    """A server's own FIFO lock for one conversation, and how many tasks use it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class AtomicRedisLockStore(LockStore):
    """Rasa's ``LockStore`` with atomic, leased FIFO tickets on Redis (Lua scripts)."""

    def __init__(self, endpoint_config: Any = None, *, url: str | None = None, key_prefix: str = "lock",
                 lease_s: float = 6.0, timeout_s: float = 1.0, retry_after_s: float = 5.0,
                 max_wait_s: float | None = None) -> None:
        """From Rasa's endpoint config (``url`` and the keyword arguments below as extra keys) or keywords.

        ``lease_s``: a silent owner's ticket expires after this; ``timeout_s``: longest wait for one
        Redis call; ``retry_after_s``: Redis is not asked again for this long after a failure;
        ``max_wait_s``: longest wait in the queue (default: Rasa's lock lifetime plus a lease).
        """
        options: Dict[str, Any] = dict(getattr(endpoint_config, "kwargs", None) or {})
        self.url = str(url or getattr(endpoint_config, "url", None) or options.pop("url", "") or "")
        if not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"lock store: url must be redis://[:password@]host:port/db, not {self.url[:40]!r}")
        self.key_prefix = str(options.get("key_prefix", key_prefix))
        self.lease_s = float(options.get("lease_s", lease_s))
        self.timeout_s = float(options.get("timeout_s", timeout_s))
        self.retry_after_s = float(options.get("retry_after_s", retry_after_s))
        wait = options.get("max_wait_s", max_wait_s)
        self.max_wait_s = float(wait) if wait is not None else float(LOCK_LIFETIME) + self.lease_s
        if min(self.lease_s, self.timeout_s, self.retry_after_s, self.max_wait_s) <= 0:
            raise ValueError("lock store: lease_s, timeout_s, retry_after_s and max_wait_s must be > 0")
        self._clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = weakref.WeakKeyDictionary()
        self._local: Dict[str, _Local] = {}
        self._background: Set["asyncio.Future[None]"] = set()
        self._down_until = 0.0
        self._down = False

    # -- Redis -------------------------------------------------------------------------------

    def _client(self) -> Any:
        """The Redis client of the running event loop (redis.asyncio connections belong to one loop)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            import redis.asyncio as aioredis

            client = aioredis.from_url(self.url, socket_timeout=self.timeout_s,
                                       socket_connect_timeout=self.timeout_s, retry_on_timeout=False)
            client.lock_scripts = {name: client.register_script(src)
                                   for name, src in (("acquire", ACQUIRE), ("renew", RENEW), ("release", RELEASE))}
            self._clients[loop] = client
        return client

    def _keys(self, conversation_id: str) -> list:
        base = f"{self.key_prefix}:{{{conversation_id}}}"  # one hash slot per conversation (Redis Cluster)
        return [f"{base}:queue", f"{base}:expires", f"{base}:counter"]

    async def _run(self, script: str, conversation_id: str, *args: Any) -> int:
        """Runs one script, bounded by ``timeout_s`` overall (connect, send, read, and a NOSCRIPT retry)."""
        call = self._client().lock_scripts[script](keys=self._keys(conversation_id), args=list(args))
        return int(await asyncio.wait_for(call, self.timeout_s * 2))

    def _answered(self) -> None:
        """Redis answered a lock request: if it had failed, say it is back."""
        if self._down:
            self._down = False
            logger.warning("Lock store: Redis at %s is back; conversations are locked across servers again.",
                           _where(self.url))

    def _failed(self, what: str, error: BaseException) -> None:
        self._down_until = time.monotonic() + self.retry_after_s
        if not self._down:
            self._down = True
            logger.error("Lock store: Redis at %s failed while %s (%s); processing messages without the "
                         "cross-server lock (this server's own lock only), asking Redis again every %.0f s.",
                         _where(self.url), what, _reason(error), self.retry_after_s)

    @property
    def degraded(self) -> bool:
        """True while Redis is considered away (messages locked by this server only)."""
        return self._down

    def _lease_ms(self) -> int:
        return max(1, int(self.lease_s * 1000))

    def _key_ttl_ms(self) -> int:
        return self._lease_ms() * 3

    # -- Rasa's LockStore interface ---------------------------------------------------------

    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        """Holds the conversation's lock for the ``async with`` block (Rasa's call).

        ``lock_lifetime``: longest hold (the lease is no longer renewed after it);
        ``wait_time_in_seconds`` is Rasa's fixed poll interval, not used (this store polls faster).
        """
        async with self._local_lock(conversation_id):
            ticket = await self._acquire(conversation_id)
            renewing = None
            if ticket is not None:
                renewing = asyncio.ensure_future(self._renew(conversation_id, ticket, float(lock_lifetime)))
            try:
                yield TicketLock(conversation_id)
            finally:
                if renewing is not None:
                    renewing.cancel()
                if ticket is not None:
                    await self._release(conversation_id, ticket)

    @asynccontextmanager
    async def _local_lock(self, conversation_id: str) -> AsyncGenerator[None, None]:
        local = self._local.setdefault(conversation_id, _Local())
        local.users += 1
        try:
            async with local.lock:
                yield
        finally:
            local.users -= 1
            if local.users == 0:
                self._local.pop(conversation_id, None)

    async def _acquire(self, conversation_id: str) -> str | None:
        """Waits for the head of the queue; the ticket, or None to go on without the cross-server lock.

        A ticket whose fate is unknown (Redis failed mid-call) or whose waiter is cancelled (the
        visitor went away) is withdrawn, so that it does not hold up the conversation for a lease.
        """
        if time.monotonic() < self._down_until:
            return None
        ticket = uuid.uuid4().hex
        deadline = time.monotonic() + self.max_wait_s
        delay, enqueue = POLL_FIRST_S, "1"
        try:
            while True:
                try:
                    state = await self._run("acquire", conversation_id, ticket, self._lease_ms(), enqueue,
                                            self._key_ttl_ms())
                except _errors() as error:
                    self._failed("taking a conversation's lock", error)
                    withdraw = asyncio.ensure_future(self._release(conversation_id, ticket, quiet=True))
                    self._background.add(withdraw)  # keep a reference until it is done
                    withdraw.add_done_callback(self._background.discard)
                    return None
                self._answered()
                if state == 1:
                    return ticket
                if state == -1:  # our ticket expired (this server stalled longer than a lease): queue again
                    logger.warning("Lock store: conversation %s lost its place in the queue; queuing again.",
                                   conversation_id)
                enqueue = "1" if state == -1 else "0"
                if time.monotonic() >= deadline:
                    logger.error("Lock store: conversation %s waited %.0f s for its lock; processing the message "
                                 "without it.", conversation_id, self.max_wait_s)
                    await self._release(conversation_id, ticket)
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, POLL_MAX_S)
        except asyncio.CancelledError:
            await asyncio.shield(self._release(conversation_id, ticket, quiet=True))
            raise

    async def _renew(self, conversation_id: str, ticket: str, hold_s: float) -> None:
        """Extends the holder's lease every third of it, for at most ``hold_s``."""
        end = time.monotonic() + hold_s
        while time.monotonic() + self.lease_s / 3 < end:
            await asyncio.sleep(self.lease_s / 3)
            try:
                if not await self._run("renew", conversation_id, ticket, self._lease_ms(), self._key_ttl_ms()):
                    logger.error("Lock store: the lock of conversation %s expired while held (this server "
                                 "stalled longer than %.1f s).", conversation_id, self.lease_s)
                    return
            except _errors() as error:
                self._failed("renewing a conversation's lock", error)
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        logger.error("Lock store: conversation %s held its lock longer than %.0f s; it is no longer renewed.",
                     conversation_id, hold_s)

    async def _release(self, conversation_id: str, ticket: str, quiet: bool = False) -> None:
        try:
            await self._run("release", conversation_id, ticket)
        except _errors() as error:  # the lease frees it within lease_s anyway
            if not quiet:
                logger.warning("Lock store: releasing the lock of conversation %s failed (%s); it expires within "
                               "%.1f s.", conversation_id, _reason(error), self.lease_s)

    async def aclose(self) -> None:
        """Closes the running loop's Redis connections (tests and tools; a server just exits)."""
        if self._background:  # withdrawals in flight: each is bounded by the call timeout
            await asyncio.gather(*self._background, return_exceptions=True)
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.close(close_connection_pool=True)

    # Rasa's ticket-lock primitives: not used, lock() above does everything atomically.
    def get_lock(self, conversation_id: str) -> TicketLock | None:
        """Not used: the queue lives in Redis and is read by the Lua scripts only."""
        return None

    def delete_lock(self, conversation_id: str) -> None:
        """Not used (see :meth:`get_lock`)."""

    def save_lock(self, lock: TicketLock) -> None:
        """Not used (see :meth:`get_lock`)."""
