"""Who approved each answer's text, and when: ``data/approvals.yml``.

Like the "medically reviewed" stamp on the center's pages, every answer a visitor can get
carries a stamp: who approved its text, on which day, and the SHA-256 of the text approved.
The answers stamped are every ``utter_faq/<topic>`` response of ``domain.yml`` and the safety
replies of :data:`SAFETY_RESPONSES`. An answer is *pending* when its text was never approved,
changed since it was approved, or is empty (a new FAQ topic scaffolded by
``python -m bot inbox apply`` has ``text: ""`` until someone writes it).

The hash covers the text of every variation of the response, in order: the exact strings of
``text`` joined by :data:`SEPARATOR` (buttons and conditions are not part of it). Editing a
single character of an answer makes it pending again.

API for retraining (``python -m bot retrain`` refuses to promote while anything is pending)::

    from bot.retrain import approvals

    names = approvals.pending(domain_path, approvals_path)     # [] when every answer is approved
    for s in approvals.status(domain_path, approvals_path):    # every stamped answer, domain order
        if s.pending:
            print(f"{s.name}: {s.reason}")                      # e.g. "changed since approved by ..."

* :func:`pending` ``(domain_path, approvals_path) -> list[str]``: the response names pending, in
  the domain's order; :func:`status` the same with a state and a reason for each answer.
* :func:`approve` ``(names, by, domain_path, approvals_path, on=None) -> list[str]``: stamps
  answers (refuses an unknown name or an empty text with :class:`ApprovalError`).
* :func:`load` ``(approvals_path) -> dict[str, Approval]``; :func:`answer_hash`.

A missing approvals file means nothing is approved yet. A malformed file, or a domain that
cannot be read, raises :class:`ApprovalError` (its message names the file, and the line for
YAML errors). Nothing here touches a file at import.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Sequence

import yaml

from bot.names import CRISIS_REMINDER_RESPONSE, EMERGENCY_RESPONSE
from bot.retrain.training_data import write_atomic

FAQ_PREFIX = "utter_faq/"
SAFETY_RESPONSES = (EMERGENCY_RESPONSE, CRISIS_REMINDER_RESPONSE, "utter_distress", "utter_privacy")
SEPARATOR = "\n\x1e\n"  # between variations' texts (a record separator: never in an answer)
APPROVED, CHANGED, NEVER, EMPTY = "approved", "changed", "never approved", "empty"
MAX_NAME = 200

HEADER = """\
# Who approved each answer's text, and when: the assistant's "medically reviewed" stamp.
# Written by `python -m bot answers approve NAME... --as WHO` (bot/retrain/approvals.py); do not
# edit by hand. sha256 is the hash of the text approved: when an answer's text in domain.yml
# changes, it no longer matches, `python -m bot answers pending` lists the answer, and retraining
# refuses to promote a model until someone approves the new text.
"""


class ApprovalError(ValueError):
    """An approvals or domain file that cannot be used, or an approval that is refused."""


@dataclass(frozen=True)
class Approval:
    """One stamp: the hash of the text approved, who approved it, the day (ISO date)."""

    sha256: str
    approved_by: str
    approved_at: str


@dataclass(frozen=True)
class AnswerStatus:
    """An answer's state: ``approved``, ``changed``, ``never approved`` or ``empty``."""

    name: str
    state: str
    approval: Approval | None  # the latest stamp, if any (also for a changed answer)

    @property
    def pending(self) -> bool:
        """True unless the answer's current text is the one approved."""
        return self.state != APPROVED

    @property
    def reason(self) -> str:
        """One line for people: why it is pending, or who approved it and when."""
        a = self.approval
        if self.state == APPROVED and a is not None:
            return f"approved by {a.approved_by} on {a.approved_at}"
        if self.state == CHANGED and a is not None:
            return f"text changed since approved by {a.approved_by} on {a.approved_at}"
        if self.state == EMPTY:
            return "no answer text yet: write it in domain.yml, then approve it"
        return "never approved"


# --- reading ----------------------------------------------------------------------------------

