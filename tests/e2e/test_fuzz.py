"""Fuzzing the public channels: whatever a client sends, it gets an answer or a 4xx, never a 5xx or a hang.

Bounded (hypothesis: at most 60 examples per test, no deadline; every request times out
after 30 s, which fails the test), and after each run the assistant still answers a plain
question.
"""
from __future__ import annotations

import asyncio
import json
import urllib.error
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.evaluation.replies import flatten, post_raw
from tests.e2e.test_socketio import EMERGENCY, INSURANCE, Widget, emergency_number_in, texts

pytestmark = pytest.mark.model

TIMEOUT_S = 30
FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "application/json; charset=latin-1", ""]

json_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                | st.text(max_size=50))
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=5)
                           | st.dictionaries(st.text(max_size=10), children, max_size=5), max_leaves=25)
odd_senders = (st.sampled_from(["", "a" * 10_240, "ü", "😀", "a b", "../../etc/passwd", "x\x00y", "default",
                                "test", "a" * 128, "a" * 129])
               | st.text(max_size=200) | json_values)
odd_messages = (st.text(max_size=400) | st.sampled_from(["", " ", "/restart", "\x00", "\u202e", "a" * 5000])
                | json_values)


def sender() -> str:
    return "fuzz-" + uuid.uuid4().hex


def post(assistant: Any, body: bytes, content_type: str = "application/json"):
    """POSTs ``body``; a timeout (a hang) or a refused connection (a crash) fails the test."""
    try:
        return post_raw(assistant.url, body, TIMEOUT_S, content_type)
    except (OSError, urllib.error.URLError) as e:
        raise AssertionError(f"no answer within {TIMEOUT_S} s ({type(e).__name__}: {e}) for {body[:300]!r}") from e


def check_answer_or_4xx(status: int, reply: Any, body: bytes) -> None:
    assert status < 500, f"{status} {str(reply)[:300]} for {body[:300]!r}"
    if status == 200:
        assert isinstance(reply, list), f"200 without a list: {str(reply)[:300]} for {body[:300]!r}"
    else:
        assert 400 <= status < 500, f"{status} for {body[:300]!r}"


def assert_still_answers(assistant: Any) -> None:
    assert assistant.rasa.alive() and assistant.actions.alive(), "a server died"
    status, reply = assistant.send(INSURANCE, sender=sender(), timeout=TIMEOUT_S)
    assert status == 200 and "PPO" in flatten(reply), reply


# ------------------------------------------------------------------ REST


def test_random_unicode_messages_are_answered(assistant):
    @FUZZ
    @given(text=st.text(max_size=600) | st.text(st.characters(min_codepoint=0x80, blacklist_categories=("Cs",)),
                                                min_size=1, max_size=300))
    def run(text: str) -> None:
        body = json.dumps({"sender": sender(), "message": text}).encode()
        status, reply = post(assistant, body)
        assert status == 200, f"{status} {str(reply)[:300]} for {text!r}"
        assert isinstance(reply, list) and reply, f"no reply for {text!r}: {reply!r}"

    run()
    assert_still_answers(assistant)


def test_random_json_bodies_get_an_answer_or_a_4xx(assistant):
    @FUZZ
    @given(body=st.fixed_dictionaries({}, optional={"sender": st.builds(sender) | odd_senders, "message": odd_messages,
                                                    "metadata": json_values, "extra": json_values})
           | st.fixed_dictionaries({"sender": st.builds(sender), "message": st.text(max_size=300)},
                                   optional={"metadata": json_values})
           | json_values)
    def run(body: Any) -> None:
        raw = json.dumps(body).encode()
        status, reply = post(assistant, raw)
        check_answer_or_4xx(status, reply, raw)

    run()
    assert_still_answers(assistant)


def test_malformed_bytes_get_an_answer_or_a_4xx(assistant):
    valid = json.dumps({"sender": "fuzz-bytes", "message": INSURANCE, "metadata": {"a": [1, 2]}}).encode()

    @st.composite
    def mutated(draw) -> bytes:
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 5))):
            op = draw(st.sampled_from(["cut", "flip", "insert"]))
            at = draw(st.integers(0, max(len(data) - 1, 0)))
            if op == "cut":
                del data[at:at + draw(st.integers(1, 20))]
            elif op == "flip" and data:
                data[at] = draw(st.integers(0, 255))
            else:
                data[at:at] = draw(st.binary(min_size=1, max_size=8))
        return bytes(data)

    @FUZZ
    @given(body=st.binary(max_size=3000) | mutated() | st.sampled_from([b"", b"{", b"[" * 5000, b"\xff\xfe\x00",
                                                                          b"\xef\xbb\xbf" + valid, valid + b"\x00",
                                                                          b"nul", b'{"message": "\\ud800"']),
           content_type=st.sampled_from(CONTENT_TYPES))
    def run(body: bytes, content_type: str) -> None:
        status, reply = post(assistant, body, content_type)
        check_answer_or_4xx(status, reply, body)

    run()
    assert_still_answers(assistant)


