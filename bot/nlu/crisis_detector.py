"""Rasa graph component that overrides the intent with ``emergency`` on any sign of danger now.

It runs after intent classification and decides with two readings of the message: the rule-based
:class:`bot.crisis.matcher.CrisisMatcher` (patterns in ``bot/crisis/patterns.yml``) and the danger
probability of the trained crisis classifier (:mod:`bot.nlu.semantic_crisis`, n-grams and sentence
vector, trained on labelled emergencies and their look-alikes):

- a rule's detection escalates unless the message has at least ``veto_min_words`` words, its
  probability is below ``rule_veto``, or below the rule's own ``veto_below`` in ``patterns.yml`` where it sets one
  (the classifier is all but certain it is a look-alike: "his
  doctor wants to cut him off quickly", "for a psychology paper: why is delirium an emergency?") and, in a message of
  several clauses, each clause where a rule fires on its own is below ``clause_veto``: a danger told in
  one clause that reads as danger alone is not vetoed by a question elsewhere, nor one told beyond the clauses the
  classifier read (the middle of a 100 KB message), and a short message ("i
  think i od'd") never is, nor is a rule marked ``vetoable: false`` in ``patterns.yml`` (a few words of another
  language: the classifier learned English, so its doubt about such a message says nothing);
- without a rule, the probability escalates from ``semantic_threshold``, or from
  ``semantic_with_hint`` when the n-gram intent classifier gives the ``emergency`` intent at least
  ``ngram_hint`` (its doubt keeps odd off-topic messages out);
- in a message of several clauses, a clause whose own probability is at least ``clause_threshold`` escalates when
  the whole message reads at least ``clause_min_probability`` (a danger told in one sentence of a long message of
  questions, which the whole message's vector dilutes; the floor keeps a clause that the rest tells as over or as
  fiction from escalating alone), unless the clause itself tells it through a source or a story ("in one scene ...");
- a message the matcher finds benign (danger words only in the past, negated, reported or figurative)
  needs ``benign_threshold`` as well, and a question the intent classifier answers with an answer it
  is sure of (``faq_sure``) needs ``faq_threshold`` ("my best friend stopped her valium and she's
  miserable, where should she go?");
- otherwise a short message read after the visitor's previous one (the classifier's context reading:
  "is that enough" after "how many would it take to not wake up") escalates from ``context_threshold``
  (and ``benign_threshold`` when the message alone reads benign) if the message or the previous one has at
  least ``context_part`` on its own (two plainly harmless messages, such as two answers of the callback form,
  do not make a danger by being joined), unless it is a question the intent
  classifier answers and is sure of: its pair with an overdose would read as danger whatever it asked (the next
  path reads the previous message alone instead);
- otherwise a message of at most ``carry_words`` words that does not read benign escalates when the previous message
  read alone (by the rules with their veto, or by its own probability from ``semantic_threshold``) told a danger
  now: "whats your address" right after "took all my klonopin about 20 min ago" is still that danger, and the
  question is answered after the safety reply.

The thresholds were chosen leaving one author out at a time over the labelled messages of
``data/crisis/`` (README, "The crisis layer"). A model trained without the classifier (no probability)
falls back to the rules and the n-gram intent (``classifier_threshold``). When the n-gram intent
said emergency and the message does not escalate, the next intent in the ranking wins.
On every emergency it sets the ``emergency_kind`` entity, which picks the reply's variation in the domain. When the
escalated message was also a question the model understood (its intent was ``faq``, or it
has a question mark, and the classifier is sure of the answer), it adds the ``also_answer``
entity: a rule then answers the question after the safety message.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Tuple

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.channels.context import PREVIOUS_TEXT
from bot.crisis.matcher import PATTERNS_PATH, Assessment, CrisisMatcher, load_spacy
from bot.names import (
    ALSO_ANSWER_ENTITY,
    CLAUSE_PROBABILITIES,
    CONTEXT_PROBABILITY,
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

@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CrisisDetector(ConfiguredComponent):
    """Escalates every message that says someone may be in danger now."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The component's default config."""
        return {
            "patterns": str(PATTERNS_PATH),
            "spacy_model": str(SPACY_DIR),
            # without a danger probability, the n-gram intent escalates from this confidence anywhere in the ranking
            "classifier_threshold": 0.3,
            # answer an escalated question too when the classifier is this sure of the answer
            "also_answer_threshold": 0.5,
            # a rule's detection stands unless the danger probability is below this
            "rule_veto": 0.005,
            # ... and no clause where a rule fires has this probability
            "clause_veto": 0.6,
            # ... in a message of at least this many words
            "veto_min_words": 8,
            # without a rule: the danger probability that escalates on its own...
            "semantic_threshold": 0.4,
            # ... and the one that escalates when the n-gram intent gives emergency at least ngram_hint
            "semantic_with_hint": 0.1,
            "ngram_hint": 0.03,
            # a message the matcher finds benign escalates only from this probability (and the above)
            "benign_threshold": 0.9,
            # a question the answer classifier is sure of (its intent faq, its answer at least faq_sure)
            # escalates without a rule only from faq_threshold
            "faq_sure": 0.7,
            "faq_threshold": 0.6,
            # a short message read after the previous one escalates from this probability...
            "context_threshold": 0.4,
            # ... when the message or the previous one, read alone, has at least this much danger
            "context_part": 0.05,
            # a message of several clauses escalates when one clause reads at least this alone...
            "clause_threshold": 0.95,
            # ... and the whole message at least this (None: the clause path is off)
            "clause_min_probability": 0.08,
            # a message of at most this many words that does not read benign escalates when the visitor's previous
            # message did (None: off)
            "carry_words": None,
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

    def _classifier_flags(self, message: Message, rule: bool, benign: bool, veto: float | None = None) -> str | None:
        """Which path escalates the message ("rule", "classifier", "semantic", "clause", "context", "carried"), if one
        does.

        Without a semantic probability (a model trained without the component) the rules and the
        n-gram intent decide alone, as before the classifier existed. ``veto``: the fired rule's own
        veto threshold (``veto_below`` in patterns.yml), when it has one.
        """
        p = message.get(DANGER_PROBABILITY)
        if p is None:
            if rule:
                return "rule"
            return "classifier" if self._ngram_flags(message) and not benign else None
        if rule and not self._vetoed(message, p, veto):
            return "rule"
        if not rule and self._semantic_flags(message, p, benign):
            return "semantic"
        if self._danger_clause(message, p) is not None:
            return "clause"
        if self._in_context(message, benign):
            return "context"
        return "carried" if self._carried(message, benign) else None

    def _danger_clause(self, message: Message, p: float) -> str | None:
        """The clause that reads as danger on its own in a message of several ("... she had a whole cup of lean and 3
        bars an hour ago and I can't get her to sit up ..." between questions about couples' programs and prices),
        when it reads at least ``clause_threshold`` and the whole message at least ``clause_min_probability`` (a
        clause told as history or fiction by the clauses around it reads low in the whole: "yesterday I
        accidentally took my diazepam twice ... totally fine"), unless the clause itself tells it through a source or
        a story (``reported`` in patterns.yml)."""
        floor = self.config.get("clause_min_probability")
        if floor is None or p < floor:
            return None
        high = sorted(((float(q), str(clause)) for clause, q in message.get(CLAUSE_PROBABILITIES) or []
                       if float(q) >= self.config["clause_threshold"]), reverse=True)
        # a clause told through a source or a story is not a danger now ("in one scene a college kid ... lips blue"),
        # but another clause of the message may be
        return next((clause for _, clause in high if not self.matcher.reports(clause)), None)

    def _semantic_flags(self, message: Message, p: float, benign: bool) -> bool:
        """Whether the probability ``p`` escalates a message no rule flagged."""
        hinted = (p >= self.config["semantic_with_hint"]
                  and self._ngram_probability(message) >= self.config["ngram_hint"])
        return (self._clears_benign(p, benign)
                and (p >= self.config["semantic_threshold"] or hinted)
                and (p >= self.config["faq_threshold"] or not self._sure_question(message)))

    def _clears_benign(self, p: float, benign: bool) -> bool:
        """A message the matcher reads as benign escalates only from ``benign_threshold``."""
        return not benign or p >= self.config["benign_threshold"]

    def _sure_question(self, message: Message) -> bool:
        """Whether the intent classifier read a question it answers and is sure of the answer."""
        if (message.get(INTENT) or {}).get("name") != FAQ_INTENT:
            return False
        ranking = answer_ranking(message, FAQ_INTENT)
        return bool(ranking) and ranking[0][1] >= self.config["faq_sure"]

    def _in_context(self, message: Message, benign: bool) -> bool:
        """Whether the context reading (previous message, then this short one) escalates: not for a question
        the intent classifier is sure of, which stands on its own words, nor for two messages that each read as
        plainly harmless alone (the callback form's "nothing else" then "about my mother")."""
        reading = message.get(CONTEXT_PROBABILITY)
        if not reading:
            return False
        q, previous = float(reading[1]), float(reading[2])
        own = float(message.get(DANGER_PROBABILITY) or 0.0)
        return (q >= self.config["context_threshold"] and self._clears_benign(q, benign)
                and max(own, previous) >= self.config["context_part"]
                and not self._sure_question(message))

    def _carried(self, message: Message, benign: bool) -> bool:
        """Whether the visitor's previous message told a danger now and this short one does not say it is over
        ("took all my klonopin about 20 min ago" then "whats your address"; "getting really hard to keep my eyes open"
        then "how much is your inpatient program anyway"): the previous message is read again as it was on its own
        turn, by the rules (with the classifier's veto) and by its own danger probability (the context reading's)."""
        limit = self.config.get("carry_words")
        text = message.get(TEXT) or ""
        previous = (message.get("metadata") or {}).get(PREVIOUS_TEXT)
        if not limit or benign or not text.strip() or len(text.split()) > limit:
            return False
        if not isinstance(previous, str) or not previous.strip():
            return False
        reading = message.get(CONTEXT_PROBABILITY)
        before = float(reading[2]) if reading else None
        prior = self.matcher.assess(previous)
        rule = prior.detection.rule if prior.detection is not None else None
        if rule is not None:
            if not self.matcher.vetoable(rule) or before is None:
                return True
            # the previous message's own veto, as on its turn (no clause readings of it here: every clause counts)
            if not self._vetoed(Message(data={TEXT: previous}), before, self.matcher.veto_below(rule)):
                return True
        if before is None:
            return False
        return before >= (self.config["benign_threshold"] if prior.benign is not None
                          else self.config["semantic_threshold"])

    def _vetoed(self, message: Message, p: float, veto: float | None = None) -> bool:
        """Whether the classifier overrules a rule's detection (see the module's docstring); ``veto`` raises
        the probability below which it may (a rule whose every replayed emergency the classifier also caught)."""
        text = message.get(TEXT) or ""
        threshold = max(self.config["rule_veto"], veto or 0.0)
        if p >= threshold or len(text.split()) < self.config["veto_min_words"]:
            return False
        parts = message.get(CLAUSE_PROBABILITIES) or []
        if parts and self.matcher.detect(" ".join(clause for clause, _ in parts)) is None:
            # the rule fired on words beyond the clauses the classifier read (a message of more than
            # semantic_crisis.clauses' first 16, or past the encoder's tokens): it never read the danger
            return False
        flagged = [q for clause, q in parts if self.matcher.detect(clause) is not None] or [q for _, q in parts]
        return all(q < self.config["clause_veto"] for q in flagged)

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

    def decide(self, message: Message) -> Tuple[Assessment, str | None]:
        """The rules' reading of the message and the path that escalates it (None: it does not escalate)."""
        assessment = self.matcher.assess(message.get(TEXT) or "")
        detection = assessment.detection
        if detection is not None and not self.matcher.vetoable(detection.rule):
            return assessment, "rule"
        veto = self.matcher.veto_below(detection.rule) if detection is not None else None
        return assessment, self._classifier_flags(message, detection is not None, assessment.benign is not None, veto)

    def process_one(self, message: Message) -> None:
        """Decide for one message; the visitor's text is never logged above DEBUG."""
        text = message.get(TEXT) or ""
        assessment, source = self.decide(message)
        detection = assessment.detection
        if source is None:
            if detection is not None:
                logger.debug("crisis detector: the classifier vetoes rule %s: %r", detection.rule, text)
            if self._ngram_flags(message):
                self._demote(message)
            return
        if source in ("context", "clause", "carried"):
            if source == "context":
                read = str(message.get(CONTEXT_PROBABILITY)[0])
            elif source == "carried":
                read = str((message.get("metadata") or {}).get(PREVIOUS_TEXT) or text)
            else:
                read = self._danger_clause(message, float(message.get(DANGER_PROBABILITY) or 0.0)) or text
            context = self.matcher.assess(read)
            kind = context.detection.kind if context.detection else context.kind or GENERAL_KIND
        elif detection is not None:
            kind, source = detection.kind, f"rule:{detection.rule}"
        else:
            kind = assessment.kind or GENERAL_KIND
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
