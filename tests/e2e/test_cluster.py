"""Two Rasa servers behind nginx on PostgreSQL and Redis (``bot.cluster``), under load and faults.

One cluster for the module (started as ``make run-cluster`` starts it, on free ports, with its
state in a temporary VAR_DIR), stopped by PID at the end, whatever happens. In order:

* the public channels' fuzz tests (tests/e2e/test_fuzz.py), through nginx;
* 50 conversations of 20 turns over REST and socket.io at once: every turn answered, every
  conversation stored complete and in order (``bench/cluster_load.py``);
* one conversation's messages sent to both servers at the same moment are processed one at a
  time (the Redis lock);
* nginx's limits: a body over MAX_BODY_BYTES and a client over the rate limit get a reply that
  carries the emergency number and the center's line;
* faults under load: the action servers stopped (emergencies still answered), Redis stopped
  (errors said, answers within seconds), PostgreSQL restarted (no turn lost), a Rasa server
  killed (its conversations go on, with their history, on the other);
* a model promoted (then rolled back) reaches both servers from the model server, without a
  restart, while every visitor's turn is answered.
"""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import shutil
import signal
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import aiohttp
import pytest

from bench import cluster_load
from bench.load import load_messages
from bot import facts
from bot import settings as settings_module
from bot.cluster import Cluster, Options
from bot.evaluation.replies import flatten, post_raw
from bot.launch import free_port
from bot.launch import http_ok as launch_http_ok
from bot.retrain.models import (
    HISTORY,
    MODEL_FILE,
    REFUSED,
    Entry,
    Registry,
    RegistryError,
    copy_atomically,
    new_id,
    sha256_file,
)
from bot.settings import ROOT
from bot.store.tracker_store import stored_events
from tests.e2e.test_fuzz import (  # noqa: F401 - collected here too: the same fuzzing, through nginx
    test_huge_and_deep_metadata_is_ignored,
    test_malformed_bytes_get_an_answer_or_a_4xx,
    test_odd_sender_ids_get_an_answer_or_a_4xx,
    test_random_json_bodies_get_an_answer_or_a_4xx,
    test_random_unicode_messages_are_answered,
    test_rest_lone_surrogates_are_answered,
    test_socketio_lone_surrogates_are_answered,
    test_socketio_random_events_do_not_break_the_server,
)
from tests.services import reachable_tmpdir, require

pytestmark = pytest.mark.model

LOG_DIR = ROOT / "results" / "logs" / "cluster"
EMERGENCY = "I took the whole bottle of my pills and I can't stay awake"
QUESTION = "does insurance cover detox?"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A 2-server cluster for the module (under CI=true, a missing nginx, Redis or PostgreSQL fails)."""
    require("nginx", "redis-server", "postgres")
    model = settings_module.Settings().model
    if not model.exists():
        pytest.fail(f"{model} is missing: run `make train` first")
    var = reachable_tmpdir("cluster-test-")
    env = {"PORT": free_port(), "WEB_PORT": free_port(), "STAFF_PORT": free_port(), "ACTIONS_PORT": free_port(),
           "MODEL_SERVER_PORT": free_port(), "VAR_DIR": var, "LOG_DIR": LOG_DIR, "ALERT_RETRY_MAX_S": 2}
    running = Cluster(settings_module.load({k: str(v) for k, v in env.items()}),
                      Options(replicas=2, rate_per_s=1000, burst=1000))
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(var, ignore_errors=True)


class ClusterAssistant:
    """The cluster seen as tests/e2e/test_fuzz.py's ``assistant``: its public side (nginx)."""

    class _All:
        def __init__(self, cluster: Cluster, prefix: str) -> None:
            self.cluster, self.prefix = cluster, prefix

        def alive(self) -> bool:
            return all(self.cluster.process(f"{self.prefix}-{i + 1}").alive()
                       for i in range(len(self.cluster.replicas)))

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.port = cluster.settings.port
        self.url = cluster.public_url + cluster_load.WEBHOOK_PATH
        self.rasa, self.actions = self._All(cluster, "rasa"), self._All(cluster, "actions")

    def send(self, message: Any, sender: str = "test", raw: bytes | None = None, timeout: float = 60):
        body = raw if raw is not None else json.dumps({"sender": sender, "message": message}).encode()
        return post_raw(self.url, body, timeout)


