"""Rasa graph component: do not guess when the intent *or the selected answer* is uncertain.

Rasa's FallbackClassifier only looks at the intent's confidence, so a confident ``faq``
intent with a doubtful selected answer slips through (RasaHQ/rasa#9723,
#9751). This component checks both, plus the gap between the top two intents, and on
doubt predicts ``nlu_fallback`` with the two closest FAQ questions as the
``suggestion_1`` / ``suggestion_2`` entities, which the ``utter_not_understood`` response
shows as buttons. Emergencies are never turned into a fallback.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.names import EMERGENCY_INTENT, FAQ_INTENT, SUGGESTION_ENTITIES
from bot.nlu.base import ConfiguredComponent
from bot.nlu.linear_classifier import answer_ranking
from bot.settings import ROOT

NEVER_FALLBACK = (EMERGENCY_INTENT,)
SUGGESTIONS_FILE = ROOT / "data" / "suggestions.yml"


def load_suggestions(path: Path = SUGGESTIONS_FILE) -> Dict[str, str]:
    """topic -> the question on its suggestion button, from ``data/suggestions.yml``."""
    with open(path, encoding="utf-8") as f:
        spec = yaml.safe_load(f) or {}
    questions = spec.get("suggestions")
    if not isinstance(questions, dict) or not all(isinstance(q, str) and q.strip() for q in questions.values()):
        raise ValueError(f"{path}: expected `suggestions:` mapping each topic to a question")
    return {str(k): str(v).strip() for k, v in questions.items()}


def faq_ranking(message: Message) -> List[Tuple[str, float]]:
    """The FAQ topics as (topic, confidence), best first."""
    return answer_ranking(message, FAQ_INTENT)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class AnswerConfidenceFallback(ConfiguredComponent):
    """Predicts ``nlu_fallback`` with two suggestions when the intent or answer is doubtful."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The component's default config."""
        return {
            "intent_threshold": 0.5,
            # the retrieval intent's confidence sums its topics' probabilities, so an unknown
            # message leans towards it: it may need a higher bar (None: intent_threshold)
            "retrieval_intent_threshold": None,
            "ambiguity_threshold": 0.1,
            "answer_threshold": 0.4,
            # topic -> the question on its suggestion button (sent when clicked)
            "suggestions_file": str(SUGGESTIONS_FILE),
        }

    def __init__(self, config: Dict[str, Any], questions: Dict[str, str] | None = None) -> None:
        """Reads the suggestion questions (once, at start)."""
        super().__init__(config)
        self.questions = questions if questions is not None else load_suggestions(Path(self.config["suggestions_file"]))

    def doubt(self, message: Message) -> str | None:
        """Why the prediction should not be trusted, or None."""
        intent = message.get(INTENT) or {}
        name, confidence = intent.get("name"), float(intent.get("confidence") or 0.0)
        if name is None:
            return "no intent"
        if name in NEVER_FALLBACK or name == DEFAULT_NLU_FALLBACK_INTENT_NAME:
            return None
        threshold = self.config["intent_threshold"]
        if name == FAQ_INTENT and self.config["retrieval_intent_threshold"] is not None:
            threshold = self.config["retrieval_intent_threshold"]
        if confidence < threshold:
            return "intent confidence"
        ranking = message.get(INTENT_RANKING_KEY) or []
        if len(ranking) >= 2:
            gap = float(ranking[0].get("confidence") or 0) - float(ranking[1].get("confidence") or 0)
            if gap < self.config["ambiguity_threshold"]:
                return "ambiguous intent"
        if name == FAQ_INTENT:
            answers = faq_ranking(message)
            if not answers or answers[0][1] < self.config["answer_threshold"]:
                return "answer confidence"
        return None

    def suggestions(self, message: Message) -> List[str]:
        """The questions of the two closest FAQ topics; padded from the file's order so no button is ever empty."""
        ranked = [self.questions[t] for t, _ in faq_ranking(message) if t in self.questions]
        ranked += [q for q in self.questions.values() if q not in ranked]
        return ranked[: len(SUGGESTION_ENTITIES)]

    def process(self, messages: List[Message]) -> List[Message]:
        """Replaces doubtful predictions by ``nlu_fallback`` with suggestions."""
        for message in messages:
            reason = self.doubt(message)
            if reason is None:
                continue
            message.set(INTENT, {"name": DEFAULT_NLU_FALLBACK_INTENT_NAME, "confidence": 1.0,
                                 "fallback_reason": reason}, add_to_output=True)
            ranking = message.get(INTENT_RANKING_KEY) or []
            message.set(INTENT_RANKING_KEY,
                        [{"name": DEFAULT_NLU_FALLBACK_INTENT_NAME, "confidence": 1.0}] + ranking,
                        add_to_output=True)
            entities = [e for e in message.get(ENTITIES) or [] if e.get("entity") not in SUGGESTION_ENTITIES]
            text = message.get(TEXT) or ""
            for entity, question in zip(SUGGESTION_ENTITIES, self.suggestions(message)):
                entities.append({"entity": entity, "value": question, "start": 0, "end": len(text),
                                 "confidence_entity": 1.0, "extractor": self.__class__.__name__})
            message.set(ENTITIES, entities, add_to_output=True)
        return messages
