"""Rasa graph component: the probability that a message tells of a danger now.

A logistic regression over three views of the message: word n-grams, character n-grams (both
TF-IDF: the cues that are words, "years ago", "a forum post said", "rn", misspellings) and the
MiniLM sentence vector (:mod:`bot.nlu.sentence_embedder`: the meaning, whatever the words),
weighted by ``vector_weight``. It trains on the NLU examples (``emergency`` against every other
intent) and on the labelled crisis messages of ``data/crisis/`` (emergencies and their
look-alikes: past dangers, reported speech, questions, idioms), which weigh ``examples_weight``
times more. It decides nothing itself: it sets ``danger_probability`` on the message, and
:class:`bot.nlu.crisis_detector.CrisisDetector` decides with it and the rules. The vector alone
(the model of stop 9) separated a danger from a question about it less well: leaving one of ten
authors out, emergency recall 0.926 with 16.1% of look-alikes escalated, against 0.934 and 13.2%
with the n-grams, under the same decision rules (README, "The crisis layer"). For a message of
several clauses it also scores each clause alone (:func:`clauses`), so that the detector can tell a
danger told in one clause from a question around it; and a short message is also scored after the
visitor's previous one (:meth:`SemanticCrisisClassifier.context_reading`): "is that enough" or "tonight"
says a danger only after "how many would it take to not wake up".
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.channels.context import PREVIOUS_TEXT
from bot.names import CLAUSE_PROBABILITIES, CONTEXT_PROBABILITY, DANGER_PROBABILITY, EMERGENCY_INTENT, OWN_TEXT
from bot.nlu import vector_cache
from bot.nlu.embeddings import DIMENSIONS, load_encoder
from bot.nlu.followup import gives_context, is_followup, read_after
from bot.nlu.sentence_embedder import SentenceEmbeddingFeaturizer, embedding_of
from bot.settings import ROOT

logger = logging.getLogger(__name__)
ARRAYS_FILE = "semantic_crisis.npz"
META_FILE = "semantic_crisis.json"
#: The two n-gram views
VIEWS = ("words", "chars")
#: Where a message splits into clauses: after a sentence's end or a line, and before a turn
#: ("but", "also", "and also", "anyway", "btw")
_CLAUSE_BREAK = re.compile(
    r"(?<=[.!?;])\s+|\n+|\s+(?=(?:and also|but|anyway|btw)\s)|(?<!\band)\s+(?=also\s)", re.IGNORECASE)


def clauses(text: str, min_words: int = 3, most: int = 16) -> List[str]:
    """The clauses of a message that has several (at least ``min_words`` words each; the first ``most``).

    A message of one clause gives an empty list: its own probability is the clause's.
    """
    parts = [part.strip() for part in _CLAUSE_BREAK.split(text) if part and len(part.split()) >= min_words]
    return parts[:most] if len(parts) > 1 else []


def labelled_examples(paths: Sequence[Path], context_words: int = 12) -> List[tuple[str, bool]]:
    """(text as the pipeline reads it, is an emergency) for every case of the labelled crisis files.

    A case with a context is read as the pipeline reads it in a conversation: a follow-up
    (:class:`bot.nlu.followup.FollowUpContext`) or a message of at most ``context_words`` words (the
    classifier's context reading) is prefixed with the message before it; its label is the pair's.
    """
    from bot.evaluation.crisis import load_suite

    out = []
    for path in paths:
        for case in load_suite(path):
            text = case.text
            previous = case.context[-1] if case.context else None
            if previous and gives_context(previous) and (
                    is_followup(text) or len(text.split()) <= context_words):
                text = read_after(previous, text)
            out.append((text, case.emergency))
    return out


def _vectorizer(config: Dict[str, Any], view: str, vocabulary: Dict[str, int] | None = None) -> Any:
    """A TF-IDF vectorizer for one view (fitted by the caller, or given its vocabulary)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    low, high = config[f"{view}_ngrams"]
    if view == "words":
        return TfidfVectorizer(ngram_range=(low, high), min_df=config["words_min_df"], sublinear_tf=True,
                               vocabulary=vocabulary, dtype=np.float64)
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(low, high), min_df=config["chars_min_df"],
                           max_features=config["chars_max_features"], sublinear_tf=True,
                           vocabulary=vocabulary, dtype=np.float64)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class SemanticCrisisClassifier(GraphComponent):
    """Sets ``danger_probability`` on every message from its n-grams and sentence embedding."""

    @classmethod
    def required_components(cls) -> List[type]:
        """Reads the vectors of the sentence-embedding featurizer."""
        return [SentenceEmbeddingFeaturizer]

    @staticmethod
    def required_packages() -> List[str]:
        """The n-gram views and the regression come from scikit-learn."""
        return ["sklearn"]

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The component's default config."""
        return {
            # labelled crisis messages (bot/evaluation/crisis.py's format), relative to the project
            "examples": ["data/crisis/tuning.yml"],
            # how much more a labelled crisis message weighs than an NLU example of the emergency intent
            "examples_weight": 3.0,
            # how much an NLU example of every other intent weighs (the questions the assistant answers)
            "other_intents_weight": 1.0,
            # inverse regularisation strength of the logistic regression
            "C": 30.0,
            "max_iter": 5000,
            # the sentence vector's scale beside the n-gram views (each TF-IDF row has unit length)
            "vector_weight": 2.0,
            "words_ngrams": [1, 2],
            "words_min_df": 2,
            "chars_ngrams": [3, 5],
            "chars_min_df": 3,
            "chars_max_features": 40000,
            # a message of at most this many words is also read after the visitor's previous message
            "context_words": 12,
        }

    def __init__(self, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 weights: np.ndarray | None = None, bias: float = 0.0,
                 vectorizers: Dict[str, Any] | None = None) -> None:
        """A classifier; untrained unless ``weights`` is given.

        ``weights`` are the vector's weights after the n-gram views' (one per vocabulary entry of
        ``vectorizers``, in :data:`VIEWS` order); without vectorizers they are the vector's only.
        """
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.weights, self.bias = weights, bias
        self.vectorizers = vectorizers or {}

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

    def _features(self, texts: Sequence[str], vectors: np.ndarray) -> Any:
        """The rows the regression reads: the n-gram views, then the scaled sentence vectors."""
        from scipy.sparse import csr_matrix, hstack

        views = [self.vectorizers[v].transform(texts) for v in VIEWS if v in self.vectorizers]
        return hstack(views + [csr_matrix(vectors * self.config["vector_weight"])]).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the model on the NLU examples and the labelled crisis messages."""
        from sklearn.linear_model import LogisticRegression

        texts: List[str] = []
        rows, y, w = [], [], []
        for example in training_data.intent_examples:
            vector = embedding_of(example)
            if vector is not None and example.get(INTENT):
                texts.append(example.get(TEXT) or "")
                rows.append(vector)
                emergency = example.get(INTENT) == EMERGENCY_INTENT
                y.append(emergency)
                w.append(1.0 if emergency else self.config["other_intents_weight"])
        labelled = labelled_examples(self._example_paths(), self.config["context_words"])
        if labelled:
            texts.extend(text for text, _ in labelled)
            rows.extend(vector_cache.encode(load_encoder(), [text for text, _ in labelled]))
            y.extend(emergency for _, emergency in labelled)
            w.extend([self.config["examples_weight"]] * len(labelled))
        if len(set(y)) < 2:
            logger.warning("SemanticCrisisClassifier: needs emergencies and other messages; not trained.")
            return self._resource
        self.vectorizers = {}
        for view in VIEWS:
            vectorizer = _vectorizer(self.config, view)
            try:
                vectorizer.fit(texts)
            except ValueError:  # too few texts for min_df: this view learns nothing
                continue
            self.vectorizers[view] = vectorizer
        clf = LogisticRegression(C=self.config["C"], max_iter=self.config["max_iter"])
        clf.fit(self._features(texts, np.vstack(rows)), np.array(y), sample_weight=np.array(w))
        self.weights, self.bias = clf.coef_.ravel().astype(np.float64), float(clf.intercept_[0])
        self.persist()
        return self._resource

    def _probabilities(self, rows: Any) -> List[float]:
        """The regression's probability for each row of :meth:`_features`."""
        return [float(q) for q in 1.0 / (1.0 + np.exp(-(rows @ self.weights + self.bias)))]

    def _vector_size(self) -> int:
        return 0 if self.weights is None else self.weights.shape[0] - sum(
            len(self.vectorizers[v].vocabulary_) for v in VIEWS if v in self.vectorizers)

    def probability(self, message: Message) -> float | None:
        """The probability of a danger now, or None when untrained or the message has no vector."""
        vector = embedding_of(message)
        if self.weights is None or vector is None or vector.shape[0] != self._vector_size():
            return None
        row = self._features([message.get(TEXT) or ""], vector.reshape(1, -1))
        return self._probabilities(row)[0]

    def clause_probabilities(self, text: str) -> List[Tuple[str, float]]:
        """Each clause of ``text`` with its probability; empty for a message of one clause.

        A danger told in one clause ("I just took the whole bottle") can read as a question in the
        whole message's vector; the crisis detector does not let the classifier veto a rule then.
        """
        parts = clauses(text)
        if self.weights is None or not parts or self._vector_size() != DIMENSIONS:
            return []
        return list(zip(parts, self._probabilities(self._features(parts, load_encoder().encode(parts)))))

    def context_reading(self, message: Message) -> str | None:
        """The visitor's previous message then this one, for a short message read alone so far.

        None when there is no previous message with words, when the message is longer than
        ``context_words`` or empty, or when :class:`bot.nlu.followup.FollowUpContext` already put the
        previous message before it (its own probability is then the pair's).
        """
        previous = self.context_of(message)
        return None if previous is None else read_after(previous, message.get(TEXT) or "")

    def context_of(self, message: Message) -> str | None:
        """The previous message that gives ``message`` its context reading (see :meth:`context_reading`)."""
        if message.get(OWN_TEXT) is not None:
            return None
        previous = (message.get("metadata") or {}).get(PREVIOUS_TEXT)
        text = (message.get(TEXT) or "").strip()
        if not isinstance(previous, str) or not gives_context(previous) or not text:
            return None
        if len(text.split()) > self.config["context_words"]:
            return None
        return previous

    def process(self, messages: List[Message]) -> List[Message]:
        """Sets ``danger_probability`` on each message that has a vector (each clause's, its context reading's)."""
        for message in messages:
            p = self.probability(message)
            if p is None:
                continue
            message.set(DANGER_PROBABILITY, p)
            parts = self.clause_probabilities(message.get(TEXT) or "")
            if parts:
                message.set(CLAUSE_PROBABILITIES, [[part, q] for part, q in parts])
            previous_text = self.context_of(message) if self._vector_size() == DIMENSIONS else None
            if previous_text is not None:
                # the pair, and the previous message alone (one encoder call for both)
                reading = read_after(previous_text, message.get(TEXT) or "")
                texts = [reading, previous_text.strip()]
                q, previous = self._probabilities(self._features(texts, load_encoder().encode(texts)))
                message.set(CONTEXT_PROBABILITY, [reading, q, previous])
            logger.debug("semantic crisis probability %.3f (clauses %s) for %r", p,
                         [round(q, 3) for _, q in parts], message.get(TEXT))
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training data passes through (later components do not read the probability when training)."""
        return training_data

    def persist(self) -> None:
        """Writes plain arrays and JSON (no pickle): weights, bias, each view's vocabulary and IDF."""
        if self.weights is None:
            return
        arrays = {"weights": self.weights}
        meta: Dict[str, Any] = {"bias": self.bias, "vocabularies": {}}
        for view, vectorizer in self.vectorizers.items():
            arrays[f"idf_{view}"] = vectorizer.idf_
            meta["vocabularies"][view] = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
        with self._model_storage.write_to(self._resource) as model_dir:
            np.savez(model_dir / ARRAYS_FILE, **arrays)
            (model_dir / META_FILE).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def _restore(cls, config: Dict[str, Any], meta: Dict[str, Any], arrays: Any) -> Tuple[Dict[str, Any], Any]:
        vectorizers = {}
        for view, vocabulary in (meta.get("vocabularies") or {}).items():
            vectorizer = _vectorizer({**cls.get_default_config(), **config}, view, vocabulary)
            vectorizer.idf_ = arrays[f"idf_{view}"]
            vectorizers[view] = vectorizer
        return vectorizers, arrays["weights"]

    @classmethod
    def load(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "SemanticCrisisClassifier":
        """Loads a trained component; an untrained one (no probability) if nothing was stored."""
        try:
            with model_storage.read_from(resource) as model_dir:
                meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
                with np.load(model_dir / ARRAYS_FILE, allow_pickle=False) as arrays:
                    vectorizers, weights = cls._restore(config, meta, arrays)
                bias = float(meta["bias"])
        except (ValueError, FileNotFoundError, OSError, KeyError):
            logger.warning("SemanticCrisisClassifier: no trained model in '%s'; it gives no probability.",
                           resource.name)
            return cls.create(config, model_storage, resource, execution_context)
        return cls(config, model_storage, resource, weights, bias, vectorizers)
