"""Merging a labelled training inbox (:mod:`bot.retrain.inbox`) into the project's training data.

Every entry is checked first; if anything is wrong, nothing is written and every problem is
reported with the inbox file's line (:class:`InboxError`). Refused: an unknown intent (with
the closest names; a "new topic" whose name is close to an existing topic's is taken for a
typo), ``emergency`` (emergencies are trained by developers from the crisis suites), an
example the crisis rules read as an emergency, Rasa's entity markup in a text, an example
labelled two ways (two entries, or an entry and the training data). Skipped and
counted: duplicates (of the training data or of another entry), held-out evaluation cases,
entries labelled ``ignore``.

Then examples are appended to their intent's block in ``data/nlu``
(:mod:`bot.retrain.training_data`). A new FAQ topic ``faq/<topic>`` gets its block (in
``data/nlu/<topic>.yml`` or the entry's ``file``), an ``utter_faq/<topic>`` response in
``domain.yml`` with an empty text (pending in :mod:`bot.retrain.approvals` until written and
approved) and a "did you mean" question (the entry's ``question``) in ``data/suggestions.yml``.
``file`` and ``question`` are ignored once the topic exists: applying a file twice changes
nothing the second time.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import yaml

from bot.names import EMERGENCY_INTENT
from bot.retrain.inbox import IGNORE, plural
from bot.retrain.training_data import (
    ENTITY_MARKUP,
    FAQ_PREFIX,
    FILE_NAME,
    TOPIC_NAME,
    DataError,
    NluFile,
    Project,
    TrainingData,
    clean_text,
    domain_intents,
    held_out_key,
    load_yaml,
    norm,
    read_held_out,
    scaffold_answer,
    scaffold_suggestion,
    write_atomic,
)

APPLIED_KEYS = ("text", "intent", "also", "file", "question")
INFO_KEYS = ("guess", "why", "seen", "last_seen", "conversations")
MAX_TEXT = 1000
# A new topic's name this close to an existing one (difflib ratio) is taken for a typo, not a new topic.
NEW_TOPIC_CUTOFF = 0.8


class InboxError(ValueError):
    """The inbox file cannot be applied: one line per problem, each naming the file and line."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass
class Entry:
    """One entry of the inbox file, with the lines where its parts are."""

    line: int
    text: str | None = None
    intent: str | None = None
    also: List[Tuple[str, int]] = field(default_factory=list)  # (text, line)
    file: str | None = None
    question: str | None = None
    lines: Dict[str, int] = field(default_factory=dict)  # key -> line


@dataclass
class Report:
    """What applying did (or would do, for a dry run)."""

    added: Dict[str, List[str]] = field(default_factory=dict)  # intent -> new examples
    files: List[Path] = field(default_factory=list)  # files written
    new_topics: List[str] = field(default_factory=list)  # faq/<topic>
    duplicates: int = 0
    held_out: int = 0
    ignored: int = 0

    @property
    def examples(self) -> int:
        """How many examples were added."""
        return sum(len(t) for t in self.added.values())


# --- reading the inbox file -------------------------------------------------------------------

def _scalar(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode):
        return None if node.tag.endswith(":null") else str(node.value)
    return None


