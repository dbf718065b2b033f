"""The semantic crisis classifier: a danger probability from word and character n-grams and the sentence vector.

Trained on NLU examples and labelled crisis messages, persisted as plain arrays (weights, IDF) and JSON
(vocabularies, bias) without pickle, and reloaded to the same probabilities. A message of several clauses
also gets each clause's probability, as if the clause had been sent alone, and a short message after the
visitor's previous one gets its context reading's probability (the two read together).
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import List

import numpy as np
import pytest
import yaml
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.channels.context import PREVIOUS_TEXT
from bot.names import CLAUSE_PROBABILITIES, CONTEXT_PROBABILITY, DANGER_PROBABILITY, OWN_TEXT
from bot.nlu.followup import gives_context, is_followup
from bot.nlu.semantic_crisis import (
    ARRAYS_FILE,
    META_FILE,
    VIEWS,
    SemanticCrisisClassifier,
    clauses,
    labelled_examples,
)
from bot.nlu.sentence_embedder import ORIGIN, SentenceEmbeddingFeaturizer, embedding_of
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


def ngram_size(clf) -> int:
    """How many weights the n-gram views take (before the 384 of the sentence vector)."""
    return sum(len(v.vocabulary_) for v in clf.vectorizers.values())


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


def test_a_message_vector_of_another_size_gets_no_probability_from_a_trained_model(trained):
    message = Message(data={TEXT: "I just swallowed all my pills"})
    message.add_features(Features(np.ones((1, 100)), FEATURE_TYPE_SENTENCE, TEXT, ORIGIN))
    trained.process([message])
    assert trained.probability(message) is None and message.get(DANGER_PROBABILITY) is None


def test_weights_that_do_not_match_the_vocabularies_give_no_probability(trained, featurizer, storage):
    # the vector's weights alone, beside the trained views: the sizes no longer add up
    clf = SemanticCrisisClassifier({}, storage, Resource("semantic"), weights=trained.weights[-384:],
                                   bias=trained.bias, vectorizers=trained.vectorizers)
    message = featurized(featurizer, "I just swallowed all my pills")
    clf.process([message])
    assert message.get(DANGER_PROBABILITY) is None
    # ... while the vector-only model (no views) reads the same 384 weights
    alone = SemanticCrisisClassifier({}, storage, Resource("semantic"), weights=trained.weights[-384:],
                                     bias=trained.bias)
    assert isinstance(alone.probability(message), float)


# Clauses: a danger told in one clause of a longer message gets its own probability.

TWO_CLAUSES = "do you take insurance? but I just swallowed all my pills"


@pytest.mark.parametrize("text, expected", [
    ("how long is the program? I just swallowed all my pills",
     ["how long is the program?", "I just swallowed all my pills"]),
    ("he is not breathing. call someone now! what do I do? is this an overdose; please answer me",
     ["he is not breathing.", "call someone now!", "what do I do?", "is this an overdose;", "please answer me"]),
    ("do you take insurance\nmy dad is having a seizure\n\n  and he will not stop",
     ["do you take insurance", "my dad is having a seizure", "and he will not stop"]),
    # no space after the full stop: one sentence as far as the split goes
    ("it was fine.now he is shaking badly", []),
])
def test_clauses_split_after_a_sentence_ends_and_at_newlines(text, expected):
    assert clauses(text) == expected


@pytest.mark.parametrize("word", ["but", "also", "anyway", "btw", "But", "ANYWAY", "Btw"])
def test_clauses_split_before_a_turn(word):
    assert clauses(f"what are your hours {word} my friend took too much") == [
        "what are your hours", f"{word} my friend took too much"]


def test_clauses_split_before_and_also():
    assert clauses("what are your visiting hours and also my friend took too much") == [
        "what are your visiting hours", "and also my friend took too much"]


@pytest.mark.parametrize("text", [
    "I put butter on my toast this morning",  # a turn inside a word
    "but I really do not know what to do",  # a turn that opens the message
    "we are also worried about the cost of it",  # ... after a part too short to be a clause
    "what are your hours but",  # a turn with nothing after it
])
def test_clauses_do_not_split_on_a_turn_that_is_not_one(text):
    assert clauses(text) == []


def test_clauses_need_min_words_each():
    text = "help! my brother is not breathing. please. what do I do?"
    assert clauses(text) == ["my brother is not breathing.", "what do I do?"]
    assert clauses(text, min_words=1) == ["help!", "my brother is not breathing.", "please.", "what do I do?"]
    assert clauses(text, min_words=4) == ["my brother is not breathing.", "what do I do?"]  # 4 words is enough
    assert clauses(text, min_words=5) == []  # one clause of five words left: a message of one clause
    assert clauses("he is seizing. help now", min_words=2) == ["he is seizing.", "help now"]
    assert clauses("he is seizing. help now") == []


def test_clauses_keep_the_first_most():
    text = " ".join(f"this is sentence number {i}." for i in range(20))
    assert clauses(text) == [f"this is sentence number {i}." for i in range(16)]
    assert clauses(text, most=3) == [f"this is sentence number {i}." for i in range(3)]
    assert len(clauses(text, most=100)) == 20


@pytest.mark.parametrize("text", ["", "   ", "I just swallowed all my pills", "how long is the program?",
                                  "my dad is having a seizure and won't stop shaking", "ok. thanks"])
def test_a_message_of_one_clause_has_no_clauses(text):
    assert clauses(text) == []


def test_each_clause_scores_as_if_it_were_sent_alone(trained, featurizer):
    parts = trained.clause_probabilities(TWO_CLAUSES)
    assert [clause for clause, _ in parts] == clauses(TWO_CLAUSES) == [
        "do you take insurance?", "but I just swallowed all my pills"]
    for clause, q in parts:
        assert isinstance(q, float) and 0.0 < q < 1.0
        assert q == pytest.approx(probability_of(trained, featurizer, clause), abs=1e-4)
    (_, question), (_, danger) = parts
    assert question < 0.5 < danger
    # neither is the whole message's probability
    whole = probability_of(trained, featurizer, TWO_CLAUSES)
    assert whole != pytest.approx(question, abs=1e-3) and whole != pytest.approx(danger, abs=1e-3)


def test_the_clauses_of_a_vector_only_model_score_as_sent_alone(trained, featurizer, storage):
    alone = SemanticCrisisClassifier({}, storage, Resource("semantic"), weights=trained.weights[-384:],
                                     bias=trained.bias)
    parts = alone.clause_probabilities(TWO_CLAUSES)
    assert [clause for clause, _ in parts] == clauses(TWO_CLAUSES)
    for clause, q in parts:
        assert 0.0 < q < 1.0 and q == pytest.approx(alone.probability(featurized(featurizer, clause)), abs=1e-4)


def test_no_clause_probabilities_for_one_clause_or_without_a_model(trained, storage):
    assert trained.clause_probabilities("I just swallowed all my pills") == []
    assert trained.clause_probabilities("") == []
    untrained = SemanticCrisisClassifier({}, storage, Resource("semantic"))
    assert untrained.clause_probabilities(TWO_CLAUSES) == []
    # weights that do not fit the views and the sentence vector
    mismatched = SemanticCrisisClassifier({}, storage, Resource("semantic"), weights=trained.weights[-384:],
                                          bias=trained.bias, vectorizers=trained.vectorizers)
    assert mismatched.clause_probabilities(TWO_CLAUSES) == []
    assert SemanticCrisisClassifier({}, storage, Resource("semantic"), weights=np.ones(10),
                                    bias=0.0).clause_probabilities(TWO_CLAUSES) == []


def test_process_sets_the_clauses_only_on_a_message_of_several(trained, featurizer):
    several, one = featurized(featurizer, TWO_CLAUSES), featurized(featurizer, "I just swallowed all my pills")
    trained.process([several, one])
    expected = [[clause, q] for clause, q in trained.clause_probabilities(TWO_CLAUSES)]
    assert several.get(CLAUSE_PROBABILITIES) == expected and len(expected) == 2
    assert all(isinstance(pair, list) for pair in several.get(CLAUSE_PROBABILITIES))
    assert isinstance(several.get(DANGER_PROBABILITY), float)
    assert isinstance(one.get(DANGER_PROBABILITY), float) and one.get(CLAUSE_PROBABILITIES) is None


def test_process_sets_no_clauses_without_a_probability(trained, featurizer, storage):
    # no vector: no probability, and no clauses either
    raw = Message(data={TEXT: TWO_CLAUSES})
    trained.process([raw])
    assert raw.get(DANGER_PROBABILITY) is None and raw.get(CLAUSE_PROBABILITIES) is None
    # an untrained model
    message = featurized(featurizer, TWO_CLAUSES)
    SemanticCrisisClassifier({}, storage, Resource("semantic")).process([message])
    assert message.get(DANGER_PROBABILITY) is None and message.get(CLAUSE_PROBABILITIES) is None


def test_the_clauses_are_not_in_the_parse_output(trained, featurizer):
    message = featurized(featurizer, TWO_CLAUSES)
    trained.process([message])
    assert message.get(CLAUSE_PROBABILITIES) and message.get(DANGER_PROBABILITY) is not None
    output = message.as_dict(only_output_properties=True)
    assert CLAUSE_PROBABILITIES not in output and DANGER_PROBABILITY not in output


def test_trains_the_word_and_character_views(trained):
    assert set(trained.vectorizers) == set(VIEWS) == {"words", "chars"}
    words, chars = trained.vectorizers["words"].vocabulary_, trained.vectorizers["chars"].vocabulary_
    # words and word pairs seen in at least two examples (words_min_df 2), none seen once
    assert {"my", "do you", "going to"} <= set(words) and "swallowed" not in words
    assert all(3 <= len(term) <= 5 for term in chars) and " my " in chars
    assert trained.weights.shape == (len(words) + len(chars) + 384,)
    assert np.any(trained.weights[:ngram_size(trained)] != 0) and np.any(trained.weights[-384:] != 0)


def test_the_sentence_vector_comes_last_scaled_by_vector_weight(trained, featurizer):
    message = featurized(featurizer, "my dad is having a seizure")
    vector = embedding_of(message)
    row = trained._features([message.get(TEXT)], vector.reshape(1, -1)).toarray().ravel()
    assert row.shape == trained.weights.shape
    assert np.allclose(row[-384:], 2.0 * vector)
    # each n-gram view is a unit-length TF-IDF row
    words = len(trained.vectorizers["words"].vocabulary_)
    assert np.isclose(np.linalg.norm(row[:words]), 1.0)
    assert np.isclose(np.linalg.norm(row[words:ngram_size(trained)]), 1.0)


def probabilities_by(featurizer, tmp_path, key: str, values, text: str) -> List[float]:
    """``text``'s probability from a classifier trained on the NLU data with each value of ``key``."""
    out = []
    for value in values:
        (tmp_path / f"{key}{value}").mkdir()
        clf = classifier(LocalModelStorage(tmp_path / f"{key}{value}"), **{key: value})
        clf.train(nlu_data(featurizer))
        out.append(probability_of(clf, featurizer, text))
    return out


