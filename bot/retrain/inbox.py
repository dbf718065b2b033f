"""The training inbox: what visitors asked that the assistant missed, for an admin to label.

A visitor message is in the inbox when the assistant did not understand it (``nlu_fallback``),
answered it with low confidence (below :data:`bot.store.conversations.LOW_CONFIDENCE`), or when
staff marked it (table ``inbox_marks``: ``python -m bot inbox mark`` or the "Add to training
inbox" button of the staff site's transcript). Never in it: emergencies (the ``emergency``
intent, a danger kind, or what the crisis rules read as one; emergencies are trained by
developers from the crisis suites), the callback form's masked answers, messages already in the
training data, and held-out evaluation cases.

:func:`export` groups near-duplicates, redacts visitors' details (:func:`bot.store.redact.redact`)
and writes a YAML file an admin edits: each entry's ``intent`` is pre-filled with the model's
guess. :mod:`bot.retrain.inbox_apply` merges the labelled file into ``data/nlu``. Marking and
exporting are audited (:mod:`bot.store.audit`); no log line carries a visitor's words.
"""
from __future__ import annotations

import difflib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, List, Sequence, TextIO, Tuple

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from bot.names import EMERGENCY_INTENT, FAQ_INTENT
from bot.retrain.training_data import held_out_key, norm
from bot.store import METADATA, audit
from bot.store.callbacks import MASK
from bot.store.conversations import EVENTS, FALLBACK_INTENT, LOW_CONFIDENCE, USER, danger_kind
from bot.store.redact import redact

MARKS = sa.Table(
    "inbox_marks", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # conversation_events.id (no foreign key: deleting a conversation must never fail on a mark;
    # marks of deleted events are pruned by the next export)
    sa.Column("event_id", sa.Integer, nullable=False, unique=True),
    sa.Column("conversation_id", sa.String(256), nullable=False, index=True),
    sa.Column("marked_by", sa.String(128), nullable=False),
    sa.Column("marked_at", sa.Float, nullable=False),
)

IGNORE = "ignore"
NEAR = 0.9  # two messages whose normalised texts are this similar (difflib ratio) are one entry
MAX_ALSO = 10  # other phrasings kept per entry
MAX_CONVERSATIONS = 3  # conversation ids shown per entry
NOT_UNDERSTOOD, LOW, MARKED = "not understood", "low confidence", "marked"
# Why a message was left out of the export (the summary counts them).
LEFT_EMERGENCY, LEFT_CRISIS_RULES, LEFT_KNOWN, LEFT_HELD_OUT = (
    "emergency", "read as an emergency by the crisis rules", "already in the training data",
    "held-out evaluation case")
Screen = Callable[[str], bool]  # True: the crisis rules read the text as an emergency


class MarkRefused(ValueError):
    """A message that may not go into the training inbox (the message says why)."""


# --- marks ------------------------------------------------------------------------------------

def refusal(intent: str | None, text: str | None, data: str | None = None) -> str | None:
    """Why a visitor message may not be marked for training, or None."""
    if intent == EMERGENCY_INTENT or (data and danger_kind({"data": data})):
        return ("an emergency message never goes into training through the inbox: emergencies are trained "
                "by developers from the crisis suites")
    if text is None or text == MASK:
        return "this is a callback form answer (the visitor's details): it never goes into training"
    if not text.strip():
        return "the message is empty"
    return None


def mark_event(engine: Engine, conversation_id: str, event_id: int, actor: str, now: float | None = None) -> bool:
    """Puts one visitor message of a conversation in the inbox; False if it was there already.

    KeyError if the conversation has no visitor message with this id; MarkRefused for an
    emergency or a callback answer. Audited (``inbox_mark``) in the same transaction.
    """
    e = EVENTS.c
    with engine.begin() as conn:
        row = conn.execute(sa.select(e.id, e.intent_name, e.text, e.data).where(
            e.id == event_id, e.conversation_id == conversation_id, e.type_name == USER)).first()
        if row is None:
            raise KeyError(event_id)
        reason = refusal(row.intent_name, row.text, row.data)
        if reason is not None:
            raise MarkRefused(reason)
        if conn.execute(sa.select(MARKS.c.id).where(MARKS.c.event_id == event_id)).first() is not None:
            return False
        conn.execute(MARKS.insert().values(event_id=event_id, conversation_id=conversation_id,
                                           marked_by=actor[:128], marked_at=time.time() if now is None else now))
        audit.record(conn, actor, "inbox_mark", conversation_id, f"message {event_id} added to the training inbox")
    return True