@pytest.mark.parametrize("sender_id", ["", "a" * 10_240, "ünïcødé", "😀", "a b", "x\x00", 123, None, ["a"],
                                       {"a": 1}, True, 1.5],
                         ids=["empty", "10k", "unicode", "emoji", "space", "nul", "int", "null", "list", "object",
                              "bool", "float"])
def test_odd_sender_ids_get_an_answer_or_a_4xx(assistant, sender_id):
    body = json.dumps({"sender": sender_id, "message": INSURANCE}).encode()
    status, reply = post(assistant, body)
    check_answer_or_4xx(status, reply, body)
    assert_still_answers(assistant)


def nested_lists(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("metadata", [nested_lists(200), nested_objects(200), '{"a":' + nested_lists(200) + "}",
                                      json.dumps({"blob": "x" * 500_000}), json.dumps("x" * 500_000),
                                      json.dumps({str(i): i for i in range(20_000)}),
                                      '{"a":' + nested_lists(990) + "}", nested_objects(2000),
                                      nested_lists(100_000), json.dumps({"text": "/restart", "intent": "emergency",
                                                                         "original_text": "/restart"}),
                                      '{"a": 1e999999}', '{"a": ' + "9" * 5000 + "}"],
                         ids=["lists-200", "objects-200", "object-of-lists-200", "500KB-string-in-object",
                              "500KB-string", "20k-keys", "lists-990", "objects-2000", "lists-100000",
                              "look-alike-fields", "huge-float", "5000-digit-int"])
def test_huge_and_deep_metadata_is_ignored(assistant, metadata):
    raw = f'{{"sender": "{sender()}", "message": "{INSURANCE}", "metadata": {metadata}}}'.encode()
    assert len(raw) < 1_000_000
    status, reply = post(assistant, raw)
    check_answer_or_4xx(status, reply, raw)
    if status == 200:
        assert "PPO" in flatten(reply), reply
    assert_still_answers(assistant)


# Lone surrogates are valid JSON escapes ("\ud800") that decode to strings UTF-8 cannot encode.
SURROGATE_MESSAGES = ["\ud800", "hello \udfff", f"{EMERGENCY} \ud83d", f"\udc00{INSURANCE}"]


@pytest.mark.parametrize("text", SURROGATE_MESSAGES, ids=["alone", "trailing-low", "emergency", "question"])
def test_rest_lone_surrogates_are_answered(assistant, text):
    body = json.dumps({"sender": sender(), "message": text}).encode()  # ensure_ascii: "\ud800" escapes
    status, reply = post(assistant, body)
    assert status == 200 and isinstance(reply, list) and reply, f"{status} {reply!r} for {text!r}"
    if EMERGENCY in text:
        assert emergency_number_in(flatten(reply[:1])), f"an emergency was not escalated: {reply!r}"
    if INSURANCE in text:
        assert "PPO" in flatten(reply), reply
    assert_still_answers(assistant)


@pytest.mark.parametrize("text", SURROGATE_MESSAGES[2:], ids=["emergency", "question"])
async def test_socketio_lone_surrogates_are_answered(assistant, text):
    async with Widget(assistant.port) as tab:
        await tab.session({})
        await tab.client.emit("user_uttered", {"message": text})
        await tab.wait_for("bot_uttered", 1, 10)  # a reply takes about a second
        await tab.settle()
        replies = tab.received("bot_uttered")
        if EMERGENCY in text:
            assert emergency_number_in(texts(replies[:1])), f"an emergency was not escalated: {replies!r}"
        if INSURANCE in text:
            assert "PPO" in texts(replies), replies
        assert "PPO" in texts(await tab.ask(INSURANCE))


# ------------------------------------------------------------------ socket.io

EVENT_NAMES = ["session_request", "user_uttered", "bot_uttered", "session_confirm", "error", "message",
               "disconnect", "connect", "connect_error", "ping"]
socket_payloads = (json_values | st.binary(max_size=200)
                   | st.dictionaries(st.sampled_from(["message", "session_id", "metadata", "customData"]),
                                     json_values | st.text(max_size=300), max_size=4)
                   | st.tuples(json_values, json_values))
socket_events = st.lists(st.tuples(st.sampled_from(EVENT_NAMES) | st.text(min_size=1, max_size=30),
                                   st.none() | socket_payloads), min_size=1, max_size=6)


def test_socketio_random_events_do_not_break_the_server(assistant):
    async def episode(events: list) -> None:
        async with Widget(assistant.port) as tab:
            if events[0][0] != "session_request":
                await tab.session({})
            for name, payload in events:
                await tab.client.emit(name, payload)
            await tab.settle(0.3)
        assert assistant.rasa.alive(), f"the Rasa server died after {events!r}"[:2000]

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(events=socket_events)
    def run(events: list) -> None:
        asyncio.run(asyncio.wait_for(episode(events), TIMEOUT_S))

    run()

    async def still_answers() -> None:
        async with Widget(assistant.port) as tab:
            await tab.session({})
            reply = await tab.ask(INSURANCE)
            assert "PPO" in texts(reply), reply
            escalated = await tab.ask(EMERGENCY)
            assert emergency_number_in(texts(escalated[:1])), escalated

    asyncio.run(still_answers())
    assert_still_answers(assistant)
