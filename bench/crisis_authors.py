"""How the crisis layer does on messages by an author it never saw: leave one author out.

    python -m bench.crisis_authors [--model models/current.tar.gz] [--json FILE] [--record FILE]
    python -m bench.crisis_authors --replay FILE [--set clause_veto=0.3 --set rule_veto=0.01 ...]

The labelled crisis messages of ``data/crisis/`` were written by several authors (their
``author`` field). For each author in turn, the crisis classifier
(:class:`bot.nlu.semantic_crisis.SemanticCrisisClassifier`, with the model's own config) is
trained on the NLU examples and every other author's messages, put in place of the model's
classifier, and the author's messages go through the trained model's whole NLU pipeline (the
rules, the n-gram intent classifier and :class:`bot.nlu.crisis_detector.CrisisDetector` as they
are): an emergency is caught when the intent comes out ``emergency``. Messages without an author
(``everyday.yml``'s farewells) are always training material. The n-gram intent classifier never
trains on these files, so only the crisis classifier has to be retrained.

This is how the thresholds in ``config.yml`` were chosen (README, "The crisis layer"): the
sealed half ``tests/crisis/sealed.yml`` is never part of it. ``--record`` also writes, one JSON line a
message, what :class:`bot.nlu.crisis_detector.CrisisDetector` read (the probabilities, the clauses, the
context reading, the intent and answer rankings); ``--replay`` decides again from such a file with
other thresholds (``--set name=value``), in seconds instead of the run's 20 minutes. The rules are the
current ``bot/crisis/patterns.yml``'s, so a rule change can be replayed too.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

import yaml

from bench.settings import PROJECT_CONFIG, ROOT
from bot import yaml_io

CRISIS_DIR = ROOT / "data" / "crisis"
NO_AUTHOR = "-"


@dataclass
class AuthorScore:
    """Caught emergencies and escalated look-alikes of one author."""

    emergencies: int = 0
    caught: int = 0
    look_alikes: int = 0
    escalated: int = 0
    missed: List[str] = field(default_factory=list)

    def add(self, emergency: bool, escalated: bool, text: str) -> None:
        """Counts one message."""
        if emergency:
            self.emergencies += 1
            self.caught += escalated
            if not escalated:
                self.missed.append(text)
        else:
            self.look_alikes += 1
            self.escalated += escalated

    def row(self) -> Dict[str, Any]:
        """Recall and over-escalation, with their counts."""
        return {"recall": self.caught / self.emergencies if self.emergencies else None,
                "emergencies": self.emergencies,
                "over_escalation": self.escalated / self.look_alikes if self.look_alikes else None,
                "look_alikes": self.look_alikes}


def labelled_cases(directory: Path = CRISIS_DIR) -> List[Dict[str, Any]]:
    """Every case of the labelled files, as written, with its author (``-`` when it has none)."""
    cases = []
    for path in sorted(directory.glob("*.yml")):
        for case in yaml_io.safe_load(path.read_text(encoding="utf-8")) or []:
            cases.append({**case, "author": str(case.get("author") or NO_AUTHOR)})
    return cases


def _classifier_node(agent: Any) -> Any:
    """The graph node that runs the crisis classifier in a loaded model."""
    from bot.nlu.semantic_crisis import SemanticCrisisClassifier

    for node in agent.processor.graph_runner._instantiated_nodes.values():
        if isinstance(node._component, SemanticCrisisClassifier):
            return node
    raise SystemExit("the model has no SemanticCrisisClassifier")


def _nlu_data() -> Any:
    """The project's NLU examples with their sentence vectors (what the classifier trains on)."""
    from rasa.shared.importers.importer import TrainingDataImporter

    from bot.nlu.sentence_embedder import SentenceEmbeddingFeaturizer

    importer = TrainingDataImporter.load_from_config(str(PROJECT_CONFIG), str(ROOT / "domain.yml"),
                                                     [str(ROOT / "data")])
    return SentenceEmbeddingFeaturizer({}).process_training_data(importer.get_nlu_data())


#: What the replay needs of a message's data (the crisis detector's inputs)
RECORDED_KEYS = ("text", "intent", "intent_ranking", "response_selector", "danger_probability",
                 "clause_danger_probabilities", "context_danger_probability", "own_text")


def _recorder(agent: Any, sink: List[Dict[str, Any]]) -> Any:
    """Wraps the model's crisis detector so that each message's inputs go to ``sink``; returns the detector."""
    from bot.nlu.crisis_detector import CrisisDetector

    detector = next((node._component for node in agent.processor.graph_runner._instantiated_nodes.values()
                     if isinstance(node._component, CrisisDetector)), None)
    if detector is None:
        raise SystemExit("the model has no CrisisDetector")
    decide = detector.process_one

    def recording(message: Any) -> None:
        sink.append(json.loads(json.dumps({k: message.get(k) for k in RECORDED_KEYS}, default=float)))
        decide(message)

    detector.process_one = recording  # type: ignore[method-assign]
    return detector