def mark_text(engine: Engine, conversation_id: str, text: str, actor: str,
              now: float | None = None) -> Tuple[List[int], List[int]]:
    """Marks the conversation's visitor messages whose text is exactly ``text`` (ends trimmed).

    Returns (ids newly marked, ids marked before). KeyError if no visitor message of the
    conversation has this text; MarkRefused if every one that has is an emergency or a
    callback answer.
    """
    e = EVENTS.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(e.id, e.intent_name, e.text, e.data).where(
            e.conversation_id == conversation_id, e.type_name == USER, e.text.isnot(None)).order_by(e.id)).all()
    found = [r for r in rows if (r.text or "").strip() == text.strip()]
    if not found:
        raise KeyError(conversation_id)
    allowed = [r for r in found if refusal(r.intent_name, r.text, r.data) is None]
    if not allowed:
        raise MarkRefused(refusal(found[0].intent_name, found[0].text, found[0].data) or "refused")
    added: List[int] = []
    before: List[int] = []
    for r in allowed:
        (added if mark_event(engine, conversation_id, int(r.id), actor, now) else before).append(int(r.id))
    return added, before


def prune_marks(engine: Engine) -> int:
    """Deletes the marks of messages no longer stored (a conversation purged or deleted); how many."""
    with engine.begin() as conn:
        gone = ~sa.exists().where(EVENTS.c.id == MARKS.c.event_id)
        return int(conn.execute(MARKS.delete().where(gone)).rowcount or 0)


# --- collecting -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """One visitor message of the inbox, redacted, with the model's guess."""

    event_id: int
    conversation_id: str
    timestamp: float
    text: str  # redacted
    reason: str  # NOT_UNDERSTOOD, LOW or MARKED
    guess: str | None  # the label the model leaned to: faq/<topic> or an intent
    confidence: float | None
    marked_by: str | None = None


def model_guess(intent: str | None, confidence: float | None, data: Dict[str, Any]) -> Tuple[str | None, float | None]:
    """The model's best label for a message: its intent, or for ``nlu_fallback`` the best of its
    ranking (an FAQ as ``faq/<topic>`` from the answer ranking); never ``emergency``."""
    parse = data.get("parse_data") or {}
    selector = ((parse.get("response_selector") or {}).get(FAQ_INTENT) or {})

    def best_answer() -> Tuple[str | None, float | None]:
        ranking = selector.get("ranking") or []
        if ranking and ranking[0].get("intent_response_key"):
            return str(ranking[0]["intent_response_key"]), float(ranking[0].get("confidence") or 0.0)
        key = (selector.get("response") or {}).get("intent_response_key")
        return (str(key), confidence) if key else (None, None)

    if intent not in (None, FALLBACK_INTENT, EMERGENCY_INTENT, FAQ_INTENT):
        return intent, confidence
    if intent == FAQ_INTENT:
        return best_answer()
    for ranked in parse.get("intent_ranking") or []:
        name = ranked.get("name")
        if name in (FALLBACK_INTENT, EMERGENCY_INTENT, None):
            continue
        if name == FAQ_INTENT:
            return best_answer()
        return str(name), float(ranked.get("confidence") or 0.0)
    return None, None


def candidates(engine: Engine, since: float | None = None) -> List[Candidate]:
    """The inbox's messages (since ``since``), oldest first, before any screening but the
    emergency intent and the callback mask."""
    e, m = EVENTS.c, MARKS.c
    wanted = sa.or_(e.intent_name == FALLBACK_INTENT, m.id.isnot(None),
                    sa.and_(e.confidence < LOW_CONFIDENCE, e.intent_name.notin_((EMERGENCY_INTENT, FALLBACK_INTENT))))
    query = (sa.select(e.id, e.conversation_id, e.timestamp, e.intent_name, e.confidence, e.text, e.data, m.marked_by)
             .select_from(EVENTS.outerjoin(MARKS, m.event_id == e.id))
             .where(e.type_name == USER, e.text.isnot(None), wanted).order_by(e.timestamp, e.id))
    if since is not None:
        query = query.where(e.timestamp >= since)
    out: List[Candidate] = []
    with engine.connect() as conn:
        for r in conn.execute(query):
            if refusal(r.intent_name, r.text, r.data) is not None:
                continue
            data = json.loads(r.data)
            guess, confidence = model_guess(r.intent_name, r.confidence, data)
            reason = (MARKED if r.marked_by is not None else NOT_UNDERSTOOD if r.intent_name == FALLBACK_INTENT
                      else LOW)
            out.append(Candidate(int(r.id), r.conversation_id, float(r.timestamp), redact(" ".join(r.text.split())),
                                 reason, guess, confidence, r.marked_by))
    return out