def test_vector_weight_changes_the_model(featurizer, tmp_path):
    low, high = probabilities_by(featurizer, tmp_path, "vector_weight", (0.5, 4.0),
                                 "my girlfriend took all her sleeping pills")
    assert low != pytest.approx(high, abs=1e-3)


def test_persists_and_loads_the_same_model(trained, featurizer, storage, monkeypatch):
    def no_pickle(*args, **kwargs):
        raise AssertionError("the model was unpickled")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    loaded = SemanticCrisisClassifier.load({}, storage, Resource("semantic"), context())
    assert np.array_equal(loaded.weights, trained.weights) and loaded.bias == trained.bias
    assert set(loaded.vectorizers) == set(trained.vectorizers)
    for view, vectorizer in trained.vectorizers.items():
        assert loaded.vectorizers[view].vocabulary_ == vectorizer.vocabulary_
        assert np.array_equal(loaded.vectorizers[view].idf_, vectorizer.idf_)
    # known n-grams, unknown ones, and a text with none of the words at all
    for text in ("I took too many pills", "how long is the program?", "my dad is going to hurt himself", "xyzzy qwv"):
        assert probability_of(loaded, featurizer, text) == pytest.approx(probability_of(trained, featurizer, text),
                                                                         abs=1e-12)


def test_persists_plain_arrays_and_json_not_pickles(trained, storage):
    with storage.read_from(Resource("semantic")) as model_dir:
        assert sorted(p.name for p in model_dir.iterdir()) == sorted([ARRAYS_FILE, META_FILE])
        meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
        with np.load(model_dir / ARRAYS_FILE, allow_pickle=False) as arrays:
            assert set(arrays.files) == {"weights", "idf_words", "idf_chars"}
            assert all(arrays[name].dtype == np.float64 for name in arrays.files)
            assert np.array_equal(arrays["weights"], trained.weights)
            for view in VIEWS:
                assert np.array_equal(arrays[f"idf_{view}"], trained.vectorizers[view].idf_)
                assert arrays[f"idf_{view}"].shape == (len(meta["vocabularies"][view]),)
    assert meta["bias"] == trained.bias
    for view in VIEWS:
        vocabulary = meta["vocabularies"][view]
        assert vocabulary == trained.vectorizers[view].vocabulary_
        assert sorted(vocabulary.values()) == list(range(len(vocabulary)))
    assert trained.weights.shape == (sum(len(v) for v in meta["vocabularies"].values()) + 384,)


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
    unlabelled = featurized(featurizer, "zebra I am fine")  # featurized, no intent
    raw = Message(data={TEXT: "zebra no vector", "intent": "emergency"})  # intent, no vector
    data = TrainingData(training_examples=data.training_examples + [unlabelled, raw])
    clf = classifier(storage)
    clf.train(data)
    assert clf.weights is not None and clf.weights.shape == (ngram_size(clf) + 384,)
    # "zebra" would be in two texts (words_min_df 2) had either been read
    assert "zebra" not in clf.vectorizers["words"].vocabulary_
    assert "zebra" in clf.vectorizers["words"].build_analyzer()("zebra zebra")


