"""What the durable conversation store costs per turn: ``python -m bench.store [--turns N]``.

One turn is what Rasa does with the store for each message: retrieve the tracker, add a
visitor message and a reply, save. Measured in-process against Rasa's in-memory store and the
project's store on a throw-away SQLite file (40 conversations, turns interleaved), so the
numbers are the store's own, without HTTP or the NLU. The target (issue 11): a few
milliseconds at p50.
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any, List

from rasa.core.tracker_store import InMemoryTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

from bot.settings import ROOT
from bot.store.tracker_store import DurableTrackerStore


async def _turn(store: TrackerStore, sender: str, i: int) -> float:
    started = time.perf_counter()
    tracker = await store.retrieve(sender) or store.init_tracker(sender)
    tracker.update(UserUttered(f"question {i}", {"name": "faq", "confidence": 0.9}))
    tracker.update(ActionExecuted("utter_faq"))
    tracker.update(BotUttered(f"answer {i}"))
    tracker.update(ActionExecuted("action_listen"))
    await store.save(tracker)
    return time.perf_counter() - started


async def _measure(store: TrackerStore, turns: int) -> List[float]:
    return sorted([await _turn(store, f"conversation-{i % 40}", i) for i in range(turns)])


def _line(name: str, latencies: List[float]) -> str:
    def at(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000

    return f"{name:8} p50 {at(0.5):6.2f} ms   p95 {at(0.95):6.2f} ms   p99 {at(0.99):6.2f} ms"


def main(argv: Any = None) -> int:
    """Prints p50/p95/p99 per turn for the in-memory and the SQLite store."""
    ap = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__)
    ap.add_argument("--turns", type=int, default=400)
    args = ap.parse_args(argv)
    domain = Domain.load(str(ROOT / "domain.yml"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    durable = DurableTrackerStore(domain, url=f"sqlite:///{tmp / 'assistant.db'}", spool_path=tmp / "spool")
    try:
        for name, store in (("memory", InMemoryTrackerStore(domain)), ("sqlite", durable)):
            print(_line(name, asyncio.run(_measure(store, args.turns))), flush=True)
    finally:
        durable.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
