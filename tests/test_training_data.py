"""Training data never contains the shared development set's messages (it must stay held out)."""
from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import ROOT, SHARED


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def test_no_dev_case_is_a_training_example():
    dev_file = SHARED / "eval" / "dev_cases.yml"
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
