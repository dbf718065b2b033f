"""Safe YAML reading through libyaml's C parser when PyYAML was built with it, else PyYAML's own.

The C parser reads the crisis and evaluation files (2.6 MB of labelled messages, 0.7 MB of held-out cases)
about ten times faster and gives the same data for them; on a syntax error it raises ``yaml.MarkedYAMLError``
with the line, as PyYAML's own does. The two are not identical on every edge of YAML (the C parser accepts a
``?`` before ``]`` in a flow list, which PyYAML's refuses), so ``tests/test_yaml_io.py`` checks the project's files.
"""
from __future__ import annotations

from typing import Any

import yaml

SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``text`` parsed as YAML with plain types only (what ``yaml.safe_load`` gives)."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader (C or Python)
