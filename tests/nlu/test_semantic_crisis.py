"""The semantic crisis classifier: a danger probability from the sentence embedding, trained and persisted."""
from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np
import pytest
import yaml
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.names import DANGER_PROBABILITY
from bot.nlu.semantic_crisis import ARRAYS_FILE, META_FILE, SemanticCrisisClassifier, labelled_examples
from bot.nlu.sentence_embedder import SentenceEmbeddingFeaturizer
from bot.settings import ROOT

EMERGENCIES = [
    "I just swallowed all my pills",
    "he is having a seizure and won't stop",
    "my friend overdosed and is not breathing",
    "I am going to kill myself tonight",
    "she took a whole bottle of xanax and won't wake up",
    "my dad is shaking on the floor and foaming at the mouth",
    "I have a knife and I'm going to cut myself now",
    "my son is turning blue and unresponsive",
    "I want to die and I have the rope ready",
    "my husband is seeing things and says he will hurt the kids",
]
QUESTIONS = [
    "do you take insurance?",
    "how long is the detox program?",
    "what are your visiting hours?",
    "is the chat private?",
    "how much does treatment cost?",
    "where is your facility located?",
    "can I bring my phone to rehab?",
    "do you offer payment plans?",
    "what medications do you use for withdrawal?",
    "how do I schedule an intake appointment?",
]


@pytest.fixture(scope="module")
def featurizer() -> SentenceEmbeddingFeaturizer:
    return SentenceEmbeddingFeaturizer({})


def context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


def featurized(featurizer, text: str, intent: str | None = None) -> Message:
    message = Message(data={TEXT: text, **({"intent": intent} if intent else {})})
    featurizer.process([message])
    return message


def nlu_data(featurizer, emergencies=EMERGENCIES, questions=QUESTIONS) -> TrainingData:
    examples = [Message(data={TEXT: t, "intent": "emergency"}) for t in emergencies]
    examples += [Message(data={TEXT: t, "intent": "faq"}) for t in questions]
    return featurizer.process_training_data(TrainingData(training_examples=examples))


def write_cases(path: Path, cases: List[dict]) -> Path:
    path.write_text(yaml.safe_dump(cases), encoding="utf-8")
    return path


@pytest.fixture()
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


def classifier(storage, **config) -> SemanticCrisisClassifier:
    return SemanticCrisisClassifier.create({"examples": [], **config}, storage, Resource("semantic"), context())


@pytest.fixture()
def trained(featurizer, storage) -> SemanticCrisisClassifier:
    clf = classifier(storage)
    assert clf.train(nlu_data(featurizer)) == Resource("semantic")
    return clf


def probability_of(clf, featurizer, text: str) -> float:
    message = featurized(featurizer, text)
    clf.process([message])
    return message.get(DANGER_PROBABILITY)


def test_a_new_danger_scores_higher_than_a_new_question(trained, featurizer):
    danger = probability_of(trained, featurizer, "my girlfriend took all her sleeping pills and I can't wake her")
    question = probability_of(trained, featurizer, "do you accept Medicaid?")
    assert 0.0 < question < 0.5 < danger < 1.0


def test_sets_the_probability_on_every_message_with_a_vector(trained, featurizer):
    messages = [featurized(featurizer, "help he is seizing"), featurized(featurizer, "what are your hours?")]
    trained.process(messages)
    assert all(isinstance(m.get(DANGER_PROBABILITY), float) for m in messages)
    assert messages[0].get(DANGER_PROBABILITY) > messages[1].get(DANGER_PROBABILITY)


def test_a_message_without_a_vector_gets_no_probability(trained):
    message = Message(data={TEXT: "I just swallowed all my pills"})
    trained.process([message])
    assert trained.probability(message) is None
    assert message.get(DANGER_PROBABILITY) is None


def test_a_vector_of_another_size_gets_no_probability(storage, featurizer):
    clf = SemanticCrisisClassifier({}, storage, Resource("semantic"), weights=np.ones(10), bias=0.0)
    message = featurized(featurizer, "I just swallowed all my pills")
    clf.process([message])
    assert message.get(DANGER_PROBABILITY) is None


def test_persists_and_loads_the_same_model(trained, featurizer, storage):
    loaded = SemanticCrisisClassifier.load({}, storage, Resource("semantic"), context())
    assert np.array_equal(loaded.weights, trained.weights) and loaded.bias == trained.bias
    for text in ("I took too many pills", "how long is the program?"):
        assert probability_of(loaded, featurizer, text) == probability_of(trained, featurizer, text)


def test_persists_plain_arrays_not_pickles(trained, storage):
    with storage.read_from(Resource("semantic")) as model_dir:
        assert sorted(p.name for p in model_dir.iterdir()) == sorted([ARRAYS_FILE, META_FILE])
        with np.load(model_dir / ARRAYS_FILE, allow_pickle=False) as arrays:
            assert arrays["weights"].shape == (384,)


def test_loading_nothing_gives_an_untrained_component(featurizer, storage):
    loaded = SemanticCrisisClassifier.load({}, storage, Resource("never_trained"), context())
    assert loaded.weights is None
    message = featurized(featurizer, "I just swallowed all my pills")
    loaded.process([message])
    assert message.get(DANGER_PROBABILITY) is None


