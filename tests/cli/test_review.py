"""``python -m bot review`` as operators run it: a subprocess on a real database (SQLite and
PostgreSQL), checking its output, its one summary line on stderr and its exit codes."""
from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
import time
from datetime import datetime, timezone
from typing import List

import pytest

from bot import facts
from bot import settings as settings_module
from bot.settings import ROOT
from bot.store import audit, engine
from bot.store.review import list_conversations, mark_reviewed
from tests.store.test_review import COST, EMERGENCY_INTENT, INSURANCE, NOT_UNDERSTOOD, center_reply, store

DAY = 86400.0


def review(url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Runs ``python -m bot review ARGS`` against ``url``."""
    environment = {**os.environ, "DATABASE_URL": url, **env}
    return subprocess.run([sys.executable, "-m", "bot", "review", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.fixture
def seeded(db_url) -> str:
    """Five conversations of the last days (two flagged, both older than a day)."""
    now = time.time()
    store(db_url, "recent", now - 3600, [INSURANCE])
    store(db_url, "danger", now - 2 * DAY,
          [("I took 40 pills, call me at (555) 123-4567", EMERGENCY_INTENT, 0.99, center_reply(), "utter_emergency")],
          kind="overdose")
    store(db_url, "confused", now - 3 * DAY, [NOT_UNDERSTOOD])
    store(db_url, "old-danger", now - 10 * DAY,
          [("i want to end it all", EMERGENCY_INTENT, 0.97, center_reply(), "utter_emergency")], kind="suicide")
    store(db_url, "ancient", now - 100 * DAY, [COST])
    return db_url


def json_lines(text: str) -> List[dict]:
    return [json.loads(line) for line in text.splitlines()]


# --- list -------------------------------------------------------------------------------------

def test_list_flagged_as_json_lines(seeded):
    done = review(seeded, "list", "--flagged", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json_lines(done.stdout)
    assert [r["id"] for r in rows] == ["danger", "old-danger"]
    for r in rows:
        assert r["flagged"] is True and r["turns"] == 1
        started = datetime.fromisoformat(r["started_at"].replace("Z", "+00:00"))
        assert started.tzinfo is not None and started.utcoffset().total_seconds() == 0
        assert {"last_at", "danger_kind", "fallbacks", "low_confidence", "reviewed", "review_note",
                "preview"} <= set(r)
    assert rows[0]["danger_kind"] == "overdose" and rows[0]["preview"].endswith("[phone]")
    assert done.stderr.strip() == "2 conversations (2 flagged)"


def test_list_limit_and_filters(seeded):
    done = review(seeded, "list", "--format", "json", "--limit", "2")
    assert [r["id"] for r in json_lines(done.stdout)] == ["danger", "old-danger"]
    assert done.stderr.strip() == "2 of 5 conversations (2 flagged)"
    every = review(seeded, "list", "--format", "json")
    assert [r["id"] for r in json_lines(every.stdout)] == ["danger", "old-danger", "recent", "confused", "ancient"]
    fallback = review(seeded, "list", "--fallback", "--format", "json")
    assert [r["id"] for r in json_lines(fallback.stdout)] == ["confused"]
    day = datetime.fromtimestamp(time.time() - 5 * DAY, timezone.utc).date().isoformat()
    since = review(seeded, "list", "--since", day, "--format", "json")
    assert [r["id"] for r in json_lines(since.stdout)] == ["danger", "recent", "confused"]
    until = review(seeded, "list", "--until", day, "--format", "json")
    assert [r["id"] for r in json_lines(until.stdout)] == ["old-danger", "ancient"]
    search = review(seeded, "list", "--search", "INSURANCE", "--format", "json")
    assert [r["id"] for r in json_lines(search.stdout)] == ["recent"]


def test_list_table_marks_flagged_conversations_first(seeded):
    done = review(seeded, "list")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert "ID" in lines[0] and len(lines) == 6
    assert lines[1].startswith("!! OVERDOSE") and "danger" in lines[1] and "[phone]" in lines[1]
    assert lines[2].startswith("!! SUICIDE")
    assert not any(line.startswith("!!") for line in lines[3:])
    assert "123-4567" not in done.stdout
    assert done.stderr.strip() == "5 conversations (2 flagged)"


def test_list_csv(seeded):
    done = review(seeded, "list", "--format", "csv", "--unreviewed", "--flagged")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["id"] for r in rows] == ["danger", "old-danger"] and rows[0]["started_at"].endswith("Z")


def test_a_fresh_database_works(tmp_path):
    url = f"sqlite:///{tmp_path / 'new' / 'assistant.db'}"
    done = review(url, "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr.strip() == "0 conversations"


# --- bad input and unknown conversations ------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["list", "--since", "yesterday"],
    ["list", "--until", "2024-13-45"],
    ["list", "--limit", "0"],
    ["list", "--limit", "many"],
    ["list", "--format", "xml"],
    ["list", "--reviewed", "--unreviewed"],
    ["export", "--format", "xml"],
    ["export"],
    ["purge", "--older-than", "9x"],
    ["purge", "--older-than", "0d"],
    ["mark", "danger"],
    ["show"],
    ["frobnicate"],
    [],
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, args):
    done = review(f"sqlite:///{tmp_path / 'a.db'}", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    one_error_line(done)
    assert done.stdout == ""


def test_a_bad_setting_exits_2(tmp_path):
    done = review(f"sqlite:///{tmp_path / 'a.db'}", "list", RETENTION_DAYS="forever")
    assert done.returncode == 2
    assert "RETENTION_DAYS" in one_error_line(done)


@pytest.mark.parametrize("args", [["show", "nope"], ["mark", "nope", "--note", "x"], ["delete", "nope"]])
def test_unknown_conversations_exit_1(seeded, args):
    done = review(seeded, *args)
    assert done.returncode == 1
    assert "nope" in one_error_line(done)


def test_an_unreachable_database_exits_1_without_a_traceback(tmp_path):
    done = review("postgresql://nobody@127.0.0.1:1/none", "list")
    assert done.returncode == 1
    assert one_error_line(done).startswith("error: the database failed")


# --- show, mark, audit ------------------------------------------------------------------------

def test_show_prints_the_transcript_and_is_audited(seeded):
    done = review(seeded, "show", "danger", "--as", "nurse-a")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "FLAGGED (overdose)" in out
    assert "I took 40 pills, call me at (555) 123-4567" in out
    assert "[emergency 0.99]" in out and "[utter_emergency]" in out
    assert facts.load().center_phone in out
    assert out.index("visitor") < out.index("assistant")
    assert "opened as nurse-a" in done.stderr
    redacted = review(seeded, "show", "danger", "--redact")
    assert "123-4567" not in redacted.stdout and "[phone]" in redacted.stdout
    assert facts.load().center_phone in redacted.stdout
    entries = audit.entries(engine(seeded), target="danger")
    assert [(e.action, e.detail) for e in entries] == [("open_transcript", "redacted"), ("open_transcript", "")]
    assert entries[1].actor == "nurse-a" and entries[0].actor


def test_mark_then_list_unreviewed(seeded):
    done = review(seeded, "mark", "danger", "--note", "called back, safe", "--as", "dr-b")
    assert done.returncode == 0 and done.stderr.strip() == "marked danger reviewed by dr-b"
    left = review(seeded, "list", "--flagged", "--unreviewed", "--format", "json")
    assert [r["id"] for r in json_lines(left.stdout)] == ["old-danger"]
    done = review(seeded, "list", "--reviewed", "--format", "json")
    [row] = json_lines(done.stdout)
    assert row["id"] == "danger" and row["reviewed"] is True and row["review_note"] == "called back, safe"
    shown = review(seeded, "show", "danger")
    assert "by dr-b: called back, safe" in shown.stdout


def test_audit_lists_entries_newest_first(seeded):
    mark_reviewed(engine(seeded), "danger", "nurse-a", "ok")
    review(seeded, "show", "old-danger", "--as", "dr-b")
    done = review(seeded, "audit", "--limit", "1", "--format", "json")
    [entry] = json_lines(done.stdout)
    assert (entry["actor"], entry["action"], entry["target"]) == ("dr-b", "open_transcript", "old-danger")
    assert entry["at"].endswith("Z")
    assert done.stderr.strip() == "1 audit entry"
    table = review(seeded, "audit")
    assert len(table.stdout.splitlines()) == 2 and "mark_reviewed" in table.stdout.splitlines()[1]


# --- purge, delete, export --------------------------------------------------------------------

def test_purge_is_quiet_and_deletes_only_old_conversations(seeded):
    done = review(seeded, "purge", "--older-than", "4d", "--as", "cron")
    assert done.returncode == 0
    assert done.stdout == ""
    assert done.stderr.strip() == "deleted 2 conversations older than 4 days"
    assert [r.id for r in list_conversations(engine(seeded))] == ["danger", "recent", "confused"]
    again = review(seeded, "purge", "--older-than", "4d")
    assert again.returncode == 0 and again.stderr.strip() == "deleted 0 conversations older than 4 days"
    [entry, _] = [e for e in audit.entries(engine(seeded)) if e.action == "purge"]
    assert entry.detail.startswith("deleted 0 conversations")


def test_purge_defaults_to_the_retention_setting(seeded):
    days = settings_module.load({}).retention_days
    assert 10 < days < 100, "the seeded conversations straddle the retention period"
    done = review(seeded, "purge")
    assert done.returncode == 0 and done.stderr.strip() == f"deleted 1 conversation older than {days} days"
    assert "ancient" not in [r.id for r in list_conversations(engine(seeded))]


def test_delete_one_conversation(seeded):
    done = review(seeded, "delete", "danger", "--as", "nurse-a")
    assert done.returncode == 0, done.stderr
    assert "deleted conversation danger" in done.stderr
    assert "danger" not in [r.id for r in list_conversations(engine(seeded))]
    assert review(seeded, "delete", "danger").returncode == 1
    [entry] = [e for e in audit.entries(engine(seeded), target="danger") if e.detail == "deleted"]
    assert entry.actor == "nurse-a"


def test_export_to_a_private_file_redacted(seeded, tmp_path):
    out = tmp_path / "export.csv"
    done = review(seeded, "export", "--format", "csv", "--out", str(out), "--flagged", "--as", "nurse-a")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert [(r["conversation_id"], r["speaker"]) for r in rows] == [
        ("danger", "visitor"), ("danger", "assistant"), ("old-danger", "visitor"), ("old-danger", "assistant")]
    assert rows[0]["text"] == "I took 40 pills, call me at [phone]"
    assert facts.load().center_phone in rows[1]["text"]
    assert done.stderr.strip() == f"exported 4 messages (redacted) to {out}"
    [entry] = audit.entries(engine(seeded), target=str(out))
    assert entry.actor == "nurse-a" and entry.detail == "csv, redacted, 4 messages"


def test_export_jsonl_to_stdout_without_redaction(seeded):
    done = review(seeded, "export", "--format", "jsonl", "--search", "40 pills", "--no-redact")
    assert done.returncode == 0, done.stderr
    rows = json_lines(done.stdout)
    assert len(rows) == 2 and rows[0]["text"].endswith("(555) 123-4567") and rows[0]["flagged"] is True
    assert set(rows[0]) == {"conversation_id", "time", "speaker", "text", "intent", "confidence", "action", "flagged"}
    assert "NOT redacted" in done.stderr
