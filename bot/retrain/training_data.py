"""The project's training data as files people also edit by hand: read it, extend it in place.

Edits are text-level, never a YAML dump of a whole file, so the files keep their layout and
comments: an example is a new ``- text`` line at the end of its intent's ``examples: |`` block
(``data/nlu/*.yml``); a new FAQ topic is a new block (in a new file or at the end of one), a
scaffolded ``utter_faq/<topic>`` response in ``domain.yml`` (empty text and a TODO comment)
and a scaffolded question in ``data/suggestions.yml``. Every edit is checked by parsing the
result with YAML before anything is written, and files are replaced atomically.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence

import yaml

from bot import yaml_io
from bot.names import FAQ_INTENT
from bot.settings import ROOT

FAQ_PREFIX = FAQ_INTENT + "/"
TOPIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
# Rasa reads "[text](entity)", "[text]{...}" and "[text][...]" in an example as entity annotations.
ENTITY_MARKUP = re.compile(r"\[[^\]\n]*\]\s*[({\[]")
_INTENT_LINE = re.compile(r"^(?P<indent>[ ]*)- intent:\s*(?P<name>[^#]+?)\s*(#.*)?$")
_EXAMPLES_LINE = re.compile(r"^(?P<indent>[ ]*)examples:\s*\|[-+]?\s*(#.*)?$")
_TOP_KEY = re.compile(r"^[^\s#]")


class DataError(ValueError):
    """A training data file that cannot be read or edited safely (the message names it)."""


@dataclass(frozen=True)
class Project:
    """Where a project's files are (the real one by default; tests use a copy)."""

    root: Path = ROOT

    @property
    def nlu_dir(self) -> Path:
        """``data/nlu``: the training examples."""
        return self.root / "data" / "nlu"

    @property
    def domain(self) -> Path:
        """``domain.yml``: intents and answers."""
        return self.root / "domain.yml"

    @property
    def suggestions(self) -> Path:
        """``data/suggestions.yml``: each FAQ topic's "did you mean" question."""
        return self.root / "data" / "suggestions.yml"

    @property
    def approvals(self) -> Path:
        """``data/approvals.yml``: who approved each answer (:mod:`bot.retrain.approvals`)."""
        return self.root / "data" / "approvals.yml"

    def held_out(self) -> List[Path]:
        """The evaluation sets that must never become training data (those that exist)."""
        tests = self.root / "tests"
        shared = self.root.parent / "shared" / "eval"
        # the crisis suites: the first suite, the sealed half and the held-out authors (pairs, unseen)
        paths = sorted((tests / "holdout").glob("*.yml")) + sorted((tests / "crisis").glob("*.yml"))
        # the crisis suites' tuning halves: the semantic crisis classifier's own labelled data, and a test suite
        paths += sorted((self.root / "data" / "crisis").glob("*.yml"))
        paths += sorted(shared.glob("dev_cases*.yml"))
        return [p for p in paths if p.is_file()]


# --- texts ------------------------------------------------------------------------------------

def clean_text(text: str) -> str:
    """An example as one line: whitespace runs (newlines too) become one space, ends trimmed."""
    return " ".join(str(text).split())


def norm(text: str) -> str:
    """The key under which two examples count as the same: case, punctuation and spacing ignored."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def held_out_key(text: str) -> str:
    """A coarser key for held-out cases: ASCII letters and digits only (catches what the tests catch)."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def read_held_out(paths: Sequence[Path]) -> set[str]:
    """:func:`held_out_key` of every string in these YAML files (cases, contexts, suite lists)."""
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, str):
            key = held_out_key(node)
            if key:
                keys.add(key)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in paths:
        walk(load_yaml(path))
    return keys


def load_yaml(path: Path) -> Any:
    """A YAML file's content; DataError naming the file and line if it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or e})") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> Any:
    """``text`` parsed; DataError naming ``path`` and the line on a syntax error."""
    try:
        return yaml_io.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise DataError(f"{path}{where}: not valid YAML: {e.problem or e}") from None
    except yaml.YAMLError as e:
        raise DataError(f"{path}: not valid YAML: {e}") from None


def write_atomic(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file renamed over it (keeps its permissions)."""
    path = Path(path)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


# --- data/nlu files ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Example:
    """One training example where it is written."""

    text: str
    intent: str
    path: Path
    line: int  # 1-based