@dataclass
class Group:
    """Near-duplicate messages: one inbox entry."""

    key: str
    members: List[Candidate] = field(default_factory=list)

    @property
    def variants(self) -> List[str]:
        """One text per distinct phrasing (:func:`norm`), the most frequent first (ties: the earliest);
        each phrasing written as visitors wrote it most often."""
        phrasings: Dict[str, Counter] = {}
        first: Dict[str, int] = {}
        for i, c in enumerate(self.members):
            key = norm(c.text)
            phrasings.setdefault(key, Counter())[c.text] += 1
            first.setdefault(key, i)
        order = sorted(phrasings, key=lambda k: (-sum(phrasings[k].values()), first[k]))
        return [phrasings[k].most_common(1)[0][0] for k in order]

    def guess(self) -> Tuple[str | None, float | None]:
        """The most common guess of the members, with its highest confidence."""
        guesses = Counter(c.guess for c in self.members if c.guess)
        if not guesses:
            return None, None
        best = guesses.most_common(1)[0][0]
        return best, max((c.confidence or 0.0) for c in self.members if c.guess == best)

    def why(self) -> str:
        """Why these messages are here, e.g. ``not understood (2), marked by alice``."""
        counts = Counter(c.reason for c in self.members if c.reason != MARKED)
        parts = [f"{reason} ({n})" if n > 1 else reason for reason, n in counts.items()]
        markers = sorted({c.marked_by for c in self.members if c.marked_by})
        if markers:
            parts.append("marked by " + ", ".join(markers))
        return ", ".join(parts)


def group(found: Iterable[Candidate]) -> List[Group]:
    """Near-duplicates together (same normalised text, or a difflib ratio of at least NEAR)."""
    groups: Dict[str, Group] = {}
    for c in found:
        key = norm(c.text)
        if not key:
            continue
        target = groups.get(key)
        if target is None:
            matcher = difflib.SequenceMatcher(None, b=key, autojunk=False)
            for other in groups.values():
                matcher.set_seq1(other.key)
                if matcher.real_quick_ratio() >= NEAR and matcher.quick_ratio() >= NEAR and matcher.ratio() >= NEAR:
                    target = other
                    break
        if target is None:
            target = groups[key] = Group(key)
        target.members.append(c)
    return sorted(groups.values(), key=lambda g: (-len(g.members), -max(c.timestamp for c in g.members)))


@dataclass
class Collected:
    """What an export found: the entries, and how many messages were left out and why."""

    groups: List[Group]
    messages: int
    left_out: Counter = field(default_factory=Counter)


def collect(engine: Engine, since: float | None = None, screen: Screen | None = None,
            known: Iterable[str] = (), held_out: Iterable[str] = ()) -> Collected:
    """The inbox: candidates screened (crisis rules, training data, held-out cases) and grouped.

    ``known``: :func:`norm` keys of the training examples; ``held_out``: :func:`held_out_key`
    keys of the evaluation cases; ``screen``: the crisis rules (None: only the stored intent counts).
    """
    known_keys, held = set(known), set(held_out)
    left: Counter = Counter()
    kept: List[Candidate] = []
    e = EVENTS.c
    with engine.connect() as conn:
        emergencies = conn.execute(sa.select(sa.func.count()).where(
            e.type_name == USER, e.intent_name == EMERGENCY_INTENT,
            *([e.timestamp >= since] if since is not None else []))).scalar()
    found = candidates(engine, since)
    for c in found:
        if screen is not None and screen(c.text):
            left[LEFT_CRISIS_RULES] += 1
        elif norm(c.text) in known_keys:
            left[LEFT_KNOWN] += 1
        elif held_out_key(c.text) in held:
            left[LEFT_HELD_OUT] += 1
        else:
            kept.append(c)
    if emergencies:
        left[LEFT_EMERGENCY] = int(emergencies)
    return Collected(group(kept), len(kept), left)


