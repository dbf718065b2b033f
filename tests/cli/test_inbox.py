"""``python -m bot inbox`` as admins run it: a subprocess on a real database (SQLite, and PostgreSQL
where the database matters) and a copy of the project (``--project``), with the real crisis rules:
its files, its one summary line on stderr, its error lines and exit codes."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest
import yaml

from bot.retrain.training_data import Project, TrainingData
from bot.settings import ROOT
from bot.store import audit, engine
from tests.retrain import test_inbox as library
from tests.retrain.test_inbox import missed, snapshot, store, user

project = library.project  # the fixture: a copy of the project's data and domain

CRISIS = "i am going to kill myself tonight"


def inbox(url: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Runs ``python -m bot inbox ARGS`` against the database at ``url``."""
    env: Dict[str, str] = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bot", "inbox", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def last_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.strip().splitlines() if line]
    assert lines, done
    return lines[-1]


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    from bot.store import create_tables

    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    create_tables(url)
    return url


def seed(url: str) -> None:
    # questions that no training or evaluation file holds whole: the inbox leaves those out (stop 30: a crisis
    # author's earlier message "do you take medicare?" in data/crisis/training.yml hid the seed this test had)
    store(url, "c1", [missed("do you take medicare advantage?"), missed("Do you take Medicare Advantage"),
                      missed(CRISIS), missed("hiya mate", guess="greet"),
                      user("i took all of my pills", "emergency", 0.99, kind="overdose")])


# --- export -----------------------------------------------------------------------------------

def test_export_writes_a_private_file_and_one_summary_line(db_url, project, tmp_path):
    seed(db_url)
    out = tmp_path / "inbox.yml"
    done = inbox(db_url, "export", "--out", str(out), "--as", "alice", "--project", str(project.root))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600, "visitors' words: owner only"
    entries = yaml.safe_load(out.read_text())["entries"]
    assert [(e["text"], e["intent"], e["seen"]) for e in entries] == [
        ("do you take medicare advantage?", "faq/insurance", 2), ("hiya mate", "greet", 1)]
    text = out.read_text()
    assert CRISIS not in text and "pills" not in text
    assert last_line(done) == (
        f"exported 2 entries (3 messages) to {out}; left out: 1 emergency, 1 read as an emergency by the crisis "
        f"rules; next: edit each entry's intent, then python -m bot inbox apply {out}")
    assert [e.actor for e in audit.entries(engine(db_url)) if e.action == "inbox_export"] == ["alice"]


def test_export_never_overwrites_a_file_being_labelled(sqlite_url, project, tmp_path):
    seed(sqlite_url)
    out = tmp_path / "inbox.yml"
    out.write_text("my labels")
    done = inbox(sqlite_url, "export", "--out", str(out), "--project", str(project.root))
    assert done.returncode == 1
    assert one_error_line(done) == f"error: {out} exists (you may be labelling it): choose another --out, or --force"
    assert out.read_text() == "my labels"
    forced = inbox(sqlite_url, "export", "--out", str(out), "--force", "--project", str(project.root))
    assert forced.returncode == 0 and "medicare" in out.read_text()


def test_export_to_standard_output_and_the_default_file(sqlite_url, project, tmp_path):
    seed(sqlite_url)
    done = inbox(sqlite_url, "export", "--out", "-", "--project", str(project.root))
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["entries"][0]["text"] == "do you take medicare advantage?"
    assert last_line(done).startswith("exported 2 entries (3 messages) to -;")
    here = inbox(sqlite_url, "export", "--since", "30d", "--project", str(project.root), cwd=tmp_path)
    assert here.returncode == 0, here.stderr
    name = time.strftime("inbox-%Y-%m-%d.yml", time.gmtime())
    assert (tmp_path / name).is_file() and f"to {name};" in last_line(here)


# --- apply ------------------------------------------------------------------------------------