@dataclass
class _Block:
    header: int  # index of the "- intent:" line
    last: int  # index of the block's last non-blank line (the "examples: |" line if empty)
    indent: str  # the examples' indentation


@dataclass
class NluFile:
    """One ``data/nlu`` file: its lines, and where each intent's examples block is."""

    path: Path
    lines: List[str]
    blocks: Dict[str, _Block] = field(default_factory=dict)
    examples: List[Example] = field(default_factory=list)
    item_indent: str = ""

    @classmethod
    def read(cls, path: Path) -> "NluFile":
        """Reads and indexes a file; DataError if its layout is not one this module can edit."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise DataError(f"{path}: cannot read it ({e.strerror or e})") from None
        return cls.parse(Path(path), text)

    @classmethod
    def parse(cls, path: Path, text: str) -> "NluFile":
        """Indexes ``text`` (the content of ``path``), checked against a YAML parse of it."""
        found = cls(path, text.split("\n"))
        found._index()
        found._check(parse_yaml(text, path))
        return found

    @classmethod
    def new(cls, path: Path, comment: str) -> "NluFile":
        """An empty training file (not written yet)."""
        return cls.parse(path, f'version: "3.1"\n# {comment}\nnlu:\n')

    def text(self) -> str:
        """The file's content."""
        return "\n".join(self.lines)

    def _index(self) -> None:
        self.blocks, self.examples = {}, []
        lines, i = self.lines, 0
        while i < len(lines):
            match = _INTENT_LINE.match(lines[i])
            if not match:
                i += 1
                continue
            name = match.group("name").strip().strip("'\"")
            self.item_indent = match.group("indent")
            j = i + 1
            while j < len(lines) and not _EXAMPLES_LINE.match(lines[j]) and (
                    not lines[j].strip() or _indent(lines[j]) > len(match.group("indent"))):
                j += 1
            key = _EXAMPLES_LINE.match(lines[j]) if j < len(lines) else None
            if key is None:
                raise DataError(f"{self.path} line {i + 1}: {name} has no `examples: |` block: edit it by hand")
            key_indent, block_indent, last, k = len(key.group("indent")), None, j, j + 1
            while k < len(lines):
                line = lines[k]
                if line.strip():
                    if _indent(line) <= key_indent or (block_indent is not None and _indent(line) < block_indent):
                        break
                    block_indent = _indent(line) if block_indent is None else block_indent
                    last = k
                    content = line[block_indent:]
                    if content.startswith("- "):
                        self.examples.append(Example(content[2:].strip(), name, self.path, k + 1))
                k += 1
            if name not in self.blocks:
                indent = " " * (block_indent if block_indent is not None else key_indent + 2)
                self.blocks[name] = _Block(i, last, indent)
            i = k

    def _check(self, parsed: Any) -> None:
        """The index must agree with YAML's reading of the file, or the file is not edited."""
        items = parsed.get("nlu") if isinstance(parsed, dict) else None
        if items is None:
            items = []
        if not isinstance(items, list):
            raise DataError(f"{self.path}: `nlu:` is not a list")
        expected: List[tuple[str, str]] = []
        for item in items:
            if isinstance(item, dict) and "intent" in item:
                for line in str(item.get("examples") or "").splitlines():
                    if line.strip().startswith("- "):
                        expected.append((str(item["intent"]), line.strip()[2:].strip()))
        mine = [(e.intent, e.text) for e in self.examples]
        if sorted(mine) != sorted(expected):
            raise DataError(f"{self.path}: its layout is not one `inbox apply` can edit safely; add the examples "
                            f"by hand")

    def add(self, intent: str, texts: Sequence[str]) -> None:
        """Appends examples to the end of ``intent``'s block (which must exist here)."""
        block = self.blocks[intent]
        self.lines[block.last + 1:block.last + 1] = [f"{block.indent}- {t}" for t in texts]
        self._reindex()

    def add_intent(self, intent: str, texts: Sequence[str], comment: str = "") -> None:
        """Appends a new intent with its examples at the end of the file."""
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()
        item = self.item_indent
        new = (["", f"{item}# {comment}"] if comment else []) + [f"{item}- intent: {intent}", f"{item}  examples: |"]
        self.lines += new + [f"{item}    - {t}" for t in texts] + [""]
        self._reindex()

    def _reindex(self) -> None:
        self._index()
        self._check(parse_yaml(self.text(), self.path))