@pytest.fixture(scope="module")
def assistant(cluster) -> ClusterAssistant:
    """Overrides the single-server ``assistant`` of tests/conftest.py for the fuzz tests imported above."""
    return ClusterAssistant(cluster)


def _log_offsets(cluster: Cluster) -> Dict[str, int]:
    return {r.name: _size(LOG_DIR / f"{r.name}.log") for r in cluster.replicas}


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _logs_since(offsets: Dict[str, int]) -> str:
    out = []
    for name, offset in offsets.items():
        with open(LOG_DIR / f"{name}.log", "rb") as f:
            f.seek(offset)
            out.append(f.read().decode(errors="replace"))
    return "\n".join(out)


def _upstream_counts(cluster: Cluster, since: int) -> Dict[int, int]:
    """REST requests per Rasa server in nginx's access log, after byte ``since``."""
    with open(LOG_DIR / "nginx-access.log", "rb") as f:
        f.seek(since)
        lines = f.read().decode(errors="replace").splitlines()
    counts = {r.settings.port: 0 for r in cluster.replicas}
    for line in lines:
        for port in counts:
            if "/webhooks/rest/webhook 200" in line and f"upstream=127.0.0.1:{port}" in line:
                counts[port] += 1
    return counts


def _drive(cluster: Cluster, conversations: int, turns: int, socketio: int = 0,
           during: Callable[[], Any] | None = None) -> cluster_load.LoadResult:
    plan = cluster_load.plan(load_messages(), conversations, turns, socketio)
    return cluster_load.run(cluster.public_url, plan, timeout_s=60, during=during)


def _verify(cluster: Cluster, result: cluster_load.LoadResult, wait_s: float = 0.0) -> List[str]:
    deadline = time.monotonic() + wait_s
    while True:  # turns spooled during an outage reach the database within seconds of its return
        problems = cluster_load.verify(cluster.database_url, result.conversations)
        if not problems or time.monotonic() >= deadline:
            return problems
        time.sleep(1)


def _answered_all(result: cluster_load.LoadResult) -> None:
    broken = [(c.sender, c.errors[:3]) for c in result.conversations if not c.complete]
    assert result.unanswered == 0, f"{result.unanswered} turns unanswered: {broken[:5]}"


# ------------------------------------------------------------------ load


def test_50_conversations_of_20_turns_over_rest_and_socketio_lose_nothing(cluster):
    since = _size(LOG_DIR / "nginx-access.log")
    result = _drive(cluster, 50, 20, socketio=10)
    print(f"\ncluster load: {json.dumps(result.summary())}")
    _answered_all(result)
    assert _verify(cluster, result) == []
    assert min(_upstream_counts(cluster, since).values()) > 50  # both servers took a share of the REST turns


async def test_socketio_over_a_websocket_through_nginx(cluster):
    """What a browser's widget does after its upgrade: socket.io over one websocket, through nginx."""
    import websockets

    url = cluster.public_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    origin = f"http://localhost:{cluster.settings.port}"  # the page's origin, as a browser sends it

    async def packet(ws: Any, prefix: str) -> str:
        while True:
            data = str(await asyncio.wait_for(ws.recv(), 30))
            if data == "2":  # engine.io ping
                await ws.send("3")
            elif data.startswith(prefix):
                return data[len(prefix):]

    async with websockets.connect(url, origin=origin) as ws:  # type: ignore[attr-defined]
        assert '"sid"' in await packet(ws, "0")
        await ws.send("40")
        await packet(ws, "40")
        await ws.send('42["session_request",{"session_id":null}]')
        event, session_id = json.loads(await packet(ws, "42"))
        assert event == "session_confirm"
        await ws.send("42" + json.dumps(["user_uttered", {"message": EMERGENCY, "session_id": session_id}]))
        event, message = json.loads(await packet(ws, "42"))
        assert event == "bot_uttered" and facts.load().emergency_number in message["text"]


