"""The sentence-embedding featurizer: one dense MiniLM sentence feature per message with text."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.embeddings import DIMENSIONS, load_encoder
from bot.nlu.sentence_embedder import ORIGIN, SentenceEmbeddingFeaturizer, embedding_of


@pytest.fixture(scope="module")
def featurizer(tmp_path_factory) -> SentenceEmbeddingFeaturizer:
    storage = LocalModelStorage(tmp_path_factory.mktemp("storage"))
    return SentenceEmbeddingFeaturizer.create({"batch_size": 2}, storage, Resource("minilm"),
                                              ExecutionContext(GraphSchema({}), "test"))


def minilm_features(message: Message) -> list:
    return [f for f in message.features if f.origin == ORIGIN]


def test_adds_one_dense_sentence_feature(featurizer):
    m = Message(data={TEXT: "my brother is having a seizure"})
    featurizer.process([m])
    (feature,) = minilm_features(m)
    assert feature.type == FEATURE_TYPE_SENTENCE and feature.attribute == TEXT
    assert not feature.is_sparse()
    assert feature.features.shape == (1, DIMENSIONS)
    # Rasa's own accessor finds it, as the dense features of its featurizers
    sequence, sentence = m.get_dense_features(TEXT, [ORIGIN])
    assert sequence is None and sentence.features.shape == (1, DIMENSIONS)


def test_embedding_of_reads_back_the_encoder_vector(featurizer):
    text = "do you take insurance?"
    m = Message(data={TEXT: text})
    assert embedding_of(m) is None
    featurizer.process([m])
    vector = embedding_of(m)
    assert vector.shape == (DIMENSIONS,) and vector.dtype == np.float32
    assert np.allclose(vector, load_encoder().encode([text])[0], atol=1e-6)


def test_embedding_of_ignores_other_features():
    m = Message(data={TEXT: "hello"})
    m.add_features(Features(np.ones((1, DIMENSIONS)), FEATURE_TYPE_SENTENCE, TEXT, "spacy"))
    m.add_features(Features(np.ones((1, DIMENSIONS)), FEATURE_TYPE_SEQUENCE, TEXT, ORIGIN))
    assert embedding_of(m) is None


def test_running_twice_does_not_add_twice(featurizer):
    m = Message(data={TEXT: "how long is the program?"})
    featurizer.process([m])
    first = embedding_of(m)
    featurizer.process([m])
    assert len(minilm_features(m)) == 1
    assert np.array_equal(embedding_of(m), first)


def test_messages_without_text_are_skipped(featurizer):
    without = Message(data={"intent": "greet"})
    with_text = Message(data={TEXT: "hi there"})
    assert featurizer.process([without, with_text]) == [without, with_text]
    assert minilm_features(without) == [] and embedding_of(without) is None
    assert embedding_of(with_text) is not None


def test_each_message_gets_its_own_vector_across_batches(featurizer):
    texts = ["I took all my pills", "do you take insurance?", "what are your hours", "he won't wake up", "thanks"]
    messages = [Message(data={TEXT: t}) for t in texts]
    featurizer.process(messages)  # batch_size 2: three batches
    got = np.vstack([embedding_of(m) for m in messages])
    assert np.allclose(got, load_encoder().encode(texts), atol=1e-5)


def test_process_training_data_featurizes_the_examples(featurizer, tmp_path: Path):
    examples = [Message(data={TEXT: "I just swallowed all my pills", "intent": "emergency"}),
                Message(data={TEXT: "is the chat private?", "intent": "faq"}),
                Message(data={TEXT: "hello", "intent": "greet"})]
    data = TrainingData(training_examples=examples)
    assert featurizer.process_training_data(data) is data
    for example in data.training_examples:
        assert embedding_of(example) is not None
        assert np.isclose(np.linalg.norm(embedding_of(example)), 1.0, atol=1e-5)
