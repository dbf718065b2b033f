"""Rasa graph component: the probability that a message tells of a danger now, from its meaning.

A logistic regression over the MiniLM sentence vector (:mod:`bot.nlu.sentence_embedder`), trained
on the NLU examples (``emergency`` against every other intent) and on the labelled crisis messages
of ``data/crisis/`` (emergencies and their look-alikes: past dangers, reported speech, questions,
idioms), which weigh ``examples_weight`` times more. It decides nothing itself: it sets
``danger_probability`` on the message, and :class:`bot.nlu.crisis_detector.CrisisDetector`
escalates on it beside the rules and the n-gram classifier. Cosine similarity alone does not
separate a danger from a question about it; a classifier trained on both does better.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.names import DANGER_PROBABILITY, EMERGENCY_INTENT
from bot.nlu.embeddings import load_encoder
from bot.nlu.followup import gives_context, is_followup
from bot.nlu.sentence_embedder import SentenceEmbeddingFeaturizer, embedding_of
from bot.settings import ROOT

logger = logging.getLogger(__name__)
ARRAYS_FILE = "semantic_crisis.npz"
META_FILE = "semantic_crisis.json"


def labelled_examples(paths: Sequence[Path]) -> List[tuple[str, bool]]:
    """(text as the pipeline reads it, is an emergency) for every case of the labelled crisis files.

    A case with a context is read as :class:`bot.nlu.followup.FollowUpContext` would read it in a
    conversation: a short follow-up is prefixed with the message before it.
    """
    from bot.evaluation.crisis import load_suite

    out = []
    for path in paths:
        for case in load_suite(path):
            text = case.text
            previous = case.context[-1] if case.context else None
            if previous and gives_context(previous) and is_followup(text):
                text = f"{previous.strip()} {text}"
            out.append((text, case.emergency))
    return out


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class SemanticCrisisClassifier(GraphComponent):
    """Sets ``danger_probability`` on every message from its sentence embedding."""

    @classmethod
    def required_components(cls) -> List[type]:
        """Reads the vectors of the sentence-embedding featurizer."""
        return [SentenceEmbeddingFeaturizer]

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The component's default config."""
        return {
            # labelled crisis messages (bot/evaluation/crisis.py's format), relative to the project
            "examples": ["data/crisis/tuning.yml"],
            # how much more a labelled crisis message weighs than an NLU example
            "examples_weight": 3.0,
            # inverse regularisation strength of the logistic regression
            "C": 10.0,
            "max_iter": 5000,
        }

    def __init__(self, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 weights: np.ndarray | None = None, bias: float = 0.0) -> None:
        """A classifier; untrained unless ``weights`` is given."""
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.weights, self.bias = weights, bias

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SemanticCrisisClassifier":
        """Creates an untrained component (see GraphComponent.create)."""
        return cls(config, model_storage, resource)

    @staticmethod
    def _paths(config: Dict[str, Any]) -> List[Path]:
        return [p if p.is_absolute() else ROOT / p for p in (Path(x) for x in config["examples"])]

    def _example_paths(self) -> List[Path]:
        return self._paths(self.config)

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> str | None:
        """The labelled files' contents: Rasa's training cache retrains the component when they change."""
        digest = hashlib.sha256()
        for path in cls._paths({**cls.get_default_config(), **config}):
            digest.update(str(path).encode("utf-8"))
            digest.update(path.read_bytes() if path.exists() else b"(missing)")
        return digest.hexdigest()

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the model on the NLU examples and the labelled crisis messages."""
        from sklearn.linear_model import LogisticRegression

        rows, y, w = [], [], []
        for example in training_data.intent_examples:
            vector = embedding_of(example)
            if vector is not None and example.get(INTENT):
                rows.append(vector)
                y.append(example.get(INTENT) == EMERGENCY_INTENT)
                w.append(1.0)
        labelled = labelled_examples(self._example_paths())
        if labelled:
            rows.extend(load_encoder().encode([text for text, _ in labelled]))
            y.extend(emergency for _, emergency in labelled)
            w.extend([self.config["examples_weight"]] * len(labelled))
        if len(set(y)) < 2:
            logger.warning("SemanticCrisisClassifier: needs emergencies and other messages; not trained.")
            return self._resource
        clf = LogisticRegression(C=self.config["C"], max_iter=self.config["max_iter"])
        clf.fit(np.vstack(rows), np.array(y), sample_weight=np.array(w))
        self.weights, self.bias = clf.coef_.ravel().astype(np.float64), float(clf.intercept_[0])
        self.persist()
        return self._resource

    def probability(self, message: Message) -> float | None:
        """The probability of a danger now, or None when untrained or the message has no vector."""
        vector = embedding_of(message)
        if self.weights is None or vector is None or vector.shape[0] != self.weights.shape[0]:
            return None
        return float(1.0 / (1.0 + np.exp(-(vector @ self.weights + self.bias))))

    def process(self, messages: List[Message]) -> List[Message]:
        """Sets ``danger_probability`` on each message that has a vector."""
        for message in messages:
            p = self.probability(message)
            if p is not None:
                message.set(DANGER_PROBABILITY, p)
                logger.debug("semantic crisis probability %.3f for %r", p, message.get(TEXT))
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training data passes through (later components do not read the probability when training)."""
        return training_data

    def persist(self) -> None:
        """Writes the weights as a plain array (no pickle)."""
        if self.weights is None:
            return
        with self._model_storage.write_to(self._resource) as model_dir:
            np.savez(model_dir / ARRAYS_FILE, weights=self.weights)
            (model_dir / META_FILE).write_text(json.dumps({"bias": self.bias}), encoding="utf-8")

    @classmethod
    def load(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "SemanticCrisisClassifier":
        """Loads a trained component; an untrained one (no probability) if nothing was stored."""
        try:
            with model_storage.read_from(resource) as model_dir:
                with np.load(model_dir / ARRAYS_FILE, allow_pickle=False) as arrays:
                    weights = arrays["weights"]
                bias = float(json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))["bias"])
        except (ValueError, FileNotFoundError, OSError, KeyError):
            logger.warning("SemanticCrisisClassifier: no trained model in '%s'; it gives no probability.",
                           resource.name)
            return cls.create(config, model_storage, resource, execution_context)
        return cls(config, model_storage, resource, weights, bias)