def test_a_training_set_too_small_for_min_df_trains_on_the_vector(featurizer, storage):
    # two texts without a common word: no word or character n-gram reaches min_df
    clf = classifier(storage)
    clf.train(nlu_data(featurizer, emergencies=["help seizing"], questions=["insurance accepted?"]))
    assert clf.vectorizers == {} and clf.weights.shape == (384,)
    assert 0.0 < probability_of(clf, featurizer, "help he is seizing") < 1.0
    loaded = SemanticCrisisClassifier.load({}, storage, Resource("semantic"), context())
    assert loaded.vectorizers == {} and np.array_equal(loaded.weights, clf.weights)
    text = "help he is seizing"
    assert probability_of(loaded, featurizer, text) == probability_of(clf, featurizer, text)


def test_a_view_whose_min_df_leaves_no_terms_is_skipped(featurizer, storage, tmp_path):
    # two texts share words but no character n-gram is in three of them: the word view alone
    clf = classifier(storage)
    clf.train(nlu_data(featurizer, emergencies=["my dad is seizing"], questions=["my dad is asking"]))
    assert set(clf.vectorizers) == {"words"}
    assert {"my", "dad", "is", "my dad"} <= set(clf.vectorizers["words"].vocabulary_)
    assert clf.weights.shape == (len(clf.vectorizers["words"].vocabulary_) + 384,)
    loaded = SemanticCrisisClassifier.load({}, storage, Resource("semantic"), context())
    assert set(loaded.vectorizers) == {"words"}
    text = "my dad is seizing"
    assert probability_of(loaded, featurizer, text) == probability_of(clf, featurizer, text)
    # on the full data a min_df above every count drops the word view only
    (tmp_path / "strict").mkdir()
    strict = classifier(LocalModelStorage(tmp_path / "strict"), words_min_df=1000)
    strict.train(nlu_data(featurizer))
    assert set(strict.vectorizers) == {"chars"} and strict.weights.shape == (ngram_size(strict) + 384,)


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


