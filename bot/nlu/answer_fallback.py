"""Rasa graph component: do not guess when the intent *or the selected answer* is uncertain.

Rasa's FallbackClassifier only looks at the intent's confidence, so a confident ``faq``
intent with a doubtful answer from the ResponseSelector slips through (RasaHQ/rasa#9723,
#9751). This component checks both, plus the gap between the top two intents, and on
doubt predicts ``nlu_fallback`` with the two closest FAQ questions as the
``suggestion_1`` / ``suggestion_2`` entities, which the ``utter_not_understood`` response
shows as buttons. Emergencies are never turned into a fallback.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.base import ConfiguredComponent

RETRIEVAL_INTENT = "faq"
NEVER_FALLBACK = ("emergency",)


def faq_ranking(message: Message) -> List[Tuple[str, float]]:
    """The ResponseSelector's ranking of FAQ topics as (topic, confidence), best first."""
    selector = (message.get("response_selector") or {}).get(RETRIEVAL_INTENT) or {}
    ranking = selector.get("ranking") or []
    out = []
    for r in ranking:
        key = r.get("intent_response_key") or ""
        out.append((key.split("/", 1)[-1], float(r.get("confidence") or 0.0)))
    return out


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
            # topic -> the question shown on its suggestion button (and sent when clicked)
            "questions": {},
        }



    def doubt(self, message: Message) -> str | None:
        """Why the prediction should not be trusted, or None."""
        intent = message.get(INTENT) or {}
        name, confidence = intent.get("name"), float(intent.get("confidence") or 0.0)
        if name is None:
            return "no intent"
        if name in NEVER_FALLBACK or name == DEFAULT_NLU_FALLBACK_INTENT_NAME:
            return None
        threshold = self.config["intent_threshold"]
        if name == RETRIEVAL_INTENT and self.config["retrieval_intent_threshold"] is not None:
            threshold = self.config["retrieval_intent_threshold"]
        if confidence < threshold:
            return "intent confidence"
        ranking = message.get(INTENT_RANKING_KEY) or []
        if len(ranking) >= 2:
            gap = float(ranking[0].get("confidence") or 0) - float(ranking[1].get("confidence") or 0)
            if gap < self.config["ambiguity_threshold"]:
                return "ambiguous intent"
        if name == RETRIEVAL_INTENT:
            answers = faq_ranking(message)
            if not answers or answers[0][1] < self.config["answer_threshold"]:
                return "answer confidence"
        return None

    def suggestions(self, message: Message) -> List[str]:
        """The questions of the two closest FAQ topics that have one configured."""
        questions = self.config["questions"]
        return [questions[t] for t, _ in faq_ranking(message) if t in questions][:2]

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
            entities = [e for e in message.get(ENTITIES) or [] if not e.get("entity", "").startswith("suggestion_")]
            text = message.get(TEXT) or ""
            for i, question in enumerate(self.suggestions(message), start=1):
                entities.append({"entity": f"suggestion_{i}", "value": question, "start": 0, "end": len(text),
                                 "confidence_entity": 1.0, "extractor": self.__class__.__name__})
            message.set(ENTITIES, entities, add_to_output=True)
        return messages