def _yaml_file(path: Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ApprovalError(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ApprovalError(f"{path}{where}: not valid YAML: {e.problem or e}") from None
    except yaml.YAMLError as e:
        raise ApprovalError(f"{path}: not valid YAML: {e}") from None


def stamped(responses: Mapping[str, Any]) -> List[str]:
    """The names of the responses that need a stamp, in the domain's order."""
    return [name for name in responses if name.startswith(FAQ_PREFIX) or name in SAFETY_RESPONSES]


def texts_of(variations: Any) -> List[str]:
    """The ``text`` of each variation of a response (``""`` where a variation has none)."""
    if not isinstance(variations, list):
        return []
    return [str(v.get("text") or "") if isinstance(v, dict) else "" for v in variations]


def answer_hash(texts: Sequence[str]) -> str:
    """SHA-256 (hex) of a response's variation texts, exactly as written, joined by SEPARATOR."""
    return hashlib.sha256(SEPARATOR.join(texts).encode("utf-8")).hexdigest()


def answers(domain_path: Path) -> Dict[str, List[str]]:
    """Every stamped response of the domain: name -> its variations' texts, domain order."""
    domain = _yaml_file(domain_path)
    responses = domain.get("responses") if isinstance(domain, dict) else None
    if not isinstance(responses, dict):
        raise ApprovalError(f"{domain_path}: no `responses:` mapping")
    return {name: texts_of(responses[name]) for name in stamped(responses)}


def load(approvals_path: Path) -> Dict[str, Approval]:
    """The stamps of ``approvals_path`` (none if the file does not exist)."""
    if not Path(approvals_path).exists():
        return {}
    data = _yaml_file(approvals_path)
    if data is None:
        return {}
    entries = data.get("approvals") if isinstance(data, dict) else []
    if entries is None:
        return {}
    if not isinstance(entries, dict):
        raise ApprovalError(f"{approvals_path}: `approvals:` must map response names to stamps")
    out: Dict[str, Approval] = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict) or not all(entry.get(k) for k in ("sha256", "approved_by", "approved_at")):
            raise ApprovalError(f"{approvals_path}: {name}: a stamp needs sha256, approved_by and approved_at")
        out[str(name)] = Approval(str(entry["sha256"]), str(entry["approved_by"]), str(entry["approved_at"]))
    return out


def _state(texts: Sequence[str], approval: Approval | None) -> str:
    if not texts or any(not t.strip() for t in texts):
        return EMPTY
    if approval is None:
        return NEVER
    return APPROVED if approval.sha256 == answer_hash(texts) else CHANGED


def status(domain_path: Path, approvals_path: Path) -> List[AnswerStatus]:
    """Every stamped answer of the domain with its state, in the domain's order."""
    stamps = load(approvals_path)
    return [AnswerStatus(name, _state(texts, stamps.get(name)), stamps.get(name))
            for name, texts in answers(domain_path).items()]


def pending(domain_path: Path, approvals_path: Path) -> List[str]:
    """The answers nobody approved in their current text (changed, never approved or empty), domain order."""
    return [s.name for s in status(domain_path, approvals_path) if s.pending]


# --- approving --------------------------------------------------------------------------------

def resolve(name: str, known: Iterable[str]) -> str | None:
    """A response name from what people type: ``utter_faq/insurance``, ``faq/insurance``, ``insurance``."""
    names = list(known)
    for candidate in (name, f"utter_{name}", f"{FAQ_PREFIX}{name}"):
        if candidate in names:
            return candidate
    return None


def _clean_name(by: str) -> str:
    who = " ".join(str(by or "").split())
    if not who:
        raise ApprovalError("say who approves: --as NAME")
    if len(who) > MAX_NAME:
        raise ApprovalError(f"the approver's name is longer than {MAX_NAME} characters")
    return who


def approve(names: Iterable[str], by: str, domain_path: Path, approvals_path: Path,
            on: date | None = None) -> List[str]:
    """Stamps these answers' current text as approved by ``by`` today (or ``on``); their full names.

    Refuses (:class:`ApprovalError`, nothing written) an unknown name or an answer with an empty
    text. Approving an answer again stamps it anew.
    """
    who = _clean_name(by)
    current = answers(domain_path)
    chosen: List[str] = []
    for name in names:
        full = resolve(name, current)
        if full is None:
            raise ApprovalError(f"no answer {name!r} in {domain_path} (python -m bot answers list shows them)")
        texts = current[full]
        if _state(texts, None) == EMPTY:
            raise ApprovalError(f"{full} has no answer text yet: write it in {domain_path} first")
        if full not in chosen:
            chosen.append(full)
    stamps = load(approvals_path)
    day = (on or date.today()).isoformat()
    for full in chosen:
        stamps[full] = Approval(answer_hash(current[full]), who, day)
    save(stamps, approvals_path, order=list(current))
    return chosen


def render(stamps: Mapping[str, Approval], order: Sequence[str] = ()) -> str:
    """The approvals file's text: the header, then each stamp (``order`` first, the rest sorted)."""
    names = [n for n in order if n in stamps] + sorted(n for n in stamps if n not in order)
    lines = [HEADER.rstrip("\n"), "approvals:"]
    for name in names:
        a = stamps[name]
        lines += [f"  {json.dumps(name)}:", f"    sha256: {json.dumps(a.sha256)}",
                  f"    approved_by: {json.dumps(a.approved_by)}", f"    approved_at: {json.dumps(a.approved_at)}"]
    if not names:
        lines[-1] = "approvals: {}"
    return "\n".join(lines) + "\n"


def save(stamps: Mapping[str, Approval], approvals_path: Path, order: Sequence[str] = ()) -> None:
    """Writes the approvals file (a temporary file renamed over it: never half-written)."""
    write_atomic(Path(approvals_path), render(stamps, order))
