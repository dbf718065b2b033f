"""Rule-based crisis detection: the patterns (``patterns.yml``) and their matcher."""
from __future__ import annotations

import functools

from bot.crisis.matcher import CrisisMatcher, load_spacy
from bot.settings import SPACY_DIR


@functools.lru_cache(maxsize=1)
def shared_matcher() -> CrisisMatcher:
    """One matcher per process for code outside the NLU pipeline (channels, tools), built on first use."""
    return CrisisMatcher(nlp=load_spacy(SPACY_DIR))