# --- the file ---------------------------------------------------------------------------------

HEADER = """\
# Training inbox: what visitors asked that the assistant did not understand, answered with low
# confidence, or that staff marked. Exported {when} by `python -m bot inbox export`.
# Visitors' details are redacted ([phone], [email]...). Near-duplicates are one entry (`seen` times).
#
# For each entry, set `intent:` (pre-filled with the model's guess, `guess`) to one of:
#   - an existing topic or intent (the list is at the end of this comment), e.g. faq/insurance;
#   - a new FAQ topic: faq/<new_topic> (lowercase letters, digits and _). Optionally add
#       file: NAME          the examples go to data/nlu/NAME.yml (default data/nlu/<new_topic>.yml)
#       question: TEXT      its "did you mean" button (default: the entry's text)
#     The topic's answer is scaffolded empty in domain.yml: write it, then approve it with
#     `python -m bot answers approve <new_topic> --as YOUR_NAME`; retraining refuses until then;
#   - ignore: not an example to train on.
# You may correct `text`, and delete lines of `also` (other phrasings, added with the same intent).
# `guess`, `why`, `seen`, `last_seen` and `conversations` are for you; they are not applied.
# Then: python -m bot inbox apply THIS_FILE
# Emergencies never come here: the crisis suites train them (ask the developers).
#
# Intents:
{intents}
"""


def _wrapped(names: Sequence[str], width: int = 100) -> str:
    lines, line = [], "#  "
    for name in names:
        if len(line) + len(name) + 1 > width:
            lines.append(line.rstrip())
            line = "#  "
        line += f" {name}"
    lines.append(line.rstrip())
    return "\n".join(lines)


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).date().isoformat()


def entry(g: Group) -> Dict[str, Any]:
    """One entry of the inbox file."""
    variants = g.variants
    guess, confidence = g.guess()
    shown = f"{guess} ({confidence:.0%})" if guess and confidence is not None else guess or "none"
    out: Dict[str, Any] = {"text": variants[0], "intent": guess or "", "guess": shown, "why": g.why(),
                           "seen": len(g.members), "last_seen": _day(max(c.timestamp for c in g.members))}
    if len(variants) > 1:
        out["also"] = variants[1:1 + MAX_ALSO]
    conversation_ids: List[str] = []
    for c in reversed(g.members):
        if c.conversation_id not in conversation_ids:
            conversation_ids.append(c.conversation_id)
    out["conversations"] = conversation_ids[:MAX_CONVERSATIONS]
    return out


def render(groups: Sequence[Group], intents: Sequence[str], now: float | None = None) -> str:
    """The inbox file: the header (how to label, the intents) and one entry per group."""
    when = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = yaml.safe_dump({"entries": [entry(g) for g in groups]}, sort_keys=False, allow_unicode=True,
                          width=10_000, default_flow_style=False)
    names = [i for i in intents if i != EMERGENCY_INTENT] + [IGNORE]
    return HEADER.format(when=when, intents=_wrapped(names)) + "\n" + body


def plural(count: int, noun: str) -> str:
    """``1 entry``, ``2 entries``, ``3 messages``."""
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"


def export(engine: Engine, out: TextIO, intents: Sequence[str], actor: str, target: str,
           since: float | None = None, screen: Screen | None = None, known: Iterable[str] = (),
           held_out: Iterable[str] = (), now: float | None = None) -> Collected:
    """Writes the inbox file to ``out``; audited (``inbox_export``, ``target`` names where it went)."""
    prune_marks(engine)
    found = collect(engine, since, screen, known, held_out)
    out.write(render(found.groups, intents, now))
    left = "; ".join(f"{n} {why}" for why, n in sorted(found.left_out.items())) or "none"
    with engine.begin() as conn:
        audit.record(conn, actor, "inbox_export", target[:256],
                     f"{plural(len(found.groups), 'entry')} from {plural(found.messages, 'message')}, redacted; "
                     f"left out: {left}")
    return found