def test_one_conversation_on_both_servers_is_processed_one_message_at_a_time(cluster):
    """The first two messages of a conversation, at the same moment, one to each server (not through nginx):
    without the shared lock each server would start the conversation's session for its own message."""
    first, second = (r.url for r in cluster.replicas)
    senders = [f"lock-{uuid.uuid4().hex[:10]}" for _ in range(15)]

    async def both(sender: str, session: aiohttp.ClientSession) -> None:
        replies = await asyncio.gather(*(session.post(url, json={"sender": sender, "message": text})
                                         for url, text in ((first, QUESTION), (second, EMERGENCY))))
        for reply in replies:
            assert reply.status == 200
            await reply.read()

    async def main() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            await asyncio.gather(*(both(s, session) for s in senders))

    asyncio.run(main())
    for sender in senders:
        events = stored_events(cluster.database_url, sender)
        kinds = [e["event"] for e in events]
        assert kinds.count("session_started") == 1, kinds
        users = [i for i, k in enumerate(kinds) if k == "user"]
        assert len(users) == 2
        # the first turn ended (action_listen) before the second began
        assert any(e["event"] == "action" and e.get("name") == "action_listen" for e in events[users[0]:users[1]])


def test_each_crisis_alert_is_delivered_once_whichever_server_took_it(cluster):
    offsets = _log_offsets(cluster)
    senders = [f"alert-{uuid.uuid4().hex[:10]}" for _ in range(6)]
    for sender in senders:  # the same emergency conversation on both servers
        for replica in cluster.replicas:
            status, _ = post_raw(replica.url, json.dumps({"sender": sender, "message": EMERGENCY}).encode(), 30)
            assert status == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        logs = _logs_since(offsets)
        if all(f"CRISIS ALERT: conversation {s}," in logs for s in senders):
            break
        time.sleep(0.5)
    time.sleep(2)  # a second delivery, if there were one, would come now
    logs = _logs_since(offsets)
    assert [logs.count(f"CRISIS ALERT: conversation {s},") for s in senders] == [1] * len(senders)


# ------------------------------------------------------------------ limits


def _carries_the_numbers(reply: Any) -> bool:
    f = facts.load()
    text = flatten(reply) if isinstance(reply, list) else ""
    return f.emergency_number in text and f.center_phone in text


def test_the_staff_site_and_rasas_api_are_not_public(cluster):
    import urllib.error
    import urllib.request

    for path in ("/login", "/callbacks", "/status", "/version", "/model", "/conversations/x/tracker"):
        try:
            with urllib.request.urlopen(cluster.public_url + path, timeout=10) as resp:  # noqa: S310
                status = resp.status
        except urllib.error.HTTPError as e:
            status = e.code
        assert status == 404, path  # the web app's answer: it serves named files only
    conf = (cluster.settings.var_dir / "nginx" / "nginx.conf").read_text()
    assert f":{cluster.settings.staff_port}" not in conf and f":{cluster.settings.model_server_port}" not in conf
    assert launch_http_ok(f"http://127.0.0.1:{cluster.settings.staff_port}/health")  # up, on its own port


def test_a_body_over_the_limit_is_refused_with_the_numbers(cluster):
    body = json.dumps({"sender": "big", "message": "x" * (cluster.settings.max_body_bytes + 10)}).encode()
    status, reply = post_raw(cluster.public_url + cluster_load.WEBHOOK_PATH, body)
    assert status == 413 and _carries_the_numbers(reply), (status, str(reply)[:300])


def test_the_rate_limit_answers_with_the_numbers(cluster):
    cluster.set_rate_limit(1.0, 2)
    try:
        async def burst() -> List[Any]:
            connector = aiohttp.TCPConnector(local_addr=("127.0.9.9", 0))
            async with aiohttp.ClientSession(connector=connector) as session:
                out = []
                for i in range(8):
                    async with session.post(cluster.public_url + cluster_load.WEBHOOK_PATH,
                                            json={"sender": "hasty", "message": f"hi {i}"}) as r:
                        out.append((r.status, await r.json(content_type=None)))
                return out

        replies = asyncio.run(burst())
        limited = [reply for status, reply in replies if status == 429]
        assert limited and all(_carries_the_numbers(reply) for reply in limited), replies
        assert [status for status, _ in replies[:3]] == [200] * 3
    finally:
        cluster.set_rate_limit(1000, 1000)


# ------------------------------------------------------------------ faults, each under load


def _emergencies(cluster: Cluster, count: int = 5) -> List[Any]:
    url = cluster.public_url + cluster_load.WEBHOOK_PATH
    return [post_raw(url, json.dumps({"sender": f"sos-{uuid.uuid4().hex[:8]}", "message": EMERGENCY}).encode(), 30)
            for _ in range(count)]