def test_one_class_only_is_not_trained(featurizer, storage):
    clf = classifier(storage)
    clf.train(nlu_data(featurizer, emergencies=[]))
    assert clf.weights is None
    message = featurized(featurizer, "do you take insurance?")
    clf.process([message])
    assert message.get(DANGER_PROBABILITY) is None
    # nothing was persisted either
    assert SemanticCrisisClassifier.load({}, storage, Resource("semantic"), context()).weights is None


def test_examples_without_an_intent_or_a_vector_are_left_out(featurizer, storage):
    data = nlu_data(featurizer)
    unlabelled = featurized(featurizer, "I am fine")  # featurized, no intent
    raw = Message(data={TEXT: "no vector", "intent": "emergency"})  # intent, no vector
    data = TrainingData(training_examples=data.training_examples + [unlabelled, raw])
    clf = classifier(storage)
    clf.train(data)
    assert clf.weights is not None and clf.weights.shape == (384,)


def test_labelled_crisis_files_are_trained_on(featurizer, storage, tmp_path):
    # the NLU data alone has no emergency: the labelled file brings them
    cases = write_cases(tmp_path / "cases.yml", [
        {"text": t, "label": "emergency", "kind": "general", "style": "plain"} for t in EMERGENCIES
    ] + [{"text": "I overdosed years ago and I'm fine now", "label": "lookalike", "style": "history"}])
    clf = classifier(storage, examples=[str(cases)])
    clf.train(nlu_data(featurizer, emergencies=[]))
    assert clf.weights is not None
    assert probability_of(clf, featurizer, "my brother is seizing and won't stop") > \
        probability_of(clf, featurizer, "how much does the program cost?")


def test_labelled_examples_weigh_by_examples_weight(featurizer, tmp_path):
    # a look-alike that reads like the NLU emergencies: the more it weighs, the lower its probability
    text = "last year I swallowed all my pills, do you take insurance?"
    cases = write_cases(tmp_path / "cases.yml", [{"text": text, "label": "lookalike", "style": "history"}])
    probabilities = []
    for weight in (0.1, 20.0):
        (tmp_path / f"w{weight}").mkdir()
        clf = classifier(LocalModelStorage(tmp_path / f"w{weight}"), examples=[str(cases)], examples_weight=weight)
        clf.train(nlu_data(featurizer))
        probabilities.append(probability_of(clf, featurizer, text))
    assert probabilities[1] < probabilities[0]


def test_relative_example_paths_are_read_from_the_project(storage, tmp_path):
    clf = classifier(storage, examples=["data/crisis/tuning.yml", str(tmp_path / "mine.yml")])
    assert clf._example_paths() == [ROOT / "data/crisis/tuning.yml", tmp_path / "mine.yml"]
    assert SemanticCrisisClassifier.get_default_config()["examples"] == ["data/crisis/tuning.yml"]


def test_labelled_examples_prefix_a_short_follow_up_with_its_context(tmp_path):
    long_reply = "he is still not waking up and his lips are going blue, what do I do now please"
    path = write_cases(tmp_path / "cases.yml", [
        {"text": "he is still not waking up", "label": "emergency", "kind": "overdose", "style": "followup",
         "context": ["hello", "my brother took a whole bottle of oxy"]},
        {"text": long_reply, "label": "emergency", "kind": "overdose", "style": "followup",
         "context": ["my brother took a whole bottle of oxy"]},
        {"text": "is it still open?", "label": "lookalike", "style": "followup", "context": ["555-123-4567"]},
        {"text": "I overdosed in 2015, how does your program work?", "label": "lookalike", "style": "history"},
    ])
    assert labelled_examples([path]) == [
        ("my brother took a whole bottle of oxy he is still not waking up", True),
        (long_reply, True),
        ("is it still open?", False),  # a phone number is not context
        ("I overdosed in 2015, how does your program work?", False),
    ]


def test_labelled_examples_read_the_mapping_format_too(tmp_path):
    path = tmp_path / "suite.yml"
    path.write_text(yaml.safe_dump({"emergency": {"seizure": ["he is seizing"], "overdose": ["I took it all"]},
                                    "not_emergency": ["do you take insurance?"]}, sort_keys=False), encoding="utf-8")
    assert labelled_examples([path]) == [("he is seizing", True), ("I took it all", True),
                                         ("do you take insurance?", False)]


def test_the_fingerprint_follows_the_labelled_files(tmp_path):
    path = write_cases(tmp_path / "cases.yml", [{"text": "he is seizing", "label": "emergency"}])
    config = {"examples": [str(path)]}
    before = SemanticCrisisClassifier.fingerprint_addon(config)
    assert SemanticCrisisClassifier.fingerprint_addon(config) == before
    write_cases(path, [{"text": "he is seizing", "label": "lookalike"}])
    changed = SemanticCrisisClassifier.fingerprint_addon(config)
    assert changed != before
    path.unlink()
    assert SemanticCrisisClassifier.fingerprint_addon(config) not in (before, changed)
    # the default config fingerprints the project's file
    assert SemanticCrisisClassifier.fingerprint_addon({}) != SemanticCrisisClassifier.fingerprint_addon(config)
