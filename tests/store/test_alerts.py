"""The alert outbox on a real SQLite file: de-duplication, leases, retries, ordering."""
from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from bot.store import create_tables
from bot.store.alerts import DELIVERED, LOGGED, PENDING, AlertOutbox

WINDOW = 60.0


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'alerts.db'}"


@pytest.fixture
def outbox(url) -> AlertOutbox:
    return AlertOutbox(create_tables(url), WINDOW)


def _slow_reads(conn, cursor, statement, parameters, context, executemany) -> None:
    """SQLAlchemy hook: a pause after every read, to force two writers to interleave."""
    if statement.lstrip().upper().startswith("SELECT"):
        time.sleep(0.3)


def rows_of(outbox: AlertOutbox, conversation_id: str) -> list:
    return [r for r in outbox.all() if r["conversation_id"] == conversation_id]


# --- recording and de-duplication -------------------------------------------------------------

def test_a_recorded_alert_is_pending_and_due_at_once(outbox):
    assert outbox.record("conv-1", "overdose", now=1000.0) is True
    [row] = outbox.all()
    assert row["conversation_id"] == "conv-1"
    assert row["kind"] == "overdose"
    assert row["status"] == PENDING
    assert row["attempts"] == 0
    assert row["repeats"] == 0
    assert row["flagged_at"] == 1000.0
    assert row["next_attempt_at"] <= 1000.0
    assert row["claimed_until"] is None
    assert row["delivered_at"] is None


def test_the_same_conversation_within_the_window_is_one_alert(outbox):
    assert outbox.record("conv-1", "overdose", now=1000.0) is True
    assert outbox.record("conv-1", "suicide", now=1010.0) is False
    assert outbox.record("conv-1", "general", now=1000.0 + WINDOW - 1) is False
    rows = rows_of(outbox, "conv-1")
    assert len(rows) == 1, rows
    assert rows[0]["repeats"] == 2
    assert rows[0]["kind"] == "overdose", "the first alert is kept as it was"


def test_other_conversations_are_not_deduplicated(outbox):
    assert outbox.record("conv-1", "overdose", now=1000.0) is True
    assert outbox.record("conv-2", "overdose", now=1001.0) is True
    assert outbox.record("CONV-1", "overdose", now=1002.0) is True
    assert len(outbox.all()) == 3


def test_a_new_alert_after_the_window(outbox):
    assert outbox.record("conv-1", "overdose", now=1000.0) is True
    assert outbox.record("conv-1", "seizure", now=1000.0 + WINDOW + 1) is True
    rows = rows_of(outbox, "conv-1")
    assert len(rows) == 2
    assert [r["kind"] for r in rows] == ["seizure", "overdose"]  # newest first
    # the window counts from the newest alert: a repeat soon after the second one is absorbed
    assert outbox.record("conv-1", "general", now=1000.0 + WINDOW + 5) is False
    assert len(rows_of(outbox, "conv-1")) == 2


def test_a_delivered_alert_still_deduplicates_within_the_window(outbox):
    assert outbox.record("conv-1", "overdose", now=1000.0)
    [alert] = outbox.claim_due(lease_s=10, now=1000.0)
    outbox.mark_sent(alert.id, now=1001.0)
    assert outbox.record("conv-1", "overdose", now=1002.0) is False
    assert outbox.claim_due(lease_s=10, now=1003.0) == []
    assert len(outbox.all()) == 1


def test_the_window_is_configurable(url):
    short = AlertOutbox(create_tables(url), dedup_window_s=5.0)
    assert short.record("conv-1", "overdose", now=1000.0)
    assert not short.record("conv-1", "overdose", now=1004.0)
    assert short.record("conv-1", "overdose", now=1006.0)
    long = AlertOutbox(create_tables(url), dedup_window_s=10_000.0)
    assert not long.record("conv-1", "overdose", now=9000.0)