FORUM_POSTS = [
    "a forum post said he wanted to kill himself", "a forum post said she took all her pills",
    "a forum post said his dad was having a seizure", "a forum post said my age group overdoses the most",
    "a forum post said people turn blue when they overdose", "a forum post said she had a knife and wanted to cut",
]


def test_a_word_cue_look_alike_is_learned_from_labelled_examples(featurizer, tmp_path):
    """"a forum post said": the n-grams learn the cue that the vector alone reads less well."""
    cases = write_cases(tmp_path / "cases.yml", [{"text": t, "label": "lookalike", "style": "reported"}
                                                 for t in FORUM_POSTS])
    models = {}
    for name, config in {"untaught": {}, "taught": {"examples": [str(cases)]},
                         "vector only": {"examples": [str(cases)], "words_min_df": 1000, "chars_min_df": 1000}}.items():
        (tmp_path / name).mkdir()
        models[name] = classifier(LocalModelStorage(tmp_path / name), **config)
        models[name].train(nlu_data(featurizer))
    assert models["vector only"].vectorizers == {}
    reported = "a forum post said her brother stopped breathing after taking pills"
    p = {name: probability_of(clf, featurizer, reported) for name, clf in models.items()}
    assert p["untaught"] > 0.5 > 0.1 > p["taught"]
    assert p["taught"] < p["vector only"]
    # the danger itself, told first-hand, still scores high
    assert probability_of(models["taught"], featurizer, "my brother stopped breathing after taking pills") > 0.5


