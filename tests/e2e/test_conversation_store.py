"""Durable conversation logs, end to end: the real Rasa server on SQLite and on PostgreSQL.

A restart of the server loses nothing; PostgreSQL stopped in the middle of a conversation
still lets the visitor (in an emergency above all) get answers, and every turn reaches the
database, in order, once it is back.
"""
from __future__ import annotations

import time
import uuid
from typing import List

import pytest

from bot.store.tracker_store import stored_events
from tests.conftest import server_settings, start_assistant

pytestmark = pytest.mark.model


def _user_texts(url: str, sender: str) -> List[str]:
    return [e["text"] for e in stored_events(url, sender) if e["event"] == "user"]


def _replies(body) -> str:
    return " ".join(m.get("text", "") for m in body)


def test_a_restart_loses_no_turn_and_the_conversation_continues(tmp_path):
    settings = server_settings(tmp_path)
    sender = "restart-" + uuid.uuid4().hex
    running = start_assistant(settings)
    try:
        assert running.send("what are the symptoms of benzo withdrawal?", sender=sender)[0] == 200
    finally:
        running.rasa.stop()
    assert _user_texts(settings.database, sender) == ["what are the symptoms of benzo withdrawal?"]
    running.rasa.start().wait_healthy(settings.start_timeout_s)
    try:
        status, body = running.send("how long do they last?", sender=sender)
        assert status == 200
        assert "not sure" not in _replies(body).lower()  # the follow-up is read with the earlier topic
        assert _user_texts(settings.database, sender) == [
            "what are the symptoms of benzo withdrawal?", "how long do they last?"]
    finally:
        running.rasa.stop()
        running.actions.stop()


def test_postgres_outage_mid_conversation(postgres, tmp_path):
    settings = server_settings(tmp_path, DATABASE_URL=postgres.url, STORE_TIMEOUT_S="2")
    sender = "outage-" + uuid.uuid4().hex
    running = start_assistant(settings)
    try:
        assert running.send("hello", sender=sender)[0] == 200
        postgres.stop()
        try:
            started = time.monotonic()
            status, body = running.send("i swallowed all my pills and i can't stay awake", sender=sender)
            assert status == 200 and "911" in _replies(body)
            assert time.monotonic() - started < 10
            status, body = running.send("does insurance cover detox?", sender=sender)
            assert status == 200 and body
            log = running.rasa.log.read_text(errors="replace")
            assert "Conversation store" in log and "ERROR" in log  # loudly
            assert "swallowed" not in log  # never the visitor's text
        finally:
            postgres.start()
        expected = ["hello", "i swallowed all my pills and i can't stay awake", "does insurance cover detox?"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _user_texts(postgres.url, sender) != expected:
            time.sleep(0.5)
        assert _user_texts(postgres.url, sender) == expected
        status, _ = running.send("thank you", sender=sender)
        assert status == 200
        assert _user_texts(postgres.url, sender) == expected + ["thank you"]
    finally:
        running.rasa.stop()
        running.actions.stop()


def test_database_down_at_start_still_answers_and_catches_up(postgres, tmp_path):
    postgres.stop()
    try:
        settings = server_settings(tmp_path, DATABASE_URL=postgres.url, STORE_TIMEOUT_S="2")
        running = start_assistant(settings)
    finally:
        pass
    sender = "down-at-start-" + uuid.uuid4().hex
    try:
        try:
            status, body = running.send("I want to kill myself tonight", sender=sender)
            assert status == 200 and "988" in _replies(body)
        finally:
            postgres.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _user_texts(postgres.url, sender):
            time.sleep(0.5)
        assert _user_texts(postgres.url, sender) == ["I want to kill myself tonight"]
    finally:
        running.rasa.stop()
        running.actions.stop()