def test_export_label_apply(sqlite_url, project, tmp_path):
    seed(sqlite_url)
    out = tmp_path / "inbox.yml"
    assert inbox(sqlite_url, "export", "--out", str(out), "--project", str(project.root)).returncode == 0
    labelled = out.read_text().replace("intent: faq/insurance", "intent: faq/medicare\n  question: Do you take "
                                                                 "Medicare Advantage?")
    out.write_text(labelled)
    done = inbox(sqlite_url, "apply", str(out), "--project", str(project.root))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-2].startswith("new topic faq/medicare: write its answer (utter_faq/medicare in domain.yml")
    assert lines[-2].endswith("then: python -m bot answers approve medicare --as YOUR_NAME")
    assert lines[-1] == ("added 2 examples (faq/medicare 1, greet 1); changed data/nlu/conversation.yml, "
                         "data/nlu/medicare.yml, data/suggestions.yml, domain.yml")
    found = {(e.intent, e.text) for e in TrainingData.read(project).examples()}
    assert {("faq/medicare", "do you take medicare advantage?"), ("greet", "hiya mate")} <= found
    pending = subprocess.run([sys.executable, "-m", "bot", "answers", "pending", "--project", str(project.root)],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert pending.stdout.startswith("utter_faq/medicare") and "no answer text yet" in pending.stdout
    again = inbox(sqlite_url, "apply", str(out), "--project", str(project.root))
    assert again.returncode == 0 and last_line(again) == "added 0 examples; skipped 2 duplicates"


def test_apply_errors_name_the_line_and_change_nothing(sqlite_url, project, tmp_path):
    path = tmp_path / "labelled.yml"
    path.write_text("entries:\n- text: do you take medicare advantage\n  intent: faq/insurence\n"
                    f"- text: {CRISIS}\n  intent: distress\n- text: fine\n  intent: greet\n")
    before = snapshot(project)
    done = inbox(sqlite_url, "apply", str(path), "--project", str(project.root))
    assert done.returncode == 2
    lines = [line for line in done.stderr.strip().splitlines() if line.startswith("error: ")]
    assert lines[0].startswith(f"error: {path} line 3: unknown intent 'faq/insurence' (did you mean faq/insurance?)")
    assert lines[1].startswith(f"error: {path} line 4: the crisis rules read {CRISIS!r} as an emergency")
    assert lines[2] == f"error: {path}: 2 problems; nothing was changed"
    assert len(lines) == 3
    assert snapshot(project) == before


@pytest.mark.parametrize("content, fragment", [
    ("entries:\n- text: [unclosed\n", "line 3: not valid YAML"),
    ("- a list\n", "line 1: expected `entries:`"),
])
def test_a_broken_file_is_one_error_line_and_the_summary(sqlite_url, project, tmp_path, content, fragment):
    path = tmp_path / "labelled.yml"
    path.write_text(content)
    done = inbox(sqlite_url, "apply", str(path), "--project", str(project.root))
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors[0].startswith(f"error: {path} {fragment}") and len(errors) == 2


def test_apply_dry_run_and_missing_file(sqlite_url, project, tmp_path):
    path = tmp_path / "labelled.yml"
    path.write_text("entries:\n- text: do you take medicare advantage\n  intent: faq/medicare\n")
    before = snapshot(project)
    done = inbox(sqlite_url, "apply", str(path), "--dry-run", "--project", str(project.root))
    assert done.returncode == 0, done.stderr
    assert last_line(done).startswith("dry run, nothing changed: would have added 1 example (faq/medicare 1)")
    assert snapshot(project) == before
    missing = inbox(sqlite_url, "apply", str(tmp_path / "nope.yml"), "--project", str(project.root))
    assert missing.returncode == 2 and one_error_line(missing) == f"error: {tmp_path / 'nope.yml'}: no such file"


# --- mark -------------------------------------------------------------------------------------

def test_mark_adds_a_message_once_and_refuses_emergencies(db_url, project, tmp_path):
    store(db_url, "c9", [user("where do i park my car", "out_of_scope", 0.97),
                         user("i took all of my pills", "emergency", 0.99, kind="overdose")])
    done = inbox(db_url, "mark", "c9", "--text", "where do i park my car", "--as", "alice")
    assert done.returncode == 0 and done.stderr.strip() == "added 1 message of c9 to the training inbox"
    again = inbox(db_url, "mark", "c9", "--text", "where do i park my car", "--as", "bob")
    assert again.returncode == 0 and again.stderr.strip() == "already in the training inbox (c9)"
    unknown = inbox(db_url, "mark", "c9", "--text", "where do i park", "--as", "alice")
    assert unknown.returncode == 1
    assert one_error_line(unknown) == "error: conversation 'c9' has no visitor message with exactly this text"
    refused = inbox(db_url, "mark", "c9", "--text", "i took all of my pills", "--as", "alice")
    assert refused.returncode == 2
    assert one_error_line(refused).startswith("error: not marked: an emergency message never goes into training")
    out = tmp_path / "inbox.yml"
    assert inbox(db_url, "export", "--out", str(out), "--project", str(project.root)).returncode == 0
    [entry] = yaml.safe_load(out.read_text())["entries"]
    assert entry["text"] == "where do i park my car" and entry["why"] == "marked by alice"
    assert entry["intent"] == "out_of_scope"


# --- usage ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ([], "name a command: export, apply or mark"),
    (["export", "--since", "yesterday"], "invalid --since 'yesterday'"),
    (["mark", "c1"], "the following arguments are required: --text"),
    (["export", "--project", "/nonexistent"], "/nonexistent is not a project directory"),
])
def test_bad_input_is_one_line_and_exit_code_2(sqlite_url, args, message):
    done = inbox(sqlite_url, *args)
    assert done.returncode == 2
    assert message in one_error_line(done)


def test_a_database_that_does_not_answer_is_one_line_and_exit_code_1():
    done = inbox("postgresql://nobody@127.0.0.1:1/none", "mark", "c1", "--text", "hello")
    assert done.returncode == 1
    assert one_error_line(done).startswith("error: the database failed: ")


def test_project_paths_are_the_real_ones_by_default():
    assert Project().domain == ROOT / "domain.yml" and Project().nlu_dir == ROOT / "data" / "nlu"