def test_action_servers_stopped_emergencies_are_still_answered(cluster):
    found: Dict[str, Any] = {}

    def fault() -> None:
        time.sleep(2)
        for r in cluster.replicas:
            cluster.process(f"actions-{r.name.split('-')[1]}").stop(5)
        found["emergencies"] = _emergencies(cluster)
        found["callback"] = post_raw(cluster.public_url + cluster_load.WEBHOOK_PATH, json.dumps(
            {"sender": f"cb-{uuid.uuid4().hex[:8]}", "message": "can someone call me back?"}).encode(), 30)

    try:
        result = _drive(cluster, 20, 10, during=fault)
    finally:
        for r in cluster.replicas:
            cluster.restart(f"actions-{r.name.split('-')[1]}")
    _answered_all(result)
    for status, reply in found["emergencies"]:
        assert status == 200 and facts.load().emergency_number in flatten(reply[:1]), reply
    status, reply = found["callback"]  # the form cannot run: the visitor is told what to do instead
    assert status == 200 and facts.load().center_phone in flatten(reply), reply
    assert _verify(cluster, result) == []


def test_redis_stopped_errors_are_said_and_answers_take_seconds(cluster):
    offsets = _log_offsets(cluster)

    def fault() -> None:
        time.sleep(2)
        cluster.process("redis").stop(5)

    try:
        result = _drive(cluster, 20, 15, during=fault)
        _answered_all(result)
        assert max(result.latencies_s()) < 10, result.summary()
        status, reply = _emergencies(cluster, 1)[0]
        assert status == 200 and facts.load().emergency_number in flatten(reply[:1])
        logs = _logs_since(offsets)
        assert "ERROR" in logs and "without the cross-server lock" in logs
    finally:
        cluster.restart("redis")
    time.sleep(6)  # the lock store asks Redis again after 5 s
    _emergencies(cluster, 4)  # spread over both servers
    assert "is back" in _logs_since(offsets)
    assert _verify(cluster, result) == []


def test_postgres_restarted_no_turn_is_lost(cluster):
    offsets = _log_offsets(cluster)

    def fault() -> None:
        time.sleep(2)
        cluster.process("postgres").stop(10)
        time.sleep(4)
        cluster.restart("postgres")

    result = _drive(cluster, 20, 15, during=fault)
    _answered_all(result)
    assert _verify(cluster, result, wait_s=30) == []
    logs = _logs_since(offsets)
    assert "Conversation store" in logs and "spooled turns written" in logs


def test_a_killed_rasa_server_its_conversations_go_on_with_their_history(cluster):
    since = _size(LOG_DIR / "nginx-access.log")
    offsets = _log_offsets(cluster)
    killed = cluster.replicas[0]

    def fault() -> None:
        time.sleep(3)
        cluster.process(killed.name).signal(signal.SIGKILL)

    try:
        result = _drive(cluster, 20, 15, during=fault)
        _answered_all(result)
        print(f"\nkill one server: {json.dumps(result.summary())}")
        counts = _upstream_counts(cluster, since)
        assert all(counts.values()), counts  # both took turns before the kill
        # one session each (the survivor read each history), every user turn once and in order: a turn
        # in flight at the kill, stored by the killed server before it could reply and retried by nginx
        # on the survivor with the same X-Request-ID, is not stored a second time
        assert _verify(cluster, result) == []
        retried = _logs_since(offsets).count("a retried turn of load-")
        print(f"turns retried by nginx after the kill that were stored already (not stored again): {retried}")
    finally:
        cluster.restart(killed.name)


def test_a_request_retried_on_the_other_server_is_stored_once(cluster):
    """What nginx does when a server dies after storing a turn: the same request (same X-Request-ID)
    on the other server, which processes it again; the visitor's message is stored once."""
    sender, request_id = f"retry-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    body = json.dumps({"sender": sender, "message": QUESTION}).encode()
    for replica in (*cluster.replicas, cluster.replicas[0]):
        request = urllib.request.Request(replica.url, body, {"Content-Type": "application/json",
                                                              "X-Request-ID": request_id})
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - loopback
            assert reply.status == 200 and json.loads(reply.read())
    post_raw(cluster.replicas[1].url, json.dumps({"sender": sender, "message": EMERGENCY}).encode(), 30)
    users = [e for e in stored_events(cluster.database_url, sender) if e["event"] == "user"]
    assert [(e["text"], e["message_id"] == request_id) for e in users] == [(QUESTION, True), (EMERGENCY, False)]


# ------------------------------------------------------------------ models

