"""Rasa graph component: reads a short follow-up in the context of the visitor's previous message.

"how long do they last?" after "what are common withdrawal symptoms?", "why is that?" after
"are benzos addictive?", "and for klonopin?": on their own these say too little to answer.
When a message is short and leans on the one before (it starts with "and"/"what about", or
refers back with "they", "that", "it", "those", "ones"...), this component, first in the
pipeline, puts the previous message (``previous_text`` metadata, set by the channels,
``bot/channels/context.py``) before it, so that everything after it (the classifier, the
crisis rules: "he's still not waking up" after an overdose) reads both together. The
visitor's own words are unchanged in the conversation; only what the NLU reads is.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.channels.context import PREVIOUS_TEXT
from bot.names import OWN_TEXT
from bot.nlu.base import ConfiguredComponent

_WORD = re.compile(r"[a-z']+|\?")
OPENERS = {"and", "but", "also", "so", "plus", "or"}
PAIRED_OPENERS = {("what", "about"), ("how", "about"), ("what", "if")}
PRONOUNS = {"they", "them", "those", "these", "it", "ones", "theirs", "there", "he", "she", "him", "her",
            "his", "their", "he's", "she's", "it's", "they're", "hes", "shes", "theyre"}
# "that"/"this" refer back when a verb, an adjective or the end follows ("is that covered", "why is that?"),
# not when a noun does ("is this chat private?")
DEMONSTRATIVES = {"that", "this"}
AFTER_DEMONSTRATIVE = {"?", "is", "was", "be", "'s", "normal", "true", "bad", "ok", "okay", "safe", "dangerous",
                       "common", "covered", "mean", "means", "happen", "happens", "work", "works", "last", "take",
                       "help", "cost", "permanent", "real", "right"}


def is_followup(text: str, max_words: int = 8) -> bool:
    """Whether ``text`` is a short message that leans on the previous one."""
    words = _WORD.findall(text.lower())
    plain = [w for w in words if w != "?"]
    if not plain or len(plain) > max_words:
        return False
    if plain[0] in OPENERS or tuple(plain[:2]) in PAIRED_OPENERS:
        return True
    for i, w in enumerate(words):
        if w in PRONOUNS:
            return True
        if w in DEMONSTRATIVES and (i + 1 == len(words) or words[i + 1] in AFTER_DEMONSTRATIVE):
            return True
    return False


def read_after(previous: str, text: str) -> str:
    """``text`` read after the visitor's ``previous`` message, as every reader of a follow-up sees it."""
    return f"{previous.strip()} {text.strip()}"


def gives_context(previous: str) -> bool:
    """Whether the previous message can give a follow-up its topic: words, not a phone number or an
    e-mail address (answers to the callback form are not context for the question after them)."""
    return "@" not in previous and len(re.findall(r"[^\W\d_]{3,}", previous)) >= 2


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class FollowUpContext(ConfiguredComponent):
    """Prefixes a follow-up with the visitor's previous message before anything reads it."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The component's default config."""
        return {"max_words": 8}

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training examples have no previous message: they pass through."""
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Rewrites the text of each follow-up that has a previous message."""
        for message in messages:
            previous = (message.get("metadata") or {}).get(PREVIOUS_TEXT)
            text = message.get(TEXT) or ""
            if (isinstance(previous, str) and gives_context(previous)
                    and is_followup(text, self.config["max_words"])):
                message.set(OWN_TEXT, text)
                message.set(TEXT, read_after(previous, text))
        return messages
