"""The atomic Redis lock store, against a real redis-server: one holder at a time across processes,
FIFO order, a dead or stuck holder's lock expires, and Redis down or hung costs seconds, not a hang."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Iterator, List

import pytest
import redis
from rasa.core.lock_store import LockStore
from rasa.utils.endpoints import EndpointConfig

from bot.settings import ROOT
from bot.store.lock_store import AtomicRedisLockStore
from tests.services import RedisServer, require


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A throwaway redis-server for this module (fails, never skips, under CI=true)."""
    require("redis-server")
    server = RedisServer()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def name() -> str:
    """A conversation id of its own for each test."""
    return "conv-" + uuid.uuid4().hex[:12]


def _worker(server: RedisServer, *args: str) -> subprocess.Popen:
    env = {**os.environ, "LOCK_TEST_REDIS_URL": server.url, "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    return subprocess.Popen([sys.executable, "-m", "tests.store.lock_worker", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _run_counters(server: RedisServer, name: str, kind: str, times: int = 40, workers: int = 2) -> List[str]:
    """``workers`` processes increment one counter under the lock; returns the enter/exit log."""
    r = redis.Redis.from_url(server.url)
    procs = [_worker(server, "count", name, str(times), kind) for _ in range(workers)]
    try:
        deadline = time.monotonic() + 120
        while int(r.get(f"{name}:ready") or 0) < workers:  # all imported and connected: start together
            assert time.monotonic() < deadline, [p.poll() for p in procs]
            assert all(p.poll() is None for p in procs), [p.communicate()[0][-2000:] for p in procs]
            time.sleep(0.05)
        r.set(f"{name}:go", 1)
        for p in procs:
            out, _ = p.communicate(timeout=120)
            assert p.returncode == 0, out.decode(errors="replace")[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
    assert int(r.get(f"{name}:counter") or 0) <= times * workers
    return [x.decode() for x in r.lrange(f"{name}:log", 0, -1)]


def _interleaved(log: List[str]) -> bool:
    """Whether two processes were inside the lock at once (an enter not followed by its own exit)."""
    return any(not (a.startswith("enter") and b == "exit" + a[len("enter"):]) for a, b in zip(log[::2], log[1::2]))


def test_one_holder_at_a_time_across_processes(redis_server, name):
    log = _run_counters(redis_server, name, "atomic")
    r = redis.Redis.from_url(redis_server.url)
    assert int(r.get(f"{name}:counter")) == 80  # no update lost
    assert len(log) == 160 and not _interleaved(log)
    assert len({entry.split()[1] for entry in log}) == 2  # both processes did take turns
    assert not r.keys(f"lock:{{{name}}}*")  # nothing left behind


def test_the_control_without_a_shared_lock_does_lose_updates(redis_server, name):
    """The same run with each process's own in-memory lock (Rasa's default): the test above can fail."""
    log = _run_counters(redis_server, name, "memory")
    r = redis.Redis.from_url(redis_server.url)
    assert _interleaved(log) or int(r.get(f"{name}:counter")) < 80


async def test_messages_are_served_in_arrival_order(redis_server, name):
    servers = [AtomicRedisLockStore(url=redis_server.url) for _ in range(6)]  # one store per "server"
    order: List[int] = []
    release = asyncio.Event()

    async def message(i: int) -> None:
        async with servers[i].lock(name):
            if i == 0:
                await release.wait()
            order.append(i)

    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(message(i)))
        await asyncio.sleep(0.05)  # message i reaches Redis before message i + 1
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert order == [0, 1, 2, 3, 4, 5]
    for store in servers:
        await store.aclose()


async def test_a_killed_holders_lock_expires_after_its_lease(redis_server, name):
    holder = _worker(redis_server, "hold", name, "1.5")
    r = redis.Redis.from_url(redis_server.url)
    store = AtomicRedisLockStore(url=redis_server.url, lease_s=1.5)
    try:
        deadline = time.monotonic() + 120
        while not r.exists(f"{name}:held"):
            assert holder.poll() is None and time.monotonic() < deadline, holder.communicate()[0][-2000:]
            await asyncio.sleep(0.05)
        with pytest.raises(asyncio.TimeoutError):  # alive, it renews its lease: nobody else gets in
            await asyncio.wait_for(_take(store, name), 3.5)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        started = time.monotonic()
        await asyncio.wait_for(_take(store, name), 5)
        assert time.monotonic() - started < 1.5 + 1.0
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait()
        await store.aclose()


async def _take(store: AtomicRedisLockStore, name: str) -> None:
    async with store.lock(name):
        pass


async def test_a_stuck_holder_gives_up_after_the_lock_lifetime(redis_server, name, caplog):
    stuck, other = AtomicRedisLockStore(url=redis_server.url, lease_s=0.6), AtomicRedisLockStore(url=redis_server.url)
    entered = asyncio.Event()

    async def never_done() -> None:
        async with stuck.lock(name, lock_lifetime=1.0):
            entered.set()
            await asyncio.sleep(30)

    holder = asyncio.create_task(never_done())
    try:
        await entered.wait()
        started = time.monotonic()
        await asyncio.wait_for(_take(other, name), 5)
        assert 0.8 < time.monotonic() - started < 1.0 + 0.6 + 1.0
        assert "held its lock longer than" in caplog.text
    finally:
        holder.cancel()
        await asyncio.gather(holder, return_exceptions=True)
        await stuck.aclose()
        await other.aclose()


async def test_a_waiter_that_goes_away_leaves_the_queue(redis_server, name):
    holder, waiter, next_one = (AtomicRedisLockStore(url=redis_server.url, lease_s=3.0) for _ in range(3))
    release, entered = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with holder.lock(name):
            entered.set()
            await release.wait()

    holding = asyncio.create_task(hold())
    await entered.wait()
    gone = asyncio.create_task(_take(waiter, name))  # queued behind the holder...
    await asyncio.sleep(0.2)
    gone.cancel()  # ...then cancelled (the visitor's request was dropped)
    await asyncio.gather(gone, return_exceptions=True)
    release.set()
    await holding
    started = time.monotonic()
    await asyncio.wait_for(_take(next_one, name), 5)
    assert time.monotonic() - started < 1.0  # not held up for a lease by the cancelled ticket
    for store in (holder, waiter, next_one):
        await store.aclose()


async def test_release_removes_only_its_own_ticket(redis_server, name):
    store = AtomicRedisLockStore(url=redis_server.url, lease_s=0.3)
    late = await store._acquire(name)
    assert late is not None
    await asyncio.sleep(0.5)  # its lease ran out (no renewal): the next one takes the lock
    current = await store._acquire(name)
    assert current is not None
    await store._release(name, late)  # the stale owner's release...
    assert await store._run("renew", name, current, 300, 900) == 1  # ...leaves the current holder's
    await store._release(name, current)
    await store.aclose()


async def test_redis_down_costs_seconds_and_says_so(redis_server, name, caplog):
    store = AtomicRedisLockStore(url=redis_server.url, retry_after_s=1.0)
    await _take(store, name)
    redis_server.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="bot.store.lock_store"):
            started = time.monotonic()
            await asyncio.wait_for(_take(store, name), 10)
            assert time.monotonic() - started < 3
            assert any(r.levelno == logging.ERROR and "without the cross-server lock" in r.getMessage()
                       for r in caplog.records)
            assert store.degraded
            started = time.monotonic()
            await _take(store, name)  # no second wait while Redis is known to be away
            assert time.monotonic() - started < 0.1
            inside: List[int] = []

            async def one(i: int) -> None:  # this server's own lock still holds
                async with store.lock(name):
                    inside.append(i)
                    assert len(inside) == 1
                    await asyncio.sleep(0.05)
                    inside.remove(i)

            await asyncio.gather(*(one(i) for i in range(4)))
    finally:
        redis_server.start()
    await asyncio.sleep(1.1)
    with caplog.at_level(logging.WARNING, logger="bot.store.lock_store"):
        await _take(store, name)
    assert not store.degraded and "is back" in caplog.text
    await store.aclose()


async def test_redis_hung_costs_seconds_not_a_hang(redis_server, name, caplog):
    store = AtomicRedisLockStore(url=redis_server.url, timeout_s=1.0)
    await _take(store, name)  # connected before the hang
    redis_server.pause()
    try:
        started = time.monotonic()
        await asyncio.wait_for(_take(store, name), 10)
        assert time.monotonic() - started < 3.5
        assert "without the cross-server lock" in caplog.text
    finally:
        redis_server.resume()
    await store.aclose()


def test_made_by_rasa_from_the_endpoints_file(redis_server):
    config = EndpointConfig(url=redis_server.url, type="bot.store.lock_store.AtomicRedisLockStore",
                            lease_s=2.5, key_prefix="cluster")
    store = LockStore.create(config)
    assert isinstance(store, AtomicRedisLockStore)
    assert (store.lease_s, store.key_prefix) == (2.5, "cluster")
    with pytest.raises(ValueError, match="redis://"):
        AtomicRedisLockStore(url="http://127.0.0.1:1/")
