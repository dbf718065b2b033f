"""Rasa graph component: intents *and* FAQ answers from one linear model over sparse features.

It replaces DIETClassifier + ResponseSelector. Both are TensorFlow models whose fixed per-call
cost was over half of the server's busy time (py-spy profile in ``bench/README.md``), while
on these short messages a multinomial logistic regression over the same word and character
n-gram counts classifies as well and trains in seconds instead of minutes.

One model predicts the *full* label: ``faq/<topic>`` for FAQ examples, the intent otherwise.
From its probabilities the component writes what Rasa's two components would have written:

* ``intent`` / ``intent_ranking``: base intents, an FAQ's probability being the sum over its
  topics (so "which FAQ?" doubt does not read as "is it an FAQ?" doubt; the fallback gives
  the retrieval intent its own, higher threshold, as that sum also leans unknown messages
  towards it);
* ``response_selector``: for each retrieval intent, the topics ranked by their probability
  *given* that intent, in the format of ``rasa.nlu.selectors.response_selector`` (the
  ``utter_action`` key is what Rasa's ``utter_faq`` action reads).

The model is stored as plain arrays (``numpy.savez`` without pickle) plus a JSON file, so
loading a model file never runs code from it.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any, Dict, List, Tuple, Type

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_PREDICTION_KEY,
    RESPONSE_SELECTOR_PROPERTY_NAME,
    RESPONSE_SELECTOR_RANKING_KEY,
    RESPONSE_SELECTOR_RESPONSES_KEY,
    RESPONSE_SELECTOR_RETRIEVAL_INTENTS,
    RESPONSE_SELECTOR_UTTER_ACTION_KEY,
)
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    INTENT,
    INTENT_RANKING_KEY,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

ARRAYS_FILE = "weights.npz"
META_FILE = "meta.json"


def answer_ranking(message: Message, retrieval_intent: str) -> List[Tuple[str, float]]:
    """Reads back what ``_set_answers`` wrote: ``retrieval_intent``'s topics as (topic, confidence), best first.

    The one reader of the answer ranking, for the components after the classifier.
    """
    selector = (message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {}).get(retrieval_intent) or {}
    out: List[Tuple[str, float]] = []
    for r in selector.get(RESPONSE_SELECTOR_RANKING_KEY) or []:
        key = str(r.get(INTENT_RESPONSE_KEY) or "")
        out.append((key.split("/", 1)[-1], float(r.get(PREDICTED_CONFIDENCE_KEY) or 0.0)))
    return out


def utter_action_for(label: str) -> str:
    """``faq/insurance`` -> ``utter_faq/insurance`` (Rasa's naming of retrieval responses)."""
    return f"utter_{label}"


def sentence_features(message: Message, dense_weight: float = 0.0) -> scipy.sparse.csr_matrix | None:
    """The message's sentence features, each featurizer's block scaled to unit length.

    Sparse counts are damped (log1p) and every featurizer's block is L2-normalised on its own, so
    the hundreds of character n-grams of a message do not drown its handful of words. Dense
    blocks (sentence embeddings) are used when ``dense_weight`` is above zero, scaled to that length.
    """
    blocks = sorted(
        (f for f in message.features
         if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE and (f.is_sparse() or dense_weight > 0)),
        key=lambda f: str(f.origin),
    )
    if not blocks:
        return None
    scaled = []
    for block in blocks:
        m = scipy.sparse.csr_matrix(block.features, dtype=np.float64)
        if block.is_sparse():
            m.data = np.log1p(m.data)
        norm = np.sqrt(m.multiply(m).sum())
        target = 1.0 if block.is_sparse() else dense_weight
        scaled.append(m * (target / norm) if norm > 0 else m)
    return scipy.sparse.hstack(scaled, format="csr")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(GraphComponent, IntentClassifier):
    """Multinomial logistic regression over full intent labels (``faq/<topic>`` included)."""

    @classmethod
    def required_components(cls) -> List[Type]:
        """Needs sparse sentence features from a featurizer earlier in the pipeline."""
        return [Featurizer]

    @staticmethod
    def required_packages() -> List[str]:
        """scikit-learn fits the model (Rasa itself depends on it)."""
        return ["sklearn"]

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The component's default config."""
        return {
            # inverse regularisation strength of the logistic regression
            "C": 10.0,
            "max_iter": 2000,
            # every intent weighs the same whatever its number of examples
            "class_weight": "balanced",
            "random_seed": 42,
            # how many base intents to keep in ``intent_ranking`` (and topics in each answer's ranking)
            "ranking_length": 10,
            # a retrieval intent's confidence: the sum of its topics' probabilities ("sum"), or
            # its best topic's ("max": a question between two topics then reads as "not an FAQ")
            "retrieval_confidence": "sum",
            # the length of the dense sentence features (embeddings) beside the sparse blocks'
            # unit length; 0 leaves them out
            "dense_weight": 0.0,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        labels: List[str] | None = None,
        weights: np.ndarray | None = None,
        bias: np.ndarray | None = None,
        responses: Dict[str, List[Dict[str, Any]]] | None = None,
    ) -> None:
        """A classifier; untrained unless ``labels``, ``weights`` and ``bias`` are given."""
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.responses = responses or {}
        self._use(labels or [], weights, bias)

    def _use(self, labels: List[str], weights: np.ndarray | None, bias: np.ndarray | None) -> None:
        """Sets the model, and the retrieval intents among its labels (``faq`` for ``faq/<topic>``) once."""
        self.labels, self.weights, self.bias = labels, weights, bias
        self.retrieval_intents = sorted({label.split("/", 1)[0] for label in labels if "/" in label})

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LinearIntentClassifier":
        """Creates an untrained component (see GraphComponent.create)."""
        return cls(config, model_storage, resource)

    # ---------------------------------------------------------------- training

    @staticmethod
    def _label(example: Message) -> str | None:
        return example.get(INTENT_RESPONSE_KEY) or example.get(INTENT)

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the model on every example that has an intent and text."""
        from sklearn.linear_model import LogisticRegression

        rows, y = [], []
        for example in training_data.intent_examples:
            label, features = self._label(example), sentence_features(example, self.config["dense_weight"])
            if label and example.get(TEXT) and features is not None:
                rows.append(features)
                y.append(label)
        if not rows or len(set(y)) < 2:
            logger.warning("LinearIntentClassifier: fewer than two intents with featurised examples; not trained.")
            return self._resource
        clf = LogisticRegression(
            C=self.config["C"],
            max_iter=self.config["max_iter"],
            class_weight=self.config["class_weight"],
            random_state=self.config["random_seed"],
        )
        clf.fit(scipy.sparse.vstack(rows, format="csr"), y)
        # weights: features x labels
        self._use([str(c) for c in clf.classes_], np.ascontiguousarray(clf.coef_.T), clf.intercept_.copy())
        answers = {utter_action_for(label) for label in self.labels if "/" in label}
        self.responses = {key: value for key, value in (training_data.responses or {}).items() if key in answers}
        self.persist()
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Predictions on the training data, for components that come after this one."""
        self.process(training_data.training_examples)
        return training_data

    # -------------------------------------------------------------- prediction

    def probabilities(self, message: Message) -> List[Tuple[str, float]]:
        """(full label, probability) for every label, best first; empty when untrained."""
        x = sentence_features(message, self.config["dense_weight"])
        if self.weights is None or x is None:
            return []
        if x.shape[1] != self.weights.shape[0]:
            logger.warning("LinearIntentClassifier: feature size %s differs from the model's %s.",
                           x.shape[1], self.weights.shape[0])
            return []
        scores = np.asarray(x @ self.weights).ravel() + self.bias
        scores = np.exp(scores - scores.max())
        probs = scores / scores.sum()
        return sorted(zip(self.labels, probs.tolist()), key=lambda p: -p[1])

    def process(self, messages: List[Message]) -> List[Message]:
        """Sets the intent, its ranking and the retrieval intents' answers on each message."""
        for message in messages:
            probs = self.probabilities(message)
            if not probs:
                continue
            base: Dict[str, float] = defaultdict(float)
            topics: Dict[str, List[Tuple[str, float]]] = defaultdict(list)
            for label, p in probs:
                intent = label.split("/", 1)[0]
                if self.config["retrieval_confidence"] == "sum":
                    base[intent] += p
                else:
                    base[intent] = max(base[intent], p)
                if "/" in label:
                    topics[intent].append((label, p))
            ranking = [{"name": n, "confidence": c} for n, c in sorted(base.items(), key=lambda i: -i[1])]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking[: self.config["ranking_length"]], add_to_output=True)
            if self.retrieval_intents:
                self._set_answers(message, topics)
        return messages

    def _set_answers(self, message: Message, topics: Dict[str, List[Tuple[str, float]]]) -> None:
        """Each retrieval intent's topics, ranked by probability given the intent, as a ResponseSelector would."""
        selector = dict(message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {})
        selector[RESPONSE_SELECTOR_RETRIEVAL_INTENTS] = self.retrieval_intents
        for intent in self.retrieval_intents:
            ranked = topics.get(intent)
            if not ranked:
                continue
            total = sum(p for _, p in ranked) or 1e-12
            ranked = [(label, p / total) for label, p in ranked]
            top_label, top_conf = ranked[0]
            utter = utter_action_for(top_label)
            selector[intent] = {
                RESPONSE_SELECTOR_PREDICTION_KEY: {
                    RESPONSE_SELECTOR_RESPONSES_KEY: self.responses.get(utter) or [{TEXT: top_label}],
                    PREDICTED_CONFIDENCE_KEY: top_conf,
                    INTENT_RESPONSE_KEY: top_label,
                    RESPONSE_SELECTOR_UTTER_ACTION_KEY: utter,
                },
                RESPONSE_SELECTOR_RANKING_KEY: [
                    {"id": i, PREDICTED_CONFIDENCE_KEY: c, INTENT_RESPONSE_KEY: label}
                    for i, (label, c) in enumerate(ranked[: self.config["ranking_length"]])
                ],
            }
        message.set(RESPONSE_SELECTOR_PROPERTY_NAME, selector, add_to_output=True)

    # ------------------------------------------------------------- persistence

    def persist(self) -> None:
        """Writes the weights as plain arrays and the labels and responses as JSON."""
        if self.weights is None or self.bias is None:
            return  # untrained: nothing to store (load() then gives an untrained component)
        with self._model_storage.write_to(self._resource) as model_dir:
            np.savez(model_dir / ARRAYS_FILE, weights=self.weights, bias=self.bias)
            (model_dir / META_FILE).write_text(
                json.dumps({"labels": self.labels, "responses": self.responses}), encoding="utf-8"
            )

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "LinearIntentClassifier":
        """Loads a trained component; an untrained one if nothing was stored."""
        try:
            with model_storage.read_from(resource) as model_dir:
                with np.load(model_dir / ARRAYS_FILE, allow_pickle=False) as arrays:
                    weights, bias = arrays["weights"], arrays["bias"]
                meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
        except (ValueError, FileNotFoundError, OSError):
            logger.warning("LinearIntentClassifier: no trained model in '%s'; it will predict nothing.", resource.name)
            return cls.create(config, model_storage, resource, execution_context)
        return cls(config, model_storage, resource, meta["labels"], weights, bias, meta.get("responses"))
