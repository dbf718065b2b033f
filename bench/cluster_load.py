"""Load generator for a cluster: many whole conversations at once, over REST and socket.io (asyncio).

Each simulated visitor is one conversation of ``turns`` messages, sent one after the other
(the next when the reply to the previous one has arrived), all conversations at once. Every
visitor connects from a loopback address of its own (127.0.x.y; Linux routes all of 127/8 to
this machine), so nginx sees separate clients, as on the web: its per-client rate limit
applies to each, and socket.io's stickiness by address spreads them over the servers.

A REST turn is answered when it gets a 200 with a non-empty list of messages; a failed attempt
(connection error, 5xx) is retried (``retries`` times, after a short pause), as a visitor
would press send again. A socket.io turn is answered by its first ``bot_uttered`` message;
the rest of the reply is awaited until ``quiet_s`` pass without a message. Latency is from
sending to the answer, retries included.

:func:`verify` then reads each conversation from the database
(:func:`bot.store.tracker_store.stored_events`): every message sent must be stored once, in
order, with nothing missing or extra.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Sequence

import aiohttp

from bench.report import percentile

WEBHOOK_PATH = "/webhooks/rest/webhook"
RETRY_PAUSE_S = 0.5


@dataclass
class Conversation:
    """One simulated visitor: what it will send, over which channel, from which address."""

    sender: str
    channel: str  # "rest" or "socketio"
    texts: List[str]
    source: str = "127.0.0.1"
    stored_id: str = ""  # the conversation id in the database (socket.io: the session id the server issued)
    answered: int = 0
    retries: int = 0
    errors: List[str] = field(default_factory=list)
    latencies_s: List[float] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every turn was answered."""
        return self.answered == len(self.texts)


@dataclass
class LoadResult:
    """What a run measured."""

    conversations: List[Conversation]
    wall_s: float

    @property
    def turns(self) -> int:
        """Turns answered."""
        return sum(c.answered for c in self.conversations)

    @property
    def unanswered(self) -> int:
        """Turns that got no answer, retries included."""
        return sum(len(c.texts) - c.answered for c in self.conversations)

    def latencies_s(self, channel: str | None = None) -> List[float]:
        """Every answered turn's latency, of one channel or all."""
        return [x for c in self.conversations if channel in (None, c.channel) for x in c.latencies_s]

    def summary(self) -> Dict[str, Any]:
        """Throughput, latency percentiles (ms) per channel and in all, retries and errors."""
        out: Dict[str, Any] = {
            "conversations": len(self.conversations), "turns_answered": self.turns, "unanswered": self.unanswered,
            "wall_s": round(self.wall_s, 2),
            "throughput_tps": round(self.turns / self.wall_s, 2) if self.wall_s > 0 else None,
            "retries": sum(c.retries for c in self.conversations),
            "errors": _count(e.split(":")[0] for c in self.conversations for e in c.errors),
        }
        for channel in (None, "rest", "socketio"):
            values = self.latencies_s(channel)
            if values:
                out[f"latency_ms_{channel or 'all'}"] = {f"p{p}": round((percentile(values, p) or 0) * 1000, 1)
                                                         for p in (50, 95, 99)}
        return out


def _count(items: Any) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def source_address(i: int) -> str:
    """The loopback address of visitor ``i`` (127.0.1.1, 127.0.1.2, ...; never 127.0.0.1)."""
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


def plan(messages: Sequence[str], conversations: int, turns: int, socketio: int = 0,
         tag: str = "") -> List[Conversation]:
    """``conversations`` visitors, the first ``socketio`` of them on socket.io; each sends ``turns``
    different messages (a window of ``messages`` starting at its own offset)."""
    if len(messages) < turns:
        raise ValueError(f"{turns} turns need at least as many messages, not {len(messages)}")
    run = tag or uuid.uuid4().hex[:8]
    out = []
    for i in range(conversations):
        texts = list(itertools.islice(itertools.cycle(messages), i * 7, i * 7 + turns))
        channel = "socketio" if i < socketio else "rest"
        out.append(Conversation(f"load-{run}-{i}", channel, texts, source_address(i)))
    return out


async def _rest(base_url: str, c: Conversation, timeout_s: float, retries: int, local: bool) -> None:
    connector = aiohttp.TCPConnector(limit=1, local_addr=(c.source, 0) if local else None)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        c.stored_id = c.sender
        for text in c.texts:
            started = time.perf_counter()
            for attempt in range(retries + 1):
                try:
                    async with session.post(base_url + WEBHOOK_PATH, json={"sender": c.sender, "message": text}) as r:
                        body = await r.read()
                        if r.status == 200 and isinstance(json.loads(body or b"null"), list) and body != b"[]":
                            c.answered += 1
                            c.latencies_s.append(time.perf_counter() - started)
                            break
                        c.errors.append(f"http {r.status}: {body[:200]!r}")
                        if r.status < 500:
                            break
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, OSError) as e:
                    c.errors.append(f"{type(e).__name__}: {str(e)[:200]}")
                if attempt < retries:
                    c.retries += 1
                    await asyncio.sleep(RETRY_PAUSE_S)