LOADING = "rasa.core.processor  - Loading model "  # Rasa's INFO line as a server starts loading a pulled model
LOAD_FAILED = "Failed to update model"  # Rasa's ERROR line when a pulled model cannot be loaded
LOAD_ALLOWANCE_S = 30.0  # a server's download and load of the model, on two cores shared with the rest


def _scratch_registry(served: Path, folder: Path) -> Registry:
    """The registry of the served model, with its history and refused models in ``folder``.

    The cluster serves the project's own MODEL (models/current.tar.gz), whose history is what
    ``python -m bot rollback`` goes back to: a test promotes and rolls back through the same
    code (archive, keep, install, rollback; the same lock), but keeps its entries and events out of it.
    """
    registry = Registry(served)
    registry.history, registry.refused = folder / HISTORY, folder / REFUSED
    return registry


def _repacked(model: Path, work: Path) -> Path:
    """A run folder as ``retrain`` leaves one: ``model`` re-compressed (the same trained model in other
    bytes, so another sha256, which is the model server's ETag and what Rasa compares)."""
    packed = gzip.compress(gzip.decompress(model.read_bytes()), compresslevel=6, mtime=int(time.time()))
    sha = hashlib.sha256(packed).hexdigest()
    assert sha != sha256_file(model)
    run_dir = work / new_id(sha)
    run_dir.mkdir(parents=True)
    (run_dir / MODEL_FILE).write_bytes(packed)
    return run_dir


def _answered(status: int, reply: Any) -> bool:
    return status == 200 and isinstance(reply, list) and bool(flatten(reply).strip())


