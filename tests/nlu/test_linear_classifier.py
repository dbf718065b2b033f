"""The linear intent classifier: intents, FAQ answers in the ResponseSelector's format, persistence."""
from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np
import pytest
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.linear_classifier import LinearIntentClassifier, sentence_features

VOCAB = ["insurance", "pay", "phone", "call", "hello", "hi", "weather", "rain"]
# (words, intent, intent_response_key)
EXAMPLES = [
    (["insurance", "pay"], "faq", "faq/insurance"), (["insurance"], "faq", "faq/insurance"),
    (["pay", "insurance", "insurance"], "faq", "faq/insurance"),
    (["phone", "call"], "faq", "faq/contact"), (["call"], "faq", "faq/contact"), (["phone"], "faq", "faq/contact"),
    (["hello"], "greet", None), (["hi"], "greet", None), (["hello", "hi"], "greet", None),
    (["weather"], "out_of_scope", None), (["rain"], "out_of_scope", None), (["weather", "rain"], "out_of_scope", None),
]


def featurised(words: List[str], vocab=VOCAB, with_chars: bool = True) -> Message:
    """A message with the sentence features two featurizers would have added."""
    message = Message(data={TEXT: " ".join(words)})
    counts = np.array([[words.count(w) for w in vocab]], dtype=float)
    message.add_features(Features(scipy.sparse.coo_matrix(counts), FEATURE_TYPE_SENTENCE, TEXT, "words"))
    if with_chars:
        chars = np.array([[sum(w.count(c) for w in words) for c in "aeiou"]], dtype=float)
        message.add_features(Features(scipy.sparse.coo_matrix(chars), FEATURE_TYPE_SENTENCE, TEXT, "chars"))
    return message


@pytest.fixture()
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


def context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


@pytest.fixture()
def trained(storage) -> LinearIntentClassifier:
    examples = []
    for words, intent, key in EXAMPLES:
        m = featurised(words)
        m.set("intent", intent)
        if key:
            m.set("intent_response_key", key)
        examples.append(m)
    responses = {"utter_faq/insurance": [{"text": "We take some plans."}],
                 "utter_faq/contact": [{"text": "Call us."}], "utter_greet": [{"text": "Hi!"}]}
    clf = LinearIntentClassifier.create({}, storage, Resource("lin"), context())
    clf.train(TrainingData(training_examples=examples, responses=responses))
    return clf


def test_sentence_features_scale_each_featurizer_to_unit_length():
    x = sentence_features(featurised(["insurance", "insurance", "pay"]))
    assert x.shape == (1, len(VOCAB) + 5)
    # blocks in the order of their featurizer's name: "chars" then "words"
    chars, words = x[:, :5].toarray(), x[:, 5:].toarray()
    assert np.isclose(np.linalg.norm(words), 1.0) and np.isclose(np.linalg.norm(chars), 1.0)
    assert sentence_features(Message(data={TEXT: "no features"})) is None


def test_predicts_base_intents_with_faq_as_the_sum_of_its_topics(trained):
    m = featurised(["insurance"])
    trained.process([m])
    assert m.get("intent")["name"] == "faq"
    ranking = m.get("intent_ranking")
    assert [r["name"] for r in ranking].count("faq") == 1
    assert np.isclose(sum(r["confidence"] for r in ranking), 1.0)
    g = featurised(["hello"])
    trained.process([g])
    assert g.get("intent")["name"] == "greet"


def test_writes_the_answer_in_the_response_selector_format(trained):
    m = featurised(["phone", "call"])
    trained.process([m])
    selector = m.get("response_selector")
    assert selector["all_retrieval_intents"] == ["faq"]
    response = selector["faq"]["response"]
    assert response["intent_response_key"] == "faq/contact"
    assert response["utter_action"] == "utter_faq/contact"
    assert response["responses"] == [{"text": "Call us."}]
    ranking = selector["faq"]["ranking"]
    assert [r["intent_response_key"] for r in ranking] == ["faq/contact", "faq/insurance"]
    # topic confidences are given the retrieval intent: they sum to one
    assert np.isclose(sum(r["confidence"] for r in ranking), 1.0)
    assert ranking[0]["confidence"] > 0.5


def test_retrieval_confidence_max_uses_the_best_topic(storage, trained):
    as_max = LinearIntentClassifier({"retrieval_confidence": "max"}, storage, Resource("lin"), trained.labels,
                                    trained.weights, trained.bias, trained.responses)
    m1, m2 = featurised(["insurance", "phone"]), featurised(["insurance", "phone"])
    trained.process([m1])
    as_max.process([m2])
    faq_sum = next(r["confidence"] for r in m1.get("intent_ranking") if r["name"] == "faq")
    faq_max = next(r["confidence"] for r in m2.get("intent_ranking") if r["name"] == "faq")
    assert faq_max < faq_sum


def test_persists_as_plain_arrays_and_loads_the_same_model(storage, trained, tmp_path):
    loaded = LinearIntentClassifier.load({}, storage, Resource("lin"), context())
    a, b = featurised(["pay", "insurance"]), featurised(["pay", "insurance"])
    trained.process([a])
    loaded.process([b])
    assert a.get("intent_ranking") == b.get("intent_ranking")
    assert a.get("response_selector") == b.get("response_selector")
    with np.load(next(tmp_path.rglob("weights.npz")), allow_pickle=False) as arrays:
        assert set(arrays.files) == {"weights", "bias"}


def test_without_a_stored_model_it_predicts_nothing(storage):
    clf = LinearIntentClassifier.load({}, storage, Resource("missing"), context())
    m = featurised(["insurance"])
    clf.process([m])
    assert m.get("intent") is None


def test_messages_it_cannot_read_are_left_alone(trained):
    no_features = Message(data={TEXT: "hello"})
    wrong_size = featurised(["insurance"], vocab=VOCAB[:3])
    trained.process([no_features, wrong_size])
    assert no_features.get("intent") is None and wrong_size.get("intent") is None


def test_too_little_data_is_not_trained(storage):
    m = featurised(["hello"])
    m.set("intent", "greet")
    clf = LinearIntentClassifier.create({}, storage, Resource("tiny"), context())
    clf.train(TrainingData(training_examples=[m]))
    assert clf.weights is None
