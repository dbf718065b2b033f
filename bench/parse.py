"""What the NLU pipeline costs per message, in process: load time, memory and parse latency.

    python -m bench.parse [--model models/current.tar.gz] [--rounds 3]

Loads the model with Rasa's ``Agent`` (the process's memory before and after), parses the
development cases' messages ``rounds`` times (``processor.parse_message``, one at a time, the
same calls the server makes for each turn) and prints the load time with the first parse, the
memory the model added and the parse latency's p50 and p95. Then the same for each short message
(``context_words`` or fewer) sent with the message before it as ``previous_text`` metadata, as the
channels send it: the crisis classifier reads such a message twice (alone and after the previous
one), so these parses cost one more sentence embedding. Nothing else should run meanwhile.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import statistics
import time
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

from bench.settings import DEV_CASES, ROOT


def rss_mb() -> float:
    """The process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: List[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def context_pairs(texts: List[str], max_words: int = 12) -> List[Tuple[str, str]]:
    """(previous message, message) for each message of at most ``max_words`` words after one with words."""
    return [(previous, text) for previous, text in zip(texts, texts[1:])
            if previous.strip() and 0 < len(text.split()) <= max_words]


def latency_figures(prefix: str, latencies: List[float]) -> Dict[str, float]:
    """p50, p95 and mean of ``latencies`` (ms), under keys that start with ``prefix``."""
    return {f"{prefix}_p50_ms": round(percentile(latencies, 50), 2),
            f"{prefix}_p95_ms": round(percentile(latencies, 95), 2),
            f"{prefix}_mean_ms": round(statistics.fmean(latencies), 2)}


async def measure(model: Path, texts: List[str], rounds: int) -> Dict[str, float]:
    """Load time with the first parse (s), memory added (MiB), parse p50/p95/mean (ms), alone and in context."""
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage

    from bot.channels.context import PREVIOUS_TEXT

    before = rss_mb()
    start = time.perf_counter()
    agent = Agent.load(str(model))
    await agent.processor.parse_message(UserMessage(texts[0]))
    loaded = time.perf_counter() - start
    added = rss_mb() - before
    latencies = []
    for _ in range(rounds):
        for text in texts:
            t0 = time.perf_counter()
            await agent.processor.parse_message(UserMessage(text))
            latencies.append((time.perf_counter() - t0) * 1000)
    pairs = context_pairs(texts)
    in_context = []
    for _ in range(rounds):
        for previous, text in pairs:
            t0 = time.perf_counter()
            await agent.processor.parse_message(UserMessage(text, metadata={PREVIOUS_TEXT: previous}))
            in_context.append((time.perf_counter() - t0) * 1000)
    return {"load_and_first_parse_s": round(loaded, 2), "rss_added_mb": round(added),
            **latency_figures("parse", latencies), "parses": len(latencies),
            **latency_figures("context_parse", in_context), "context_parses": len(in_context)}


def main(argv: List[str] | None = None) -> None:
    """Prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "current.tar.gz")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from rasa.utils.log_utils import configure_structlog

    logging.disable(logging.WARNING)
    configure_structlog(logging.WARNING)  # Rasa's structured debug lines (every parse) go to stdout otherwise
    texts = [case["text"] for case in yaml.safe_load(DEV_CASES.read_text(encoding="utf-8"))]
    for key, value in asyncio.run(measure(args.model, texts, args.rounds)).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
