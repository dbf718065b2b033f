"""Rule-based crisis detection: the patterns (``patterns.yml``) and their matcher."""
from __future__ import annotations

import functools
from pathlib import Path

from bot.crisis.matcher import CrisisMatcher, load_spacy

SPACY_MODEL = Path(__file__).resolve().parent.parent.parent / "build" / "spacy_en"


@functools.lru_cache(maxsize=1)
def shared_matcher() -> CrisisMatcher:
    """One matcher per process for code outside the NLU pipeline (channels, tools), built on first use."""
    return CrisisMatcher(nlp=load_spacy(SPACY_MODEL))