def test_misspellings_are_learned_from_labelled_examples(featurizer, tmp_path):
    emergencies = ["hes siezing rn", "my mom is siezing rn plz", "she od'd rn not waking", "he od'd on fent rn",
                   "bf siezing on the flor rn", "i od'd rn cant feel my legs"]
    lookalikes = ["wat r ur hours", "do u take insurence", "how much is detox lol", "is ur chat privat",
                  "wat meds do u use", "where r u located"]
    cases = write_cases(tmp_path / "cases.yml", [
        {"text": t, "label": "emergency", "kind": "general", "style": "typo"} for t in emergencies
    ] + [{"text": t, "label": "lookalike", "style": "typo"} for t in lookalikes])
    probabilities = []
    for examples in ([], [str(cases)]):
        (tmp_path / str(len(examples))).mkdir()
        clf = classifier(LocalModelStorage(tmp_path / str(len(examples))), examples=examples)
        clf.train(nlu_data(featurizer))
        probabilities.append((probability_of(clf, featurizer, "ma od'd rn"),
                              probability_of(clf, featurizer, "wat r ur prices")))
    (untaught_danger, untaught_question), (taught_danger, taught_question) = probabilities
    assert untaught_danger < 0.5 < 0.9 < taught_danger
    assert taught_question < untaught_question and taught_question < 0.1


def test_relative_example_paths_are_read_from_the_project(storage, tmp_path):
    clf = classifier(storage, examples=["data/crisis/tuning.yml", str(tmp_path / "mine.yml")])
    assert clf._example_paths() == [ROOT / "data/crisis/tuning.yml", tmp_path / "mine.yml"]
    assert SemanticCrisisClassifier.get_default_config()["examples"] == ["data/crisis/tuning.yml"]


