"""Load generator: concurrent REST clients posting realistic messages, with latencies recorded.

Each client is its own HTTP connection (aiohttp session, keep-alive) and its own visitor:
it starts a new sender id every ``SESSION_MESSAGES`` messages, so conversations stay as short
as real ones and no tracker grows without bound. Clients take the next message of a fixed
list in turn until the level's request count or time budget is used up.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Dict, List

import aiohttp
import yaml

from bench.settings import DEV_CASES

SESSION_MESSAGES = 8


def load_messages() -> List[str]:
    """The fixed, bounded message list: the texts of the shared dev cases, in file order."""
    cases = yaml.safe_load(DEV_CASES.read_text(encoding="utf-8"))
    return [str(c["text"]) for c in cases if str(c.get("text", "")).strip()]


@dataclass
class LevelResult:
    """What one concurrency level measured."""

    concurrency: int
    latencies_s: List[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: Dict[str, int] = field(default_factory=dict)
    empty_replies: int = 0
    wall_s: float = 0.0
    stopped_by_time: bool = False

    def error(self, kind: str) -> None:
        """Counts one failed request."""
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


async def _run_level(url: str, messages: List[str], concurrency: int, total: int, budget_s: float,
                     timeout_s: float, tag: str) -> LevelResult:
    result = LevelResult(concurrency)
    run_id = uuid.uuid4().hex[:8]
    state = {"next": 0}
    start = time.perf_counter()
    deadline = start + budget_s

    async def client(i: int) -> None:
        sent = 0
        sender = ""
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                if state["next"] >= total:
                    return
                if time.perf_counter() >= deadline:
                    result.stopped_by_time = True
                    return
                index = state["next"]
                state["next"] += 1
                if sent % SESSION_MESSAGES == 0:
                    sender = f"bench-{tag}-c{concurrency}-w{i}-s{sent // SESSION_MESSAGES}-{run_id}"
                sent += 1
                text = messages[(index + i * 7) % len(messages)]
                t0 = time.perf_counter()
                try:
                    async with session.post(url, json={"sender": sender, "message": text}) as resp:
                        body = await resp.read()
                        elapsed = time.perf_counter() - t0
                        if resp.status != 200:
                            result.error(f"http {resp.status}")
                            continue
                        reply = json.loads(body.decode() or "null")
                        if not isinstance(reply, list):
                            result.error("not a JSON list")
                            continue
                        if not reply:
                            result.empty_replies += 1
                        result.latencies_s.append(elapsed)
                except asyncio.TimeoutError:
                    result.error("timeout")
                except (aiohttp.ClientError, ValueError, OSError) as e:
                    result.error(type(e).__name__)

    await asyncio.gather(*(client(i) for i in range(concurrency)))
    result.wall_s = time.perf_counter() - start
    return result


def run_level(url: str, messages: List[str], concurrency: int, total: int, budget_s: float,
              timeout_s: float, tag: str) -> LevelResult:
    """Sends up to ``total`` messages with ``concurrency`` clients within ``budget_s`` seconds.

    In-flight requests finish (each within ``timeout_s``) after the budget runs out.
    """
    return asyncio.run(_run_level(url, messages, concurrency, total, budget_s, timeout_s, tag))


def warm_up(url: str, messages: List[str], count: int, timeout_s: float) -> None:
    """A few sequential requests before measuring (lazy imports, first-call caches)."""
    if count > 0:
        run_level(url, messages, 1, count, 60.0, timeout_s, "warmup")