async def _socketio(base_url: str, c: Conversation, timeout_s: float, quiet_s: float, local: bool) -> None:
    import socketio

    connector = aiohttp.TCPConnector(local_addr=(c.source, 0) if local else None)
    async with aiohttp.ClientSession(connector=connector) as http:
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False, http_session=http)
        replies: asyncio.Queue = asyncio.Queue()
        confirmed: asyncio.Queue = asyncio.Queue()
        client.on("bot_uttered", lambda data: replies.put_nowait(data))
        client.on("session_confirm", lambda data: confirmed.put_nowait(data))
        try:
            # polling only: it needs the sticky routing; and python-engineio 4.15's websocket client needs
            # aiohttp 3.10 (ClientWSTimeout), newer than Rasa 3.6's pin (the browser's widget upgrades fine)
            await client.connect(base_url, socketio_path="/socket.io", transports=["polling"], wait_timeout=timeout_s)
            await client.emit("session_request", {"session_id": None})
            c.stored_id = str(await asyncio.wait_for(confirmed.get(), timeout_s))
            for text in c.texts:
                started = time.perf_counter()
                await client.emit("user_uttered", {"message": text, "session_id": c.stored_id})
                try:
                    await asyncio.wait_for(replies.get(), timeout_s)
                except asyncio.TimeoutError:
                    c.errors.append("socket.io: no reply in time")
                    continue
                c.answered += 1
                c.latencies_s.append(time.perf_counter() - started)
                while True:  # the rest of this turn's reply
                    try:
                        await asyncio.wait_for(replies.get(), quiet_s)
                    except asyncio.TimeoutError:
                        break
        except Exception as e:  # noqa: BLE001 - any failure is this conversation's, recorded, not the run's
            c.errors.append(f"socket.io {type(e).__name__}: {str(e)[:200]}")
        finally:
            await _close(client)


async def _close(client: Any) -> None:
    eio = client.eio
    tasks = [t for t in (eio.read_loop_task, eio.write_loop_task) if t is not None]
    try:
        if client.connected:
            await client.disconnect()
    except Exception:  # noqa: BLE001 - closing a client whose server is gone
        pass
    for task in tasks:
        if not task.done():
            task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5)


async def drive(base_url: str, conversations: List[Conversation], timeout_s: float = 60.0, retries: int = 2,
                quiet_s: float = 0.3, distinct_sources: bool = True,
                during: Callable[[], Any] | None = None) -> LoadResult:
    """Runs every conversation at once; ``during`` (if given) runs alongside (e.g. a fault to inject)."""
    started = time.perf_counter()
    jobs = [_rest(base_url, c, timeout_s, retries, distinct_sources) if c.channel == "rest"
            else _socketio(base_url, c, timeout_s, quiet_s, distinct_sources) for c in conversations]
    if during is not None:
        jobs.append(asyncio.to_thread(during))
    await asyncio.gather(*jobs)
    return LoadResult(conversations, time.perf_counter() - started)


def run(base_url: str, conversations: List[Conversation], **options: Any) -> LoadResult:
    """:func:`drive` in a new event loop."""
    return asyncio.run(drive(base_url, conversations, **options))


def verify(database_url: str, conversations: Sequence[Conversation]) -> List[str]:
    """What is wrong with the stored conversations: each sent message once, in order, nothing else.

    A message that answered the callback form is stored masked (``bot.store.callbacks.MASK``):
    it counts as the message sent at its place. A turn stored twice (e.g. by a server killed
    after storing it, then again where nginx retried it) is a problem like a missing one.
    """
    from bot.store.callbacks import MASK
    from bot.store.tracker_store import stored_events

    problems = []
    for c in conversations:
        if not c.stored_id:
            problems.append(f"{c.sender}: never got a conversation id")
            continue
        events = stored_events(database_url, c.stored_id)
        stored = [str(e.get("text")) for e in events if e.get("event") == "user"]
        if len(stored) != len(c.texts) or any(s not in (t, MASK) for s, t in zip(stored, c.texts)):
            at = _first_difference(stored, c.texts)
            order = [c.texts.index(s) if s in c.texts else s[:20] for s in stored]
            problems.append(f"{c.sender} ({c.channel}): stored {len(stored)} user turns of {len(c.texts)} sent; "
                            f"first difference at {at}; stored turns in the order: {order}")
        sessions = sum(e.get("event") == "session_started" for e in events)
        if sessions != 1:
            problems.append(f"{c.sender} ({c.channel}): {sessions} session starts (expected 1)")
    return problems


def _first_difference(stored: Sequence[str], sent: Sequence[str]) -> int:
    for i, (a, b) in enumerate(zip(stored, sent)):
        if a != b:
            return i
    return min(len(stored), len(sent))
