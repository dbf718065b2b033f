"""``python -m bot callbacks`` as staff run it: a subprocess on a SQLite file, checking its
output, its one summary line on stderr, its exit codes and the files it writes."""
from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timezone
from typing import Dict, List

import pytest

from bot.settings import ROOT
from bot.store import audit, callbacks, create_tables, engine

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc).timestamp()


def run(url: str, *args: str) -> subprocess.CompletedProcess:
    """Runs ``python -m bot callbacks ARGS`` against ``url``."""
    environment = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "bot", "callbacks", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.fixture
def url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    create_tables(url)
    yield url
    engine(url).dispose()


@pytest.fixture
def queue(url) -> Dict[str, str]:
    """Three requests an hour apart: Ana (oldest, about someone else), Ben, Cy (newest, with e-mail)."""
    eng = engine(url)
    ids = {
        "Ana": callbacks.create(eng, "conv-ana", "Ana Ruiz", "(555) 234-0001", "weekday mornings", "someone_else",
                                now=NOW),
        "Ben": callbacks.create(eng, "conv-ben", "Ben", "+442079460958", "after 5 pm", "self",
                                message="tapering off klonopin", now=NOW + 3600),
        "Cy": callbacks.create(eng, "conv-cy", "Cy O'Neil", "(555) 234-0003", "any time", "self",
                               email="cy@example.org", now=NOW + 7200),
    }
    return ids


def json_lines(text: str) -> List[dict]:
    return [json.loads(line) for line in text.splitlines()]


# --- list -------------------------------------------------------------------------------------

def test_list_as_a_table_newest_first(url, queue):
    done = run(url, "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    assert [line.split()[0] for line in lines] == [queue["Cy"], queue["Ben"], queue["Ana"]]
    assert lines[2] == (f"{queue['Ana']}  2024-03-10 12:00 UTC  [new]  Ana Ruiz  (555) 234-0001  "
                        f"best time: weekday mornings  about: someone else")
    assert lines[1].endswith("best time: after 5 pm  about: self") and "+442079460958" in lines[1]
    assert done.stderr.strip() == "3 callback requests"


def test_list_as_json(url, queue):
    done = run(url, "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json_lines(done.stdout)
    assert [r["id"] for r in rows] == [queue["Cy"], queue["Ben"], queue["Ana"]]
    assert rows[0]["email"] == "cy@example.org" and rows[1]["message"] == "tapering off klonopin"
    assert rows[2]["created"] == "2024-03-10T12:00:00+00:00" and rows[2]["created_at"] == NOW
    assert {"id", "conversation_id", "name", "phone", "best_time", "about", "status", "note", "updated_by",
            "updated_at"} <= set(rows[0])
    assert done.stderr.strip() == "3 callback requests"


def test_list_an_empty_queue(url):
    done = run(url, "list")
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr.strip() == "0 callback requests"


def test_list_with_status_and_limit(url, queue):
    eng = engine(url)
    callbacks.mark(eng, queue["Ana"], "done", "nurse-a", "spoke with her son", now=NOW + 9000)
    callbacks.mark(eng, queue["Ben"], "done", "nurse-a", now=NOW + 9000)
    done = run(url, "list", "--status", "done")
    assert [line.split()[0] for line in done.stdout.splitlines()] == [queue["Ben"], queue["Ana"]]
    assert done.stdout.splitlines()[1].endswith("  note: spoke with her son")
    assert "note:" not in done.stdout.splitlines()[0]
    assert done.stderr.strip() == "2 callback requests"
    done = run(url, "list", "--status", "done", "--limit", "1", "--format", "json")
    assert [r["id"] for r in json_lines(done.stdout)] == [queue["Ben"]]
    assert done.stderr.strip() == "1 callback request"
    done = run(url, "list", "--limit", "2")
    assert [line.split()[0] for line in done.stdout.splitlines()] == [queue["Cy"], queue["Ben"]]
    done = run(url, "list", "--status", "no_answer")
    assert done.returncode == 0 and done.stdout == "" and done.stderr.strip() == "0 callback requests"


# --- mark -------------------------------------------------------------------------------------

def test_mark_with_a_note_as_someone(url, queue):
    done = run(url, "mark", queue["Ana"], "called", "--note", "left a voicemail", "--as", "nurse-a")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip() == f"callback request {queue['Ana']} marked called"
    got = callbacks.get(engine(url), queue["Ana"])
    assert (got.status, got.note, got.updated_by) == ("called", "left a voicemail", "nurse-a")
    [entry] = audit.entries(engine(url), target=queue["Ana"])
    assert (entry.actor, entry.action, entry.detail) == ("nurse-a", "mark_callback", "called")


def test_mark_defaults_to_the_os_user(url, queue):
    import getpass

    done = run(url, "mark", queue["Ben"], "no_answer")
    assert done.returncode == 0, done.stderr
    got = callbacks.get(engine(url), queue["Ben"])
    assert got.status == "no_answer" and got.updated_by == getpass.getuser() and got.note is None


def test_mark_an_unknown_id_exits_1(url, queue):
    done = run(url, "mark", "0" * 32, "done")
    assert done.returncode == 1
    assert one_error_line(done) == f"error: no callback request with id {'0' * 32}"
    assert [c.status for c in callbacks.listing(engine(url))] == ["new", "new", "new"]


# --- export -----------------------------------------------------------------------------------

def test_export_csv_to_a_private_file(url, queue, tmp_path):
    out = tmp_path / "queue.csv"
    done = run(url, "export", "--format", "csv", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip() == "exported 3 callback requests"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["id"] for r in rows] == [queue["Cy"], queue["Ben"], queue["Ana"]]
    assert rows[0]["name"] == "Cy O'Neil" and rows[0]["email"] == "cy@example.org"
    assert rows[2]["created"] == "2024-03-10T12:00:00+00:00"


def test_export_jsonl_to_stdout_with_a_status(url, queue):
    callbacks.mark(engine(url), queue["Cy"], "called", "nurse-a")
    done = run(url, "export", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in json_lines(done.stdout)] == [queue["Cy"], queue["Ben"], queue["Ana"]]
    assert done.stderr.strip() == "exported 3 callback requests"
    done = run(url, "export", "--format", "jsonl", "--status", "called")
    assert [(r["id"], r["status"]) for r in json_lines(done.stdout)] == [(queue["Cy"], "called")]
    assert done.stderr.strip() == "exported 1 callback request"


def test_export_csv_to_stdout(url, queue):
    done = run(url, "export", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["name"] for r in rows] == ["Cy O'Neil", "Ben", "Ana Ruiz"]


def test_export_of_an_empty_queue(url, tmp_path):
    out = tmp_path / "empty.jsonl"
    done = run(url, "export", "--format", "jsonl", "--out", str(out))
    assert done.returncode == 0 and out.read_text() == ""
    assert done.stderr.strip() == "exported 0 callback requests"


def test_export_into_a_missing_folder_fails_cleanly(url, queue, tmp_path):
    done = run(url, "export", "--format", "csv", "--out", str(tmp_path / "no" / "such" / "folder.csv"))
    assert done.returncode == 1
    assert one_error_line(done).startswith("error: FileNotFoundError")


# --- bad arguments and a broken database --------------------------------------------------------

@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["list", "--status", "deleted"],
    ["list", "--limit", "ten"],
    ["list", "--format", "xml"],
    ["mark", "abc"],
    ["mark", "abc", "deleted"],
    ["mark", "abc", "new", "--nope"],
    ["export"],  # --format is required
    ["export", "--format", "xml"],
    ["export", "--format", "csv", "--status", "gone"],
])
def test_bad_arguments_exit_2(url, queue, args):
    done = run(url, *args)
    assert done.returncode == 2, (args, done.stdout, done.stderr)
    assert "usage:" in done.stderr
    assert done.stdout == ""
    assert [c.status for c in callbacks.listing(engine(url))] == ["new", "new", "new"]


