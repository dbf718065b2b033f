"""Training data never contains the shared development set's messages (it must stay held out)."""
from __future__ import annotations

import re

import pytest
import yaml

from bot.settings import ROOT, SHARED_EVAL


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def test_no_dev_case_is_a_training_example():
    dev_file = SHARED_EVAL / "dev_cases.yml"
    if not dev_file.exists():
        pytest.fail(f"{dev_file} not found: the shared eval material must sit beside the project")
    dev = {norm(c["text"]) for c in yaml.safe_load(dev_file.read_text())} - {""}
    copies = []
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        for item in yaml.safe_load(path.read_text())["nlu"]:
            for line in item["examples"].splitlines():
                example = line.strip()[2:].strip()
                if norm(example) in dev:
                    copies.append(f"{path.name}: {example}")
    assert not copies, f"dev cases copied into training data: {copies}"


def test_every_faq_topic_has_examples_an_answer_and_a_suggestion():
    from bot.nlu.answer_fallback import load_suggestions

    trained = set()
    for path in (ROOT / "data" / "nlu").glob("*.yml"):
        for item in yaml.safe_load(path.read_text())["nlu"]:
            if str(item.get("intent", "")).startswith("faq/"):
                trained.add(item["intent"].split("/", 1)[1])
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    answered = {name.split("/", 1)[1] for name in domain["responses"] if name.startswith("utter_faq/")}
    suggested = set(load_suggestions())
    assert trained, "no faq/<topic> examples found"
    assert trained == answered, f"topics without an answer: {trained - answered}; answers without examples: " \
                                f"{answered - trained}"
    assert trained == suggested, f"topics without a suggestion: {trained - suggested}; suggestions without a " \
                                 f"topic: {suggested - trained}"