def replay(records: List[Dict[str, Any]], overrides: Dict[str, Any] | None = None,
           matcher: Any = None) -> Dict[str, AuthorScore]:
    """Scores per author, deciding again from recorded inputs with ``config.yml``'s detector settings changed by
    ``overrides`` (``matcher``: the rules to use, the project's by default)."""
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.crisis_detector import CrisisDetector

    detector = CrisisDetector({**_detector_config(), **(overrides or {})}, matcher=matcher)
    scores: Dict[str, AuthorScore] = {}
    for record in records:
        message = Message(data={k: v for k, v in record["data"].items() if v is not None})
        escalated = detector.decide(message)[1] is not None
        scores.setdefault(record["author"], AuthorScore()).add(record["label"] == "emergency", escalated,
                                                               record["text"])
    return scores


def _detector_config() -> Dict[str, Any]:
    """The crisis detector's settings in ``config.yml``."""
    pipeline = yaml.safe_load(PROJECT_CONFIG.read_text(encoding="utf-8"))["pipeline"]
    return next({k: v for k, v in c.items() if k != "name"} for c in pipeline
                if str(c["name"]).endswith("CrisisDetector"))


async def evaluate(model: Path, records: List[Dict[str, Any]] | None = None) -> Dict[str, AuthorScore]:
    """Scores per author (the classifier retrained without the author each time); each message's
    detector inputs go to ``records`` when given."""
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    from bot.channels.context import PREVIOUS_TEXT
    from bot.names import EMERGENCY_INTENT
    from bot.nlu.semantic_crisis import SemanticCrisisClassifier

    agent = Agent.load(str(model))
    sink: List[Dict[str, Any]] = []
    if records is not None:
        _recorder(agent, sink)
    node = _classifier_node(agent)
    own = node._component
    config = {k: v for k, v in own.config.items() if k != "examples"}
    nlu = _nlu_data()
    cases = labelled_cases()
    scores: Dict[str, AuthorScore] = {}
    try:
        for author in sorted({c["author"] for c in cases} - {NO_AUTHOR}):
            with tempfile.TemporaryDirectory() as tmp:
                others = Path(tmp) / "others.yml"
                others.write_text(yaml.safe_dump([c for c in cases if c["author"] != author]), encoding="utf-8")
                (Path(tmp) / "storage").mkdir()
                fold = SemanticCrisisClassifier.create({**config, "examples": [str(others)]},
                                                       LocalModelStorage(Path(tmp) / "storage"), Resource("fold"),
                                                       ExecutionContext(GraphSchema({}), "bench"))
                fold.train(nlu)
            node._component = fold
            print(f"author {author}: classifier trained without it; scoring...", file=sys.stderr, flush=True)
            score = scores.setdefault(author, AuthorScore())
            for case in (c for c in cases if c["author"] == author):
                context = case.get("context") or []
                metadata = {PREVIOUS_TEXT: context[-1]} if context else {}
                parsed = await agent.processor.parse_message(UserMessage(case["text"], metadata=metadata))
                escalated = (parsed.get("intent") or {}).get("name") == EMERGENCY_INTENT
                score.add(case["label"] == "emergency", escalated, case["text"])
                if records is not None and sink:
                    records.append({"author": author, "label": case["label"], "text": case["text"],
                                    "data": sink[-1]})
                sink.clear()
    finally:
        node._component = own
    return scores


def summary(scores: Dict[str, AuthorScore]) -> Dict[str, Dict[str, Any]]:
    """Each author's row and the total."""
    total = AuthorScore()
    for s in scores.values():
        total.emergencies += s.emergencies
        total.caught += s.caught
        total.look_alikes += s.look_alikes
        total.escalated += s.escalated
    return {**{a: s.row() for a, s in scores.items()}, "all": total.row()}


def table(rows: Dict[str, Dict[str, Any]]) -> str:
    """A Markdown table of the summary."""
    def rate(value: float | None, n: int) -> str:
        return "-" if value is None else f"{value:.3f} of {n}"

    lines = ["| author | emergency recall | look-alikes escalated |", "|---|---|---|"]
    for author, r in rows.items():
        lines.append(f"| {author} | {rate(r['recall'], r['emergencies'])} | "
                     f"{rate(r['over_escalation'], r['look_alikes'])} |")
    return "\n".join(lines)


def parse_settings(pairs: List[str]) -> Dict[str, Any]:
    """``["clause_veto=0.3", ...]`` as settings (numbers read as YAML reads them)."""
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"--set wants NAME=VALUE, got {pair!r}")
        settings[name.strip()] = yaml.safe_load(value)
    return settings


def main(argv: List[str] | None = None) -> None:
    """Prints the table (and writes the JSON when asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "current.tar.gz")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--record", type=Path, help="also write each message's detector inputs (JSON lines)")
    parser.add_argument("--replay", type=Path, help="decide again from a --record file instead of running")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a crisis detector setting changed for --replay (repeatable)")
    args = parser.parse_args(argv)
    from rasa.utils.log_utils import configure_structlog

    logging.disable(logging.WARNING)
    configure_structlog(logging.WARNING)  # Rasa's structured debug lines (every parse) go to stdout otherwise
    if args.replay:
        records = [json.loads(line) for line in args.replay.read_text(encoding="utf-8").splitlines() if line]
        rows = summary(replay(records, parse_settings(args.set)))
    else:
        recorded: List[Dict[str, Any]] | None = [] if args.record else None
        rows = summary(asyncio.run(evaluate(args.model, recorded)))
        if args.record and recorded is not None:
            args.record.write_text("".join(json.dumps(r) + "\n" for r in recorded), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(table(rows))


if __name__ == "__main__":
    main()