@pytest.mark.parametrize("limit", ["-1", "0"])
def test_bug_a_limit_that_is_not_positive_is_a_bad_argument(url, queue, limit):
    done = run(url, "list", "--limit", limit)
    assert done.returncode == 2, (
        f"BUG bot/cli/callbacks.py register(): `callbacks list --limit {limit}` exits {done.returncode} with "
        f"{len(done.stdout.splitlines())} rows (type=int accepts it; on SQLite LIMIT -1 lists everything, on "
        f"PostgreSQL it is a database error); `review list --limit` rejects it with exit 2 (_positive_int)")


def test_bug_export_over_an_existing_file_is_still_private(url, queue, tmp_path):
    out = tmp_path / "queue.csv"
    out.write_text("old export\n")
    out.chmod(0o644)
    done = run(url, "export", "--format", "csv", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "Ana Ruiz" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600, (
        "BUG bot/cli/callbacks.py run_export(): os.open(..., O_CREAT | O_TRUNC, 0o600) only sets the mode of a "
        "file it creates; an existing --out file keeps its mode (here 0644), so visitors' names and numbers are "
        "written into a file other users can read")


def test_a_broken_database_exits_1_with_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run(f"sqlite:///{blocker / 'db.sqlite'}", "list")
    assert done.returncode == 1
    assert one_error_line(done).startswith("error: ")
    assert "Traceback" not in done.stderr


def test_an_invalid_setting_exits_2(url):
    environment = {**os.environ, "DATABASE_URL": url, "PORT": "not-a-port"}
    done = subprocess.run([sys.executable, "-m", "bot", "callbacks", "list"], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert one_error_line(done).startswith("error: invalid setting: ")
