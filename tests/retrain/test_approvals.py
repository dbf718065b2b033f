"""Answer approvals (``data/approvals.yml``): the project's answers are all approved, a changed, new or
empty answer is pending until approved, and ``python -m bot answers`` as admins run it (on a copy
of the project, never the real ``domain.yml`` or ``data/``)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from bot.retrain import approvals
from bot.retrain.approvals import APPROVED, CHANGED, EMPTY, NEVER, ApprovalError
from bot.settings import ROOT

SEED_APPROVER = "project team (initial answers, checked against the source pages)"
INSURANCE = "utter_faq/insurance"
CONTACT_TEXT = '    - text: "Call {center_name} at {center_phone}, {center_hours}.\\nSource: {source_atmc}"'


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of domain.yml and data/ (with data/approvals.yml)."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "data", root / "data")
    shutil.copy(ROOT / "domain.yml", root / "domain.yml")
    return root


def paths(root: Path) -> tuple[Path, Path]:
    return root / "domain.yml", root / "data" / "approvals.yml"


def edit_answer(root: Path, old: str, new: str) -> None:
    domain = root / "domain.yml"
    text = domain.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    domain.write_text(text.replace(old, new), encoding="utf-8")


def answers(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "answers", *args, "--project", str(root)], cwd=ROOT,
                          env=dict(os.environ), capture_output=True, text=True, timeout=120)


# --- the project's own answers ----------------------------------------------------------------

def test_every_answer_of_the_project_is_approved():
    domain, stamps = paths(ROOT)
    waiting = [f"{s.name}: {s.reason}" for s in approvals.status(domain, stamps) if s.pending]
    assert not waiting, ("answers changed or added without an approval; after checking them against the source "
                         f"pages: python -m bot answers approve NAME --as YOUR_NAME. {waiting}")


def test_the_stamps_cover_every_faq_answer_and_the_safety_replies():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    faq = {name for name in domain["responses"] if name.startswith("utter_faq/")}
    stamps = approvals.load(ROOT / "data" / "approvals.yml")
    safety = {"utter_emergency", "utter_crisis_reminder", "utter_distress", "utter_privacy"}
    assert set(approvals.SAFETY_RESPONSES) == safety
    assert faq | safety <= set(stamps)
    assert "utter_greet" not in stamps
    for name in faq | safety:
        assert len(stamps[name].sha256) == 64
        date.fromisoformat(stamps[name].approved_at)


# --- states -----------------------------------------------------------------------------------

def test_a_changed_answer_is_pending_until_approved_again(project):
    domain, stamps = paths(project)
    edit_answer(project, "We accept most PPO insurance plans", "We accept most PPO insurance plans.")
    [found] = [s for s in approvals.status(domain, stamps) if s.pending]
    assert (found.name, found.state) == (INSURANCE, CHANGED)
    assert found.reason.startswith(f"text changed since approved by {SEED_APPROVER} on ")
    assert approvals.pending(domain, stamps) == [INSURANCE]
    before = approvals.load(stamps)
    assert approvals.approve(["insurance"], "  Dr.  Samuel Lee ", domain, stamps, on=date(2027, 1, 5)) == [INSURANCE]
    assert approvals.pending(domain, stamps) == []
    after = approvals.load(stamps)
    assert after[INSURANCE].approved_by == "Dr. Samuel Lee" and after[INSURANCE].approved_at == "2027-01-05"
    assert {n: a for n, a in after.items() if n != INSURANCE} == {n: a for n, a in before.items() if n != INSURANCE}
    assert list(after) == list(before), "the file keeps the domain's order"


def test_every_variation_counts_and_buttons_do_not(project):
    domain, stamps = paths(project)
    seizure = "Call {emergency_number} now. A seizure during"
    edit_answer(project, seizure, seizure.replace("now.", "now!"))
    assert approvals.pending(domain, stamps) == ["utter_emergency"], "the seizure variation, third of seven"
    approvals.approve(["utter_emergency"], "Dr. Lee", domain, stamps)
    edit_answer(project, '- {title: "Have us verify your insurance", payload:',
                '- {title: "Verify my insurance", payload:')
    assert approvals.pending(domain, stamps) == []


def test_the_hash_is_of_the_exact_texts_joined():
    texts = ["first variation", "second"]
    import hashlib

    assert approvals.answer_hash(texts) == hashlib.sha256(b"first variation\n\x1e\nsecond").hexdigest()
    assert approvals.answer_hash(["a b"]) != approvals.answer_hash(["a  b"]), "exact strings, not normalised away"
    assert approvals.answer_hash(["a", "b"]) != approvals.answer_hash(["a\n\x1eb"])


def test_without_an_approvals_file_nothing_is_approved(project):
    domain, stamps = paths(project)
    stamps.unlink()
    found = approvals.status(domain, stamps)
    assert found and {s.state for s in found} == {NEVER}
    assert approvals.pending(domain, stamps)[:2] == ["utter_emergency", "utter_crisis_reminder"]
    approvals.approve(["utter_privacy"], "Dr. Lee", domain, stamps)
    assert "utter_privacy" not in approvals.pending(domain, stamps)
    assert stamps.read_text().startswith("# Who approved each answer's text")
    assert oct(stamps.stat().st_mode & 0o777) == "0o644"


def test_an_empty_answer_is_pending_and_cannot_be_approved(project):
    domain, stamps = paths(project)
    edit_answer(project, CONTACT_TEXT, '    - text: ""')
    [found] = [s for s in approvals.status(domain, stamps) if s.pending]
    assert (found.name, found.state) == ("utter_faq/contact", EMPTY) and "no answer text yet" in found.reason
    before = stamps.read_text()
    with pytest.raises(ApprovalError, match="utter_faq/contact has no answer text yet"):
        approvals.approve(["utter_privacy", "contact"], "Dr. Lee", domain, stamps)
    assert stamps.read_text() == before, "nothing approved when one is refused"


@pytest.mark.parametrize("name", ["insurance", "faq/insurance", "utter_faq/insurance"])
def test_names_as_people_type_them(project, name):
    domain, stamps = paths(project)
    assert approvals.approve([name], "Dr. Lee", domain, stamps) == [INSURANCE]


@pytest.mark.parametrize("name, by, message", [
    ("utter_greet", "Dr. Lee", "no answer 'utter_greet'"),
    ("insurence", "Dr. Lee", "no answer 'insurence'"),
    ("insurance", "   ", "say who approves"),
    ("insurance", "x" * 201, "longer than 200"),
])
def test_refused_approvals_write_nothing(project, name, by, message):
    domain, stamps = paths(project)
    before = stamps.read_text()
    with pytest.raises(ApprovalError, match=message):
        approvals.approve([name], by, domain, stamps)
    assert stamps.read_text() == before


def test_malformed_files_are_errors_naming_the_file_and_line(project):
    domain, stamps = paths(project)
    stamps.write_text("approvals:\n  utter_privacy:\n    sha256: [unclosed\n")
    with pytest.raises(ApprovalError, match=rf"{stamps} line \d+: not valid YAML"):
        approvals.pending(domain, stamps)
    stamps.write_text("approvals:\n  utter_privacy: yes\n")
    with pytest.raises(ApprovalError, match="utter_privacy: a stamp needs sha256, approved_by and approved_at"):
        approvals.load(stamps)
    stamps.write_text("approvals: []\n")
    with pytest.raises(ApprovalError, match="must map response names"):
        approvals.load(stamps)
    stamps.unlink()
    (project / "domain.yml").unlink()
    with pytest.raises(ApprovalError, match="domain.yml: cannot read it"):
        approvals.pending(domain, stamps)


def test_a_name_with_quotes_round_trips(project):
    domain, stamps = paths(project)
    approvals.approve(["insurance"], 'Dr. "Sam" Lee: MD # chief', domain, stamps)
    assert approvals.load(stamps)[INSURANCE].approved_by == 'Dr. "Sam" Lee: MD # chief'
    assert approvals.status(domain, stamps)[0].state == APPROVED


# --- the command ------------------------------------------------------------------------------

def test_the_answers_command_lists_and_approves(project):
    edit_answer(project, "We accept most PPO insurance plans", "We accept most PPO plans")
    listed = answers(project, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any(line.startswith(INSURANCE) and "PENDING" in line and "text changed since approved by" in line
               for line in lines)
    assert any(line.startswith("utter_emergency") and " ok " in line and SEED_APPROVER in line for line in lines)
    total = len(lines)
    assert listed.stderr.strip() == f"{total} answers: {total - 1} approved, 1 pending"

    waiting = answers(project, "pending")
    assert waiting.returncode == 0 and waiting.stdout.splitlines()[0].startswith(INSURANCE)
    assert waiting.stderr.strip().startswith("1 answer pending: approve with python -m bot answers approve")

    done = answers(project, "approve", "insurance", "--as", "Dr. Samuel Lee")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == f"approved 1 answer as Dr. Samuel Lee: {INSURANCE}"
    assert answers(project, "pending").stderr.strip() == "0 answers pending"
    assert answers(project, "approve", "--all", "--as", "x").stderr.strip() == (
        "nothing to approve: every answer is approved")


@pytest.mark.parametrize("args, message", [
    (["approve", "insurance"], "the following arguments are required: --as"),
    (["approve", "--as", "Dr. Lee"], "name the answers to approve, or --all (not both)"),
    (["approve", "insurance", "--all", "--as", "Dr. Lee"], "name the answers to approve, or --all (not both)"),
    (["approve", "utter_greet", "--as", "Dr. Lee"], "no answer 'utter_greet'"),
    (["approve", "--as"], "argument --as: expected one argument"),
])
def test_bad_input_is_one_line_and_exit_code_2(project, args, message):
    done = answers(project, *args)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line


def test_approve_all_refuses_while_an_answer_is_empty(project):
    edit_answer(project, CONTACT_TEXT, '    - text: ""')
    done = answers(project, "approve", "--all", "--as", "Dr. Lee")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: utter_faq/contact has no answer text yet: write it in domain.yml first"


def test_a_broken_approvals_file_is_one_line(project):
    (project / "data" / "approvals.yml").write_text("approvals: {\n")
    done = answers(project, "pending")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {project / 'data' / 'approvals.yml'} line ")


def test_not_a_project_directory(tmp_path):
    done = answers(tmp_path, "list")
    assert done.returncode == 2 and "is not a project directory" in done.stderr
