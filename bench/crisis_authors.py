"""How the crisis layer does on messages by an author it never saw: leave one author out.

    python -m bench.crisis_authors [--model models/current.tar.gz] [--json FILE]

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
sealed half ``tests/crisis/sealed.yml`` is never part of it.
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

from bench.settings import ROOT

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
        for case in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
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

    importer = TrainingDataImporter.load_from_config(str(ROOT / "config.yml"), str(ROOT / "domain.yml"),
                                                     [str(ROOT / "data")])
    return SentenceEmbeddingFeaturizer({}).process_training_data(importer.get_nlu_data())


async def evaluate(model: Path) -> Dict[str, AuthorScore]:
    """Scores per author (the classifier retrained without the author each time)."""
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    from bot.channels.context import PREVIOUS_TEXT
    from bot.names import EMERGENCY_INTENT
    from bot.nlu.semantic_crisis import SemanticCrisisClassifier

    agent = Agent.load(str(model))
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


def main(argv: List[str] | None = None) -> None:
    """Prints the table (and writes the JSON when asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "current.tar.gz")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from rasa.utils.log_utils import configure_structlog

    logging.disable(logging.WARNING)
    configure_structlog(logging.WARNING)  # Rasa's structured debug lines (every parse) go to stdout otherwise
    rows = summary(asyncio.run(evaluate(args.model)))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(table(rows))


if __name__ == "__main__":
    main()