def test_deduplication_holds_for_concurrent_writers_of_the_same_file(url):
    """Two servers sharing the table (the module's promise), each flagging the same conversation at once.

    A short pause after each read makes the interleaving deterministic: both servers look for a recent
    alert before either has written one.
    """
    create_tables(url)
    engines = [sa.create_engine(url, future=True, connect_args={"timeout": 10, "check_same_thread": False})
               for _ in range(2)]

    for eng in engines:
        sa.event.listen(eng, "after_cursor_execute", _slow_reads)
    outboxes = [AlertOutbox(eng, WINDOW) for eng in engines]
    barrier = threading.Barrier(2)
    results: list = []
    errors: list = []

    def flag(box: AlertOutbox) -> None:
        barrier.wait()
        try:
            results.append(box.record("shared-conv", "overdose", now=1000.0))
        except Exception as e:  # a refused duplicate is acceptable; a second row is not
            errors.append(e)

    threads = [threading.Thread(target=flag, args=(box,)) for box in outboxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    rows = rows_of(AlertOutbox(create_tables(url), WINDOW), "shared-conv")
    assert len(rows) == 1, f"one alert per conversation per window, got {len(rows)} rows (results {results})"


# --- claiming ---------------------------------------------------------------------------------

def test_a_claimed_alert_is_not_handed_out_again_while_leased(outbox):
    outbox.record("conv-1", "overdose", now=1000.0)
    first = outbox.claim_due(lease_s=10, now=1001.0)
    assert [a.conversation_id for a in first] == ["conv-1"]
    assert first[0].kind == "overdose" and first[0].attempts == 0
    assert outbox.claim_due(lease_s=10, now=1001.0) == []
    assert outbox.claim_due(lease_s=10, now=1010.9) == []
    again = outbox.claim_due(lease_s=10, now=1011.5)
    assert [a.id for a in again] == [first[0].id], "an expired lease (a crashed sender) frees the alert"
    assert outbox.claim_due(lease_s=10, now=1012.0) == []


def test_two_claimers_never_get_the_same_alert(url):
    create_tables(url)
    boxes = [AlertOutbox(sa.create_engine(url, future=True, connect_args={"timeout": 10,
                                                                         "check_same_thread": False}), WINDOW)
             for _ in range(2)]
    for i in range(30):
        boxes[0].record(f"conv-{i}", "general", now=1000.0 + i)
    for box in boxes:  # both claimers read the same due rows before either takes them
        sa.event.listen(box.engine, "after_cursor_execute", _slow_reads)
    barrier = threading.Barrier(2)
    claimed: dict = {}

    def claim(n: int) -> None:
        barrier.wait()
        got = []
        for _ in range(5):
            got += boxes[n].claim_due(lease_s=60, now=2000.0, limit=7)
        claimed[n] = [a.id for a in got]

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    everything = claimed[0] + claimed[1]
    assert len(everything) == len(set(everything)), "an alert was handed to two claimers"
    assert len(everything) == 30, "every due alert is claimed by someone"


def test_claim_due_skips_alerts_not_due_and_finished_ones(outbox):
    outbox.record("due", "general", now=1000.0)
    outbox.record("sent", "general", now=1000.0)
    outbox.record("logged", "general", now=1000.0)
    outbox.record("later", "general", now=1000.0)
    ids = {a.conversation_id: a.id for a in outbox.claim_due(lease_s=1, now=1000.0, limit=10)}
    outbox.mark_sent(ids["sent"], now=1000.5)
    outbox.mark_sent(ids["logged"], status=LOGGED, now=1000.5)
    outbox.mark_failed(ids["later"], "boom", retry_in_s=100, now=1000.5)
    assert [a.conversation_id for a in outbox.claim_due(lease_s=1, now=1010.0)] == ["due"]


def test_claim_due_hands_out_the_oldest_first_and_respects_the_limit(outbox):
    for i, t in enumerate([1005.0, 1001.0, 1003.0, 1002.0, 1004.0]):
        outbox.record(f"conv-{i}", "general", now=t)
    first = outbox.claim_due(lease_s=60, now=2000.0, limit=3)
    assert [a.flagged_at for a in first] == [1001.0, 1002.0, 1003.0]
    rest = outbox.claim_due(lease_s=60, now=2000.0, limit=3)
    assert [a.flagged_at for a in rest] == [1004.0, 1005.0]
    assert [r["flagged_at"] for r in outbox.all()] == [1005.0, 1004.0, 1003.0, 1002.0, 1001.0]


# --- marking ----------------------------------------------------------------------------------

def test_mark_failed_schedules_the_next_attempt(outbox):
    outbox.record("conv-1", "overdose", now=1000.0)
    [alert] = outbox.claim_due(lease_s=30, now=1000.0)
    outbox.mark_failed(alert.id, "ClientConnectorError: refused", retry_in_s=8, now=1002.0)
    [row] = outbox.all()
    assert row["status"] == PENDING
    assert row["attempts"] == 1
    assert row["next_attempt_at"] == pytest.approx(1010.0)
    assert row["claimed_until"] is None, "a failed attempt releases the lease"
    assert row["last_error"] == "ClientConnectorError: refused"
    assert outbox.claim_due(lease_s=30, now=1009.9) == []
    [again] = outbox.claim_due(lease_s=30, now=1010.0)
    assert again.id == alert.id and again.attempts == 1
    outbox.mark_failed(again.id, "x" * 500, retry_in_s=16, now=1011.0)
    [row] = outbox.all()
    assert row["attempts"] == 2
    assert row["next_attempt_at"] == pytest.approx(1027.0)
    assert len(row["last_error"]) <= 200


def test_mark_sent_finishes_the_alert(outbox):
    outbox.record("conv-1", "seizure", now=1000.0)
    [alert] = outbox.claim_due(lease_s=30, now=1000.0)
    outbox.mark_failed(alert.id, "boom", retry_in_s=1, now=1000.0)
    [alert] = outbox.claim_due(lease_s=30, now=1002.0)
    outbox.mark_sent(alert.id, now=1003.0)
    [row] = outbox.all()
    assert row["status"] == DELIVERED
    assert row["delivered_at"] == 1003.0
    assert row["attempts"] == 2
    assert row["claimed_until"] is None
    assert row["last_error"] is None
    assert outbox.claim_due(lease_s=30, now=10_000.0) == []


def test_mark_sent_as_logged(outbox):
    outbox.record("conv-1", "general", now=1000.0)
    [alert] = outbox.claim_due(lease_s=30, now=1000.0)
    outbox.mark_sent(alert.id, status=LOGGED, now=1000.5)
    [row] = outbox.all()
    assert row["status"] == LOGGED and row["attempts"] == 1
    assert outbox.claim_due(lease_s=30, now=10_000.0) == []


# --- durability and payload -------------------------------------------------------------------

def test_alerts_survive_a_new_engine_on_the_same_file(url):
    """What a restart does: a new process opens the same database and finds the pending alert."""
    first = AlertOutbox(create_tables(url), WINDOW)
    first.record("conv-1", "overdose", now=1000.0)
    [alert] = first.claim_due(lease_s=5, now=1000.0)  # claimed, then the server died mid-delivery
    second = AlertOutbox(sa.create_engine(url, future=True), WINDOW)
    assert second.claim_due(lease_s=5, now=1001.0) == []
    [again] = second.claim_due(lease_s=5, now=1006.0)
    assert again.id == alert.id
    assert second.record("conv-1", "overdose", now=1007.0) is False


def test_the_payload_names_the_conversation_and_kind_and_nothing_else(outbox):
    outbox.record("conv-1", "overdose", now=1000.0)
    [alert] = outbox.claim_due(lease_s=30, now=1000.0)
    payload = alert.payload()
    assert set(payload) == {"event", "alert_id", "conversation_id", "kind", "time"}
    assert payload["conversation_id"] == "conv-1"
    assert payload["kind"] == "overdose"
    assert payload["alert_id"] == alert.id
    assert payload["time"] == 1000.0
    assert set(outbox.all()[0]) >= {"conversation_id", "kind"}
    assert not any("text" in column or "message" in column for column in outbox.all()[0])
