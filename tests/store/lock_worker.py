"""A separate process (another "server") that takes conversation locks, for tests/store/test_lock_store.py.

    LOCK_TEST_REDIS_URL=redis://... python -m tests.store.lock_worker count NAME N [atomic|memory]
    LOCK_TEST_REDIS_URL=redis://... python -m tests.store.lock_worker hold NAME LEASE_S

``count``: waits at a barrier (``NAME:go``), then N times: under the lock of conversation NAME,
logs enter/exit and increments ``NAME:counter`` by a read, a pause and a write (lost updates
show when two processes overlap). ``memory`` uses Rasa's in-process lock instead (the control).
``hold``: takes the lock, says so (``NAME:held``) and never lets it go.
"""
from __future__ import annotations

import asyncio
import os
import sys

import redis.asyncio as aioredis
from rasa.core.lock_store import InMemoryLockStore, LockStore

from bot.store.lock_store import AtomicRedisLockStore


async def count(url: str, name: str, times: int, kind: str) -> None:
    store: LockStore = AtomicRedisLockStore(url=url) if kind == "atomic" else InMemoryLockStore()
    r = aioredis.from_url(url)
    await r.incr(f"{name}:ready")
    while not await r.exists(f"{name}:go"):
        await asyncio.sleep(0.005)
    me = os.getpid()
    for _ in range(times):
        async with store.lock(name):
            await r.rpush(f"{name}:log", f"enter {me}")
            value = int(await r.get(f"{name}:counter") or 0)
            await asyncio.sleep(0.002)
            await r.set(f"{name}:counter", value + 1)
            await r.rpush(f"{name}:log", f"exit {me}")
    await r.close()


async def hold(url: str, name: str, lease_s: float) -> None:
    store = AtomicRedisLockStore(url=url, lease_s=lease_s)
    r = aioredis.from_url(url)
    async with store.lock(name):
        await r.set(f"{name}:held", os.getpid())
        await asyncio.sleep(3600)


def main(argv: list) -> None:
    mode, name, url = argv[0], argv[1], os.environ["LOCK_TEST_REDIS_URL"]  # the password: not on a command line
    if mode == "count":
        asyncio.run(count(url, name, int(argv[2]), argv[3] if len(argv) > 3 else "atomic"))
    else:
        asyncio.run(hold(url, name, float(argv[2])))


if __name__ == "__main__":
    main(sys.argv[1:])