class _Visitors:
    """REST turns through nginx, one every ``every_s`` whether or not the last was answered, until the block ends.

    Twenty conversations in turn (nginx routes each by its sender, so both servers get some); each
    turn is recorded as (sent at, seconds to the reply, HTTP status, reply).
    """

    def __init__(self, cluster: Cluster, every_s: float = 0.1, conversations: int = 20) -> None:
        self.url = cluster.public_url + cluster_load.WEBHOOK_PATH
        self.every_s = every_s
        tag = uuid.uuid4().hex[:8]
        self.senders = [f"promote-{tag}-{i}" for i in range(conversations)]
        self.messages = load_messages()
        self.turns: List[Tuple[float, float, int, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(256, thread_name_prefix="visitor")
        self._ticker = threading.Thread(target=self._tick, daemon=True)

    def _turn(self, i: int) -> None:
        body = json.dumps({"sender": self.senders[i % len(self.senders)],
                           "message": self.messages[i % len(self.messages)]}).encode()
        sent = time.monotonic()
        try:
            status, reply = post_raw(self.url, body, 60)
        except Exception as e:  # a refused or cut connection is downtime too: recorded, not raised
            status, reply = 0, f"{type(e).__name__}: {e}"
        with self._lock:
            self.turns.append((sent, time.monotonic() - sent, status, reply))

    def _tick(self) -> None:
        i, due = 0, time.monotonic()
        while not self._stop.is_set():
            self._pool.submit(self._turn, i)
            i += 1
            due += self.every_s
            self._stop.wait(max(0.0, due - time.monotonic()))

    def __enter__(self) -> "_Visitors":
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._ticker.join()
        self._pool.shutdown(wait=True)  # every turn sent is answered (or times out) before the block ends


def _wait_for_loads(cluster: Cluster, offsets: Dict[str, int], names: List[str], started: float,
                    seconds: float) -> Dict[str, float]:
    """Seconds from ``started`` until each server in ``names`` loaded a model pulled after ``offsets`` (its log).

    Rasa 3.6 loads a pulled model inside its event loop (``agent.load_model`` in
    ``_update_model_from_server``), so once its log says it is loading, a turn sent straight to it is
    answered only when the model is in: that answer is when it switched. Missing: not within ``seconds``.
    """
    done: Dict[str, float] = {}
    replicas = {r.name: r for r in cluster.replicas}
    deadline = started + seconds
    while len(done) < len(names) and time.monotonic() < deadline:
        for name in names:
            if name in done or LOADING not in _logs_since({name: offsets[name]}):
                continue
            body = json.dumps({"sender": f"probe-{uuid.uuid4().hex[:8]}", "message": QUESTION}).encode()
            status, reply = post_raw(replicas[name].url, body, max(5.0, deadline - time.monotonic()))
            assert _answered(status, reply), (name, status, reply)
            done[name] = time.monotonic() - started
        time.sleep(0.2)
    return done


def test_a_promoted_model_reaches_every_server_without_downtime(cluster, tmp_path):
    """Issue 15: a model promoted as ``python -m bot retrain`` promotes one (copied atomically over MODEL)
    reaches both Rasa servers from the model server at their next pulls, without a restart, while a
    visitor's turn every 100 ms through nginx is answered; then ``rollback`` brings the model before back."""
    served = cluster.settings.model
    names = [r.name for r in cluster.replicas]
    bound_s = 3 * cluster.settings.model_pull_interval_s + LOAD_ALLOWANCE_S
    before_sha, before_stat = sha256_file(served), served.stat()
    backup = tmp_path / "served-before.tar.gz"
    shutil.copy2(served, backup)
    registry = _scratch_registry(served, tmp_path / "registry")
    switched: Dict[str, float] = {}
    switched_back: Dict[str, float] = {}
    previous: Entry | None = None
    try:
        previous = registry.archive_served()  # what `rollback` returns to
        entry = registry.keep(_repacked(served, tmp_path / "work"))
        offsets, server_log = _log_offsets(cluster), _size(LOG_DIR / "model-server.log")
        nginx_since = _size(LOG_DIR / "nginx-access.log")
        pids = [cluster.process(name).pid for name in names]
        with _Visitors(cluster) as visitors:
            time.sleep(2)  # turns before the promotion too
            with registry.lock():
                registry.install(entry, "promote")
            promoted = time.monotonic()
            switched = _wait_for_loads(cluster, offsets, names, promoted, bound_s)
            time.sleep(2)  # and after the last switch
        turns = visitors.turns
        latencies = sorted(latency for _, latency, _, _ in turns)
        print(f"\npromotion: pull interval {cluster.settings.model_pull_interval_s:g} s, servers switched after "
              f"{ {n: round(s, 1) for n, s in switched.items()} } s; {len(turns)} turns through nginx, "
              f"p50 {latencies[len(latencies) // 2]:.2f} s, max {latencies[-1]:.2f} s")

        assert sorted(switched) == names, f"not switched within {bound_s:.0f} s: {sorted(set(names) - set(switched))}"
        logs = _logs_since(offsets)
        assert LOAD_FAILED not in logs
        with open(LOG_DIR / "model-server.log", "rb") as f:
            f.seek(server_log)
            downloads = f.read().decode(errors="replace").count(f"serving model {entry.sha256[:12]}")
        assert downloads == len(names), downloads  # each server took the promoted model, once
        broken = [(round(sent - promoted, 1), status, str(reply)[:200])
                  for sent, _, status, reply in turns if not _answered(status, reply)]
        assert not broken, f"{len(broken)} of {len(turns)} turns not answered during the switch: {broken[:5]}"
        during = [t for t in turns if promoted <= t[0] <= promoted + max(switched.values())]
        assert len(during) >= 5 * max(switched.values()), len(during)  # the client kept about its pace
        counts = _upstream_counts(cluster, nginx_since)
        assert all(counts.values()), counts  # both servers took visitors' turns
        assert [cluster.process(name).pid for name in names] == pids  # no server was restarted
        assert all(cluster.process(name).alive() for name in names)
    finally:
        switched_back = _serve_again(cluster, registry, previous, backup,
                                     before_sha, before_stat, sorted(switched), bound_s)
    print(f"rollback: servers switched back after { {n: round(s, 1) for n, s in switched_back.items()} } s")
    assert sorted(switched_back) == names


def _serve_again(cluster: Cluster, registry: Registry, previous: Entry | None, backup: Path, sha: str,
                 stat: os.stat_result, switched: List[str], seconds: float) -> Dict[str, float]:
    """Serves the model of before the test again (``rollback``; else the backup copied over MODEL, its time
    of modification as it was), and waits until the servers that had switched load it back."""
    served = registry.served
    if sha256_file(served) == sha:
        return {}
    offsets = _log_offsets(cluster)
    try:
        if previous is None:
            raise RegistryError("the model served before was not archived")
        with registry.lock():
            registry.rollback(previous.id)
    except RegistryError:
        copy_atomically(backup, served)
    assert sha256_file(served) == sha
    os.utime(served, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return _wait_for_loads(cluster, offsets, switched, time.monotonic(), seconds)