def test_labelled_examples_prefix_a_short_follow_up_with_its_context(tmp_path):
    long_reply = "he is still not waking up and his lips are going blue, what do I do now please"
    path = write_cases(tmp_path / "cases.yml", [
        {"text": "he is still not waking up ", "label": "emergency", "kind": "overdose", "style": "followup",
         "context": ["hello", " my brother took a whole bottle of oxy"]},
        {"text": long_reply, "label": "emergency", "kind": "overdose", "style": "followup",
         "context": ["my brother took a whole bottle of oxy"]},
        {"text": "is it still open?", "label": "lookalike", "style": "followup", "context": ["555-123-4567"]},
        {"text": "I overdosed in 2015, how does your program work?", "label": "lookalike", "style": "history"},
    ])
    assert labelled_examples([path]) == [
        # read as the pipeline reads it (bot.nlu.followup.read_after): no space kept at either end
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


def test_other_intents_weight_pulls_the_questions_down(featurizer, tmp_path):
    # the NLU questions weigh other_intents_weight: the heavier, the lower a question's probability
    light, heavy = probabilities_by(featurizer, tmp_path, "other_intents_weight", (0.2, 8.0),
                                    "how long is the detox program?")
    assert heavy < light
    assert SemanticCrisisClassifier.get_default_config()["other_intents_weight"] == 1.0


# The context reading: a short message is also read after the visitor's previous message.

LETHAL = "how many pills would it take to not wake up"
SHORT = "is that enough"  # not a follow-up: FollowUpContext leaves it alone
TWELVE = "I have forty saved up in a drawer next to my bed"  # 12 words, not a follow-up either
THIRTEEN = f"{TWELVE} tonight"
TOOK = "I took all my pills"
PREFIXED = f"{TOOK} and for xanax?"  # how FollowUpContext reads the follow-up "and for xanax?" after TOOK


def after(text: str, previous=None, metadata=None, **data) -> Message:
    """A message with the visitor's previous message in its metadata (or the metadata given)."""
    if metadata is None and previous is not None:
        metadata = {PREVIOUS_TEXT: previous}
    return Message(data={TEXT: text, **({"metadata": metadata} if metadata is not None else {}), **data})


def featurized_after(featurizer, text: str, previous: str) -> Message:
    message = after(text, previous)
    featurizer.process([message])
    return message


def test_the_context_texts_are_what_the_tests_assume():
    assert PREVIOUS_TEXT == "previous_text" and OWN_TEXT == "own_text"
    assert CONTEXT_PROBABILITY == "context_danger_probability"
    assert gives_context(LETHAL) and not gives_context("555-123-4567") and not gives_context("me@example.com")
    assert not any(is_followup(t) for t in (SHORT, TWELVE, THIRTEEN))
    assert [len(t.split()) for t in (SHORT, TWELVE, THIRTEEN)] == [3, 12, 13]
    assert SemanticCrisisClassifier.get_default_config()["context_words"] == 12


def test_context_reading_is_the_previous_message_then_this_one(storage):
    clf = classifier(storage)
    assert clf.context_reading(after(SHORT, LETHAL)) == "how many pills would it take to not wake up is that enough"
    # the previous message's and this one's surrounding whitespace is stripped; the inside is left as it is
    assert clf.context_reading(after("\t is that  enough \n", f"  {LETHAL}\n")) == f"{LETHAL} is that  enough"
    # the metadata's other keys do not matter
    assert clf.context_reading(after(SHORT, metadata={PREVIOUS_TEXT: LETHAL, "lang": "en"})) == f"{LETHAL} {SHORT}"


@pytest.mark.parametrize("metadata", [None, {}, {"lang": "en"}, {PREVIOUS_TEXT: None}, {PREVIOUS_TEXT: ""},
                                      {PREVIOUS_TEXT: 42}, {PREVIOUS_TEXT: [LETHAL]}])
def test_no_context_reading_without_a_previous_message(storage, metadata):
    assert classifier(storage).context_reading(after(SHORT, metadata=metadata)) is None


@pytest.mark.parametrize("previous", ["555-123-4567", "me@example.com", "ok", "no", "12/05 at 3pm", "  "])
def test_no_context_reading_after_a_previous_message_without_words(storage, previous):
    assert not gives_context(previous)
    assert classifier(storage).context_reading(after(SHORT, previous)) is None


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_no_context_reading_of_an_empty_message(storage, text):
    assert classifier(storage).context_reading(after(text, LETHAL)) is None


def test_no_context_reading_of_a_message_without_text(storage):
    assert classifier(storage).context_reading(Message(data={"metadata": {PREVIOUS_TEXT: LETHAL}})) is None


def test_context_reading_up_to_context_words(storage):
    clf = classifier(storage)
    assert clf.context_reading(after(TWELVE, LETHAL)) == f"{LETHAL} {TWELVE}"
    assert clf.context_reading(after(THIRTEEN, LETHAL)) is None
    # words are counted between whitespace, whatever it is
    assert clf.context_reading(after(TWELVE.replace(" ", "\n  "), LETHAL)) is not None


def test_context_words_is_configurable(tmp_path):
    (tmp_path / "three").mkdir()
    (tmp_path / "thirteen").mkdir()
    three = classifier(LocalModelStorage(tmp_path / "three"), context_words=3)
    assert three.context_reading(after(SHORT, LETHAL)) == f"{LETHAL} {SHORT}"
    assert three.context_reading(after("is that really enough", LETHAL)) is None
    assert three.context_reading(after(TWELVE, LETHAL)) is None
    thirteen = classifier(LocalModelStorage(tmp_path / "thirteen"), context_words=13)
    assert thirteen.context_reading(after(THIRTEEN, LETHAL)) == f"{LETHAL} {THIRTEEN}"


def test_no_context_reading_of_a_message_follow_up_context_already_prefixed(storage):
    """FollowUpContext put the previous message before the text and kept the visitor's own in own_text."""
    clf = classifier(storage)
    assert is_followup("and for xanax?") and len(PREFIXED.split()) <= 12
    message = after(PREFIXED, TOOK, **{OWN_TEXT: "and for xanax?"})
    assert clf.context_reading(message) is None
    message.set(OWN_TEXT, None)  # the same message without the key is read in context
    assert clf.context_reading(message) == f"{TOOK} {PREFIXED}"


def test_process_sets_the_context_reading_with_its_probability_alone(trained, featurizer):
    message = featurized_after(featurizer, SHORT, f" {LETHAL} ")
    trained.process([message])
    reading, q, previous = message.get(CONTEXT_PROBABILITY)
    assert reading == f"{LETHAL} {SHORT}" and isinstance(q, float) and 0.0 < q < 1.0
    # the previous message read alone, as it was read on its own turn
    assert previous == pytest.approx(probability_of(trained, featurizer, LETHAL), abs=1e-4)
    assert previous != pytest.approx(q, abs=1e-3)
    assert isinstance(message.get(CONTEXT_PROBABILITY), list)
    assert q == pytest.approx(probability_of(trained, featurizer, reading), abs=1e-4)
    # the message's own probability is its own, not the reading's
    assert message.get(DANGER_PROBABILITY) == pytest.approx(probability_of(trained, featurizer, SHORT), abs=1e-12)
    assert message.get(DANGER_PROBABILITY) != pytest.approx(q, abs=1e-3)


def test_the_context_reading_says_a_danger_only_after_one(trained, featurizer):
    danger = featurized_after(featurizer, SHORT, "I am going to kill myself tonight")
    question = featurized_after(featurizer, SHORT, "do you take insurance?")
    trained.process([danger, question])
    alone = danger.get(DANGER_PROBABILITY)
    assert alone == pytest.approx(question.get(DANGER_PROBABILITY), abs=1e-12)
    assert question.get(CONTEXT_PROBABILITY)[1] < 0.1 < alone < 0.5 < 0.9 < danger.get(CONTEXT_PROBABILITY)[1]


@pytest.mark.parametrize("text, metadata, own_text", [
    (SHORT, None, None),  # no previous message
    (SHORT, {PREVIOUS_TEXT: "555-123-4567"}, None),  # a previous message without words
    (THIRTEEN, {PREVIOUS_TEXT: LETHAL}, None),  # too long
    (PREFIXED, {PREVIOUS_TEXT: TOOK}, "and for xanax?"),  # FollowUpContext read it already
])
def test_process_sets_no_context_reading_without_one(trained, featurizer, text, metadata, own_text):
    message = after(text, metadata=metadata, **({OWN_TEXT: own_text} if own_text else {}))
    featurizer.process([message])
    trained.process([message])
    assert isinstance(message.get(DANGER_PROBABILITY), float)
    assert message.get(CONTEXT_PROBABILITY) is None


def test_process_sets_no_context_reading_without_a_probability(trained, featurizer, storage):
    raw = after(SHORT, LETHAL)  # no vector
    trained.process([raw])
    assert raw.get(DANGER_PROBABILITY) is None and raw.get(CONTEXT_PROBABILITY) is None
    message = featurized_after(featurizer, SHORT, LETHAL)
    SemanticCrisisClassifier({}, storage, Resource("semantic")).process([message])
    assert message.get(DANGER_PROBABILITY) is None and message.get(CONTEXT_PROBABILITY) is None


def test_the_context_reading_of_a_vector_only_model(trained, featurizer, storage):
    alone = SemanticCrisisClassifier({}, storage, Resource("semantic"), weights=trained.weights[-384:],
                                     bias=trained.bias)
    message = featurized_after(featurizer, SHORT, LETHAL)
    alone.process([message])
    reading, q, previous = message.get(CONTEXT_PROBABILITY)
    assert reading == f"{LETHAL} {SHORT}"
    assert q == pytest.approx(alone.probability(featurized(featurizer, reading)), abs=1e-4)
    assert previous == pytest.approx(alone.probability(featurized(featurizer, LETHAL)), abs=1e-4)


def test_no_context_reading_from_a_model_on_vectors_of_another_size(storage):
    """A model on 100-dimension vectors scores the message but cannot encode the reading."""
    clf = SemanticCrisisClassifier({}, storage, Resource("semantic"), weights=np.full(100, 0.01), bias=0.0)
    message = after(SHORT, LETHAL)
    message.add_features(Features(np.ones((1, 100)), FEATURE_TYPE_SENTENCE, TEXT, ORIGIN))
    clf.process([message])
    assert isinstance(message.get(DANGER_PROBABILITY), float)
    assert message.get(CONTEXT_PROBABILITY) is None


def test_the_context_reading_is_not_in_the_parse_output(trained, featurizer):
    message = featurized_after(featurizer, SHORT, LETHAL)
    trained.process([message])
    assert message.get(CONTEXT_PROBABILITY)
    assert CONTEXT_PROBABILITY not in message.as_dict(only_output_properties=True)


def context_cases(tmp_path: Path) -> Path:
    return write_cases(tmp_path / "cases.yml", [
        {"text": SHORT, "label": "emergency", "kind": "suicide", "style": "followup", "context": ["hi", LETHAL]},
        {"text": TWELVE, "label": "emergency", "kind": "suicide", "style": "followup", "context": [LETHAL]},
        {"text": THIRTEEN, "label": "emergency", "kind": "suicide", "style": "followup", "context": [LETHAL]},
        {"text": "what about them", "label": "lookalike", "style": "followup", "context": ["are benzos addictive?"]},
        {"text": SHORT, "label": "lookalike", "style": "followup", "context": ["555-123-4567"]},
        {"text": SHORT, "label": "lookalike", "style": "plain"},
    ])


def test_labelled_examples_prefix_a_short_case_with_its_context(tmp_path):
    path = context_cases(tmp_path)
    assert labelled_examples([path]) == labelled_examples([path], 12) == [
        (f"{LETHAL} {SHORT}", True),  # not a follow-up, but short: read after the last message of its context
        (f"{LETHAL} {TWELVE}", True),  # context_words is inclusive
        (THIRTEEN, True),  # one word too many
        ("are benzos addictive? what about them", False),  # a follow-up
        (SHORT, False),  # a phone number is not context
        (SHORT, False),  # no context
    ]


def test_labelled_examples_respect_context_words(tmp_path):
    path = context_cases(tmp_path)
    assert [text for text, _ in labelled_examples([path], context_words=3)] == [
        f"{LETHAL} {SHORT}", TWELVE, THIRTEEN, "are benzos addictive? what about them", SHORT, SHORT]
    # a follow-up is prefixed whatever context_words is
    assert [text for text, _ in labelled_examples([path], context_words=0)] == [
        SHORT, TWELVE, THIRTEEN, "are benzos addictive? what about them", SHORT, SHORT]
    assert [text for text, _ in labelled_examples([path], context_words=13)][:3] == [
        f"{LETHAL} {SHORT}", f"{LETHAL} {TWELVE}", f"{LETHAL} {THIRTEEN}"]


@pytest.mark.parametrize("context_words", [0, 5])
def test_training_reads_the_labelled_cases_with_context_words(featurizer, storage, tmp_path, monkeypatch,
                                                              context_words):
    import bot.nlu.semantic_crisis as semantic_crisis

    calls = []

    def spy(paths, *args, **kwargs):
        calls.append((list(paths), args, kwargs))
        return []

    monkeypatch.setattr(semantic_crisis, "labelled_examples", spy)
    path = context_cases(tmp_path)
    clf = classifier(storage, examples=[str(path)], context_words=context_words)
    clf.train(nlu_data(featurizer))
    assert len(calls) == 1
    paths, args, kwargs = calls[0]
    assert paths == [path] and (list(args) + list(kwargs.values())) == [context_words]
