"""Rasa graph component: a dense sentence feature per message from all-MiniLM-L6-v2 (ONNX, offline).

The vector (384 numbers, unit length) is added as a ``sentence`` feature of the message text, as
Rasa's own dense featurizers do (``rasa/nlu/featurizers/dense_featurizer/spacy_featurizer.py``).
The crisis classifier (:mod:`bot.nlu.semantic_crisis`) reads it; the intent classifier reads it
too when its ``dense_weight`` is above zero. No sequence features: no component here needs them.
The model files are pinned by hash (:mod:`bot.nlu.embeddings`) and loaded on first use.
A follow-up read with the previous message (:mod:`bot.nlu.followup`) gets the mean of the two
readings, with and without that message: "is that covered by insurance?" after a question about
the program's length is about insurance, while "how long do they last?" needs the question before.
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.names import OWN_TEXT
from bot.nlu.base import ConfiguredComponent
from bot.nlu.embeddings import load_encoder

#: The ``origin`` of the features this component adds (how other components find them).
ORIGIN = "minilm"


def embedding_of(message: Message) -> np.ndarray | None:
    """The message's MiniLM sentence vector (1-D), or None when the featurizer did not run."""
    for f in message.features:
        if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE and f.origin == ORIGIN and not f.is_sparse():
            return np.asarray(f.features, dtype=np.float32).ravel()
    return None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEmbeddingFeaturizer(ConfiguredComponent):
    """Adds the MiniLM vector of each message's text as a dense sentence feature."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The component's default config."""
        return {"threads": 1, "batch_size": 32}

    @staticmethod
    def required_packages() -> List[str]:
        """The model runs on onnxruntime with a Hugging Face tokenizer."""
        return ["onnxruntime", "tokenizers"]

    def _featurize(self, messages: List[Message]) -> None:
        todo = [m for m in messages if m.get(TEXT) is not None and embedding_of(m) is None]
        if not todo:
            return
        encoder = load_encoder(self.config["threads"])
        vectors = encoder.encode([m.get(TEXT) for m in todo], batch_size=self.config["batch_size"])
        own = [(i, m.get(OWN_TEXT)) for i, m in enumerate(todo) if m.get(OWN_TEXT)]
        if own:
            mean = vectors[[i for i, _ in own]] + encoder.encode([t for _, t in own])
            vectors[[i for i, _ in own]] = mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
        for message, vector in zip(todo, vectors):
            message.add_features(Features(vector.reshape(1, -1), FEATURE_TYPE_SENTENCE, TEXT, ORIGIN))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurizes every training example that has a text (in batches)."""
        self._featurize(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Featurizes incoming messages."""
        self._featurize(messages)
        return messages