def read_entries(path: Path) -> List[Entry]:
    """The entries of an inbox file; InboxError naming the line of a syntax or layout problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise InboxError([f"{path}: cannot read it ({e.strerror or e})"]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" line {mark.line + 1}" if mark else ""
        raise InboxError([f"{path}{where}: not valid YAML: {e.problem or e}"]) from None
    if root is None:
        return []
    entries_node = None
    if isinstance(root, yaml.MappingNode):
        entries_node = next((v for k, v in root.value if _scalar(k) == "entries"), None)
    if entries_node is None:
        raise InboxError([f"{path} line {root.start_mark.line + 1}: expected `entries:` with a list of entries "
                          f"(python -m bot inbox export writes one)"])
    if isinstance(entries_node, yaml.ScalarNode) and _scalar(entries_node) is None:
        return []  # "entries:" with nothing under it
    if not isinstance(entries_node, yaml.SequenceNode):
        raise InboxError([f"{path} line {entries_node.start_mark.line + 1}: `entries:` must be a list of entries"])
    problems, out = [], []
    for item in entries_node.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            problems.append(f"{path} line {line}: an entry must have `text:` and `intent:`")
            continue
        entry = Entry(line)
        for key_node, value in item.value:
            key, at = _scalar(key_node) or "", key_node.start_mark.line + 1
            entry.lines[key] = at
            if key in INFO_KEYS:
                continue
            if key not in APPLIED_KEYS:
                problems.append(f"{path} line {at}: unknown key {key!r} (an entry has {', '.join(APPLIED_KEYS)})")
            elif key == "also":
                if isinstance(value, yaml.SequenceNode) and all(_scalar(v) is not None for v in value.value):
                    entry.also = [(str(_scalar(v)), v.start_mark.line + 1) for v in value.value]
                elif _scalar(value) is not None or isinstance(value, yaml.SequenceNode):
                    problems.append(f"{path} line {at}: `also` must be a list of texts")
            elif not isinstance(value, yaml.ScalarNode):
                problems.append(f"{path} line {at}: `{key}` must be a single value")
            else:
                setattr(entry, key, _scalar(value))
        out.append(entry)
    if problems:
        raise InboxError(problems)
    return out


# --- checking ---------------------------------------------------------------------------------

@dataclass
class _Plan:
    added: Dict[str, List[str]] = field(default_factory=dict)
    topics: Dict[str, Tuple[str, str, int]] = field(default_factory=dict)  # faq/<t> -> (file, question, line)
    problems: List[str] = field(default_factory=list)
    report: Report = field(default_factory=Report)


def close_names(intent: str, valid: Sequence[str], n: int, cutoff: float) -> List[str]:
    """The valid names closest to ``intent`` (FAQ topics compared without their ``faq/`` prefix)."""
    if intent.startswith(FAQ_PREFIX):
        topics = {v[len(FAQ_PREFIX):]: v for v in valid if v.startswith(FAQ_PREFIX)}
        return [topics[t] for t in difflib.get_close_matches(intent[len(FAQ_PREFIX):], topics, n=n, cutoff=cutoff)]
    return difflib.get_close_matches(intent, valid, n=n, cutoff=cutoff)


def _unknown(path: Path, line: int, intent: str, valid: Sequence[str]) -> str:
    close = close_names(intent, valid, 3, 0.7)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return (f"{path} line {line}: unknown intent {intent!r}{hint}: use an existing one (listed at the top of the "
            f"file), faq/<new_topic> for a new FAQ topic (a name unlike the existing ones), or {IGNORE}")


def _plan(entries: Sequence[Entry], path: Path, project: Project, data: TrainingData,
          screen: Callable[[str], bool] | None, held_out: set[str]) -> _Plan:
    valid = domain_intents(load_yaml(project.domain))
    plan = _Plan()
    existing: Dict[str, Tuple[str, str]] = {}  # norm -> (intent, where)
    for ex in data.examples():
        existing.setdefault(norm(ex.text), (ex.intent, f"{ex.path.relative_to(project.root)} line {ex.line}"))
    labelled: Dict[str, Tuple[str, int]] = {}  # norm -> (intent, inbox line)
    for entry in entries:
        at = entry.lines.get("intent", entry.line)
        intent = (entry.intent or "").strip()
        if not (entry.text or "").strip():
            plan.problems.append(f"{path} line {entry.line}: the entry has no text")
            continue
        if not intent:
            plan.problems.append(f"{path} line {at}: no intent for {clean_text(entry.text or '')[:60]!r}: choose an "
                                 f"existing one, faq/<new_topic>, or {IGNORE}")
            continue
        if intent == IGNORE:
            plan.report.ignored += 1
            continue
        if intent == EMERGENCY_INTENT:
            plan.problems.append(f"{path} line {at}: the inbox never trains the emergency intent: emergencies are "
                                 f"trained by developers from the crisis suites (tell them; label this {IGNORE})")
            continue
        new_topic = intent not in valid
        if new_topic and not (intent.startswith(FAQ_PREFIX) and TOPIC_NAME.match(intent[len(FAQ_PREFIX):])
                              and not close_names(intent, valid, 1, NEW_TOPIC_CUTOFF)):
            plan.problems.append(_unknown(path, at, intent, valid))
            continue
        if new_topic:
            _new_topic(plan, path, entry, intent)
        examples = [(entry.text or "", entry.lines.get("text", entry.line))] + entry.also
        for raw, line in examples:
            _example(plan, path, intent, clean_text(raw), line, existing, labelled, screen, held_out)
    for topic, (_file, _question, line) in plan.topics.items():
        if not plan.added.get(topic):
            plan.problems.append(f"{path} line {line}: the new topic {topic} would have no examples (all were "
                                 f"duplicates or held-out cases)")
    return plan


def _new_topic(plan: _Plan, path: Path, entry: Entry, intent: str) -> None:
    name = intent[len(FAQ_PREFIX):]
    file_name = (entry.file or name).strip()
    if file_name.endswith(".yml"):
        file_name = file_name[:-4]
    if not FILE_NAME.match(file_name):
        plan.problems.append(f"{path} line {entry.lines.get('file', entry.line)}: `file` must be a plain name such as "
                             f"{name} (for data/nlu/{name}.yml)")
        return
    question = clean_text(entry.question or entry.text or "")
    known = plan.topics.get(intent)
    if known is None:
        plan.topics[intent] = (file_name, question, entry.lines.get("intent", entry.line))
    elif entry.file and known[0] != file_name:
        plan.problems.append(f"{path} line {entry.lines['file']}: {intent} goes to data/nlu/{known[0]}.yml "
                             f"(line {known[2]}); give one file per topic")
    elif entry.question:
        plan.topics[intent] = (known[0], question, known[2])


def _example(plan: _Plan, path: Path, intent: str, text: str, line: int, existing: Dict[str, Tuple[str, str]],
             labelled: Dict[str, Tuple[str, int]], screen: Callable[[str], bool] | None, held_out: set[str]) -> None:
    key = norm(text)
    if not key:
        return
    if len(text) > MAX_TEXT:
        plan.problems.append(f"{path} line {line}: the text is longer than {MAX_TEXT} characters")
        return
    if ENTITY_MARKUP.search(text):
        plan.problems.append(f"{path} line {line}: {text[:60]!r} looks like Rasa's entity markup ([...](...)): "
                             f"remove the brackets")
        return
    if screen is not None and screen(text):
        plan.problems.append(f"{path} line {line}: the crisis rules read {text[:60]!r} as an emergency; the inbox "
                             f"never trains on emergencies: label it {IGNORE} (and tell the developers if the "
                             f"assistant missed it)")
        return
    if held_out_key(text) in held_out:
        plan.report.held_out += 1
        return
    if key in existing:
        other, where = existing[key]
        if other == intent:
            plan.report.duplicates += 1
        else:
            plan.problems.append(f"{path} line {line}: {text[:60]!r} labelled two ways: {intent} here, {other} in "
                                 f"{where}")
        return
    if key in labelled:
        other, first = labelled[key]
        if other == intent:
            plan.report.duplicates += 1
        else:
            plan.problems.append(f"{path} line {line}: {text[:60]!r} labelled two ways: {intent} here, {other} on "
                                 f"line {first}")
        return
    labelled[key] = (intent, line)
    plan.added.setdefault(intent, []).append(text)


# --- applying ---------------------------------------------------------------------------------

def apply(path: Path, project: Project = Project(), screen: Callable[[str], bool] | None = None,
          held_out: Sequence[Path] | None = None, dry_run: bool = False, today: date | None = None) -> Report:
    """Checks the inbox file at ``path`` and merges it into ``project``'s training data.

    ``screen``: the crisis rules (True for an emergency); ``held_out``: the evaluation sets
    (default: :meth:`Project.held_out`). Raises InboxError (nothing written) or DataError.
    """
    entries = read_entries(path)
    data = TrainingData.read(project)
    plan = _plan(entries, Path(path), project, data, screen,
                 read_held_out(project.held_out() if held_out is None else held_out))
    if plan.problems:
        raise InboxError(plan.problems)
    report = plan.report
    report.added = plan.added
    report.new_topics = list(plan.topics)
    changed: Dict[Path, str] = {}
    day = (today or date.today()).isoformat()
    for intent, texts in plan.added.items():
        if intent in plan.topics:
            continue
        target = data.file_of(intent)
        if target is None:
            raise DataError(f"{intent} is in {project.domain} but has no examples block in {project.nlu_dir}: add "
                            f"one by hand")
        target.add(intent, texts)
        changed[target.path] = target.text()
    domain_text = project.domain.read_text(encoding="utf-8")
    suggestions_text = project.suggestions.read_text(encoding="utf-8")
    for intent, (file_name, question, _line) in plan.topics.items():
        topic = intent[len(FAQ_PREFIX):]
        target_path = project.nlu_dir / f"{file_name}.yml"
        nlu = data.files.get(target_path)
        comment = f"{intent}: added by python -m bot inbox apply on {day}"
        if nlu is None:
            nlu = data.files[target_path] = NluFile.new(target_path, comment)
            comment = ""
        nlu.add_intent(intent, plan.added[intent], comment=comment)
        changed[target_path] = nlu.text()
        domain_text = scaffold_answer(domain_text, topic, project.domain)
        suggestions_text = scaffold_suggestion(suggestions_text, topic, question, project.suggestions)
        changed[project.domain] = domain_text
        changed[project.suggestions] = suggestions_text
    report.files = sorted(changed)
    if not dry_run:
        for target_path, text in changed.items():
            write_atomic(target_path, text)
    return report


def describe(report: Report, project: Project) -> str:
    """One line: what was added where, what was skipped."""
    def rel(p: Path) -> str:
        try:
            return str(p.relative_to(project.root))
        except ValueError:
            return str(p)

    per_intent = ", ".join(f"{intent} {len(texts)}" for intent, texts in report.added.items())
    parts = [f"added {plural(report.examples, 'example')}"
             + (f" ({per_intent})" if per_intent else "")]
    if report.files:
        parts.append("changed " + ", ".join(rel(p) for p in report.files))
    skipped = [plural(report.duplicates, "duplicate"), plural(report.held_out, "held-out case"),
               f"{report.ignored} ignored"]
    skipped = [text for text in skipped if not text.startswith("0 ")]
    if skipped:
        parts.append("skipped " + ", ".join(skipped))
    return "; ".join(parts)


def next_steps(report: Report) -> List[str]:
    """What the admin does next (new topics need their answer written and approved)."""
    steps = []
    for intent in report.new_topics:
        topic = intent[len(FAQ_PREFIX):]
        steps.append(f"new topic {intent}: write its answer (utter_faq/{topic} in domain.yml, from the source pages), "
                     f"check its question in data/suggestions.yml, then: python -m bot answers approve {topic} --as "
                     f"YOUR_NAME")
    return steps
