"""Rasa graph component that overrides the intent with ``emergency`` on any sign of danger now.

It runs after intent classification. Three paths escalate, and any one is enough:
the rule-based :class:`bot.crisis.matcher.CrisisMatcher` (patterns in
``bot/crisis/patterns.yml``); the trained ``emergency`` intent (top of the ranking, or above
``classifier_threshold`` anywhere in it) when the semantic classifier
(:mod:`bot.nlu.semantic_crisis`) gives the message at least ``semantic_confirm``; and the
semantic classifier from ``semantic_threshold`` (or from ``semantic_with_hint`` when the n-gram
classifier gives the emergency intent at least ``ngram_hint``). The last two do not escalate a message
the matcher finds benign (a figure of speech, or danger words only in the past or negated), unless
both trained paths are sure (``benign_override_semantic`` and ``benign_override_ngram``) and the
benign reading rests only on past-tense words: a "last spring" or "a week ago" elsewhere in the
message does not veto "he's still shaking", but "I'm fine now" or a figure of speech still does.
On every emergency it sets the ``emergency_kind`` entity, which picks the reply's variation in the domain. When the
escalated message was also a question the model understood (its intent was ``faq``, or it
has a question mark, and the classifier is sure of the answer), it adds the ``also_answer``
entity: a rule then answers the question after the safety message.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.crisis.matcher import PATTERNS_PATH, CrisisMatcher, load_spacy
from bot.names import (
    ALSO_ANSWER_ENTITY,
    DANGER_PROBABILITY,
    EMERGENCY_INTENT,
    FAQ_INTENT,
    GENERAL_KIND,
    KIND_ENTITY,
    OUT_OF_SCOPE_INTENT,
)
from bot.nlu.base import ConfiguredComponent
from bot.nlu.linear_classifier import answer_ranking
from bot.settings import SPACY_DIR

logger = logging.getLogger(__name__)
#: The matcher's benign readings that rest on tenses alone (bot/crisis/matcher.py, ``_benign``)
PAST_TENSE_READINGS = ("history", "past or negated")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CrisisDetector(ConfiguredComponent):
    """Escalates every message that says someone may be in danger now."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The component's default config."""
        return {
            "patterns": str(PATTERNS_PATH),
            "spacy_model": str(SPACY_DIR),
            # the trained intent escalates from this confidence even when it is not on top
            "classifier_threshold": 0.3,
            # answer an escalated question too when the classifier is this sure of the answer
            "also_answer_threshold": 0.5,
            # the semantic classifier's danger probability that escalates on its own
            "semantic_threshold": 0.8,
            # ... and the one that escalates when the n-gram classifier gives the emergency intent a hint
            "semantic_with_hint": 0.6,
            "ngram_hint": 0.01,
            # both trained paths at least this sure overrule the matcher's "benign"
            "benign_override_semantic": 0.8,
            "benign_override_ngram": 0.6,
            # below this probability the semantic classifier overrules the n-gram classifier
            "semantic_confirm": 0.1,
        }

    def __init__(self, config: Dict[str, Any], matcher: CrisisMatcher | None = None) -> None:
        """Builds the matcher from the configured patterns and spaCy pipeline."""
        super().__init__(config)
        self.matcher = matcher or CrisisMatcher(
            Path(self.config["patterns"]), load_spacy(Path(self.config["spacy_model"]))
        )


    def process(self, messages: List[Message]) -> List[Message]:
        """Overrides the intent of each message that the matcher or the classifier flags."""
        for message in messages:
            self.process_one(message)
        return messages


    @staticmethod
    def _ngram_probability(message: Message) -> float:
        """The trained emergency intent's confidence (0 when it is not in the ranking)."""
        return max((r.get("confidence") or 0.0 for r in message.get(INTENT_RANKING_KEY) or []
                    if r.get("name") == EMERGENCY_INTENT), default=0.0)

    def _ngram_flags(self, message: Message) -> bool:
        intent = message.get(INTENT) or {}
        if intent.get("name") == EMERGENCY_INTENT:
            return True
        return self._ngram_probability(message) >= self.config["classifier_threshold"]

    def _classifier_flags(self, message: Message) -> str | None:
        """Which trained path escalates the message ("classifier", "semantic"), if one does.

        Without a semantic probability (a model trained without the component) the n-gram
        classifier decides alone, as before.
        """
        p = message.get(DANGER_PROBABILITY)
        ngram = self._ngram_flags(message)
        if p is None:
            return "classifier" if ngram else None
        if ngram and p >= self.config["semantic_confirm"]:
            return "classifier"
        if p >= self.config["semantic_threshold"] or (
                p >= self.config["semantic_with_hint"]
                and self._ngram_probability(message) >= self.config["ngram_hint"]):
            return "semantic"
        return None

    def _sure(self, message: Message, text: str, benign: str) -> bool:
        """Both trained paths are sure of a danger, and the benign reading rests only on past tenses."""
        p = message.get(DANGER_PROBABILITY)
        return (benign in PAST_TENSE_READINGS and p is not None
                and p >= self.config["benign_override_semantic"]
                and self._ngram_probability(message) >= self.config["benign_override_ngram"]
                and not self.matcher.says_safe(text))

    def _answerable(self, message: Message, previous_intent: str | None) -> bool:
        """Whether the escalated message also asked a question whose answer the classifier is sure of."""
        if previous_intent != FAQ_INTENT and "?" not in (message.get(TEXT) or ""):
            return False
        ranking = answer_ranking(message, FAQ_INTENT)
        return bool(ranking) and ranking[0][1] >= self.config["also_answer_threshold"]

    @staticmethod
    def _demote(message: Message) -> None:
        """The classifier's emergency was overruled: the next intent in the ranking wins."""
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != EMERGENCY_INTENT]
        if (message.get(INTENT) or {}).get("name") == EMERGENCY_INTENT:
            fallback = ranking[0] if ranking else {"name": OUT_OF_SCOPE_INTENT, "confidence": 0.0}
            message.set(INTENT, fallback, add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)

    def process_one(self, message: Message) -> None:
        """Decide for one message; the visitor's text is never logged above DEBUG."""
        text = message.get(TEXT) or ""
        assessment = self.matcher.assess(text)
        detection = assessment.detection
        trained = None if detection is not None else self._classifier_flags(message)
        overruled = assessment.benign is not None and not self._sure(message, text, assessment.benign)
        if detection is None and (trained is None or overruled):
            if self._ngram_flags(message):
                self._demote(message)
            return
        if detection is not None:
            kind, source = detection.kind, f"rule:{detection.rule}"
        else:
            kind, source = assessment.kind or GENERAL_KIND, str(trained)
        logger.debug("crisis detector escalates (%s, %s): %r", kind, source, text)
        previous = message.get(INTENT) or {}
        message.set(INTENT, {"name": EMERGENCY_INTENT, "confidence": 1.0}, add_to_output=True)
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != EMERGENCY_INTENT]
        message.set(INTENT_RANKING_KEY, [{"name": EMERGENCY_INTENT, "confidence": 1.0}] + ranking,
                    add_to_output=True)
        entities = [e for e in message.get(ENTITIES) or [] if e.get("entity") not in (KIND_ENTITY, ALSO_ANSWER_ENTITY)]
        entities.append({
            "entity": KIND_ENTITY, "value": kind, "start": 0, "end": len(text),
            "confidence_entity": 1.0, "extractor": self.__class__.__name__,
            "processors": [source], "replaced_intent": previous.get("name"),
        })
        if self._answerable(message, previous.get("name")):
            entities.append({"entity": ALSO_ANSWER_ENTITY, "value": "yes", "start": 0, "end": len(text),
                             "confidence_entity": 1.0, "extractor": self.__class__.__name__})
        message.set(ENTITIES, entities, add_to_output=True)