@dataclass
class TrainingData:
    """Every ``data/nlu/*.yml`` file of a project, indexed."""

    files: Dict[Path, NluFile]

    @classmethod
    def read(cls, project: Project) -> "TrainingData":
        """Reads every training file."""
        return cls({p: NluFile.read(p) for p in sorted(project.nlu_dir.glob("*.yml"))})

    def examples(self) -> Iterator[Example]:
        """Every example, file by file."""
        for f in self.files.values():
            yield from f.examples

    def file_of(self, intent: str) -> NluFile | None:
        """The (first) file with ``intent``'s examples block."""
        return next((f for f in self.files.values() if intent in f.blocks), None)


# --- domain and suggestions -------------------------------------------------------------------

def domain_intents(domain: Any) -> List[str]:
    """The labels an example may have: the domain's intents (not the bare ``faq`` retrieval intent)
    and ``faq/<topic>`` for every ``utter_faq/<topic>`` response."""
    names: List[str] = []
    for item in (domain or {}).get("intents") or []:
        name = next(iter(item)) if isinstance(item, dict) else item
        if str(name) != FAQ_INTENT:
            names.append(str(name))
    names += [name[len("utter_"):] for name in (domain or {}).get("responses") or {}
              if str(name).startswith("utter_" + FAQ_PREFIX)]
    return names


def _section(lines: Sequence[str], key: str, path: Path) -> tuple[int, int]:
    """(index of the top-level ``key:`` line, index after its last indented line)."""
    start = next((i for i, line in enumerate(lines) if re.match(rf"^{re.escape(key)}:\s*(#.*)?$", line)), None)
    if start is None:
        raise DataError(f"{path}: no top-level `{key}:` block to add to")
    end = start + 1
    for i in range(start + 1, len(lines)):
        if _TOP_KEY.match(lines[i]):
            break
        if lines[i].strip() and not lines[i].lstrip().startswith("#"):
            end = i + 1
    return start, end


def _after_entry(lines: Sequence[str], key_line: int, stop: int) -> int:
    """Index after the last content line of the mapping entry starting at ``key_line``."""
    end, level = key_line + 1, _indent(lines[key_line])
    for i in range(key_line + 1, stop):
        if lines[i].strip():
            if _indent(lines[i]) <= level:
                break
            end = i + 1
    return end


def scaffold_answer(domain_text: str, topic: str, path: Path) -> str:
    """``domain.yml`` with an empty ``utter_faq/<topic>`` response after the last FAQ answer."""
    lines = domain_text.split("\n")
    start, end = _section(lines, "responses", path)
    answers = [i for i in range(start + 1, end) if re.match(r"^\s+utter_faq/[^:\s]+:", lines[i])]
    indent = " " * (_indent(lines[answers[-1]]) if answers else 2)
    at = _after_entry(lines, answers[-1], end) if answers else end
    new = [f"{indent}# TODO: answer text, from the source pages, then python -m bot answers approve {topic}",
           f"{indent}utter_faq/{topic}:", f'{indent}  - text: ""']
    if "&call_center" in "\n".join(lines[:at]):
        new.append(f"{indent}    buttons: [*call_center]")
    lines[at:at] = new
    text = "\n".join(lines)
    responses = (parse_yaml(text, path) or {}).get("responses") or {}
    variations = responses.get(f"utter_faq/{topic}")
    if not (isinstance(variations, list) and variations and variations[0].get("text") == ""):
        raise DataError(f"{path}: could not add utter_faq/{topic} safely; add it by hand")
    return text


def scaffold_suggestion(text: str, topic: str, question: str, path: Path) -> str:
    """``data/suggestions.yml`` with ``topic``'s question (and a TODO comment) at the end of the mapping."""
    lines = text.split("\n")
    start, end = _section(lines, "suggestions", path)
    entries = [i for i in range(start + 1, end) if lines[i].strip() and not lines[i].lstrip().startswith("#")]
    indent = " " * (_indent(lines[entries[0]]) if entries else 2)
    lines[end:end] = [f'{indent}# TODO: check the question of faq/{topic}\'s "did you mean" button',
                      f"{indent}{topic}: {json.dumps(question, ensure_ascii=False)}"]
    out = "\n".join(lines)
    found = ((parse_yaml(out, path) or {}).get("suggestions") or {}).get(topic)
    if found != question:
        raise DataError(f"{path}: could not add the question of {topic} safely; add it by hand")
    return out
