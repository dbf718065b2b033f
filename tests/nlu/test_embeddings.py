"""The MiniLM sentence encoder: pinned files, unit-length vectors, batching and truncation."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from bot.nlu import embeddings
from bot.nlu.embeddings import DIMENSIONS, EmbeddingFileError, SentenceEncoder, load_encoder, verified


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return load_encoder()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_rows_are_unit_length_float32(encoder):
    texts = ["I just swallowed all my pills", "Do you accept insurance?", "hi"]
    vectors = encoder.encode(texts)
    assert vectors.shape == (3, DIMENSIONS) == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # different texts, different vectors
    assert not np.allclose(vectors[0], vectors[1])


def test_no_texts_gives_an_empty_matrix(encoder):
    vectors = encoder.encode([])
    assert vectors.shape == (0, DIMENSIONS)
    assert vectors.dtype == np.float32


def test_batches_give_the_same_vectors_as_one_batch(encoder):
    # texts of very different lengths, so each batch is padded differently
    texts = ["help", "my brother has been seizing for ten minutes and it will not stop", "",
             "how long is the program?", "Do you take Blue Cross insurance or only Medicaid and cash?",
             "ok thanks", "is the chat private"]
    whole = encoder.encode(texts, batch_size=32)
    for size in (1, 2, 3):
        batched = encoder.encode(texts, batch_size=size)
        assert batched.shape == whole.shape
        assert np.allclose(batched, whole, atol=1e-5)


def test_rows_come_back_in_the_order_given_whatever_the_lengths(encoder):
    # batches are made of texts of similar length: the rows must still follow the input order
    texts = ["a much longer message about a taper that went wrong last winter and the clinic that helped",
             "hi", "", "is the chat private", "help", "x " * 300]
    together = encoder.encode(texts, batch_size=2)
    for i, text in enumerate(texts):
        assert np.allclose(together[i], encoder.encode([text])[0], atol=1e-5), i
    assert np.allclose(encoder.encode(texts[::-1], batch_size=2), together[::-1], atol=1e-5)


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(encoder):
    pills, paraphrase, unrelated = encoder.encode(
        ["I just swallowed all my pills", "I took every pill in the bottle", "What are your visiting hours?"])
    assert cosine(pills, paraphrase) > cosine(pills, unrelated) + 0.2


def test_long_text_is_truncated_not_refused(encoder):
    long = " ".join(["word"] * 10_000)
    vectors = encoder.encode([long])
    assert vectors.shape == (1, DIMENSIONS)
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-5)
    # only the first MAX_TOKENS word pieces count: what comes after them changes nothing
    shorter = encoder.encode([" ".join(["word"] * 500)])
    assert np.allclose(vectors, shorter, atol=1e-5)


def test_empty_text_gets_a_unit_vector(encoder):
    empty = encoder.encode([""])
    assert empty.shape == (1, DIMENSIONS)
    assert np.isclose(np.linalg.norm(empty[0]), 1.0, atol=1e-5)
    # the same vector alone or padded beside a long text
    beside = encoder.encode(["a much longer message that makes the batch padded", ""])
    assert np.allclose(beside[1], empty[0], atol=1e-5)


def test_the_encoder_is_loaded_once():
    assert load_encoder() is load_encoder()


def test_installed_files_are_the_pinned_ones():
    assert hashlib.sha256(verified(embeddings.model_file(), embeddings.MODEL_SHA256)).hexdigest() \
        == embeddings.MODEL_SHA256
    assert verified(embeddings.tokenizer_file(), embeddings.TOKENIZER_SHA256).startswith(b"{")


def test_verified_returns_the_bytes_of_a_pinned_file(tmp_path: Path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"model bytes")
    assert verified(path, hashlib.sha256(b"model bytes").hexdigest()) == b"model bytes"


def test_verified_refuses_a_file_with_another_hash(tmp_path: Path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"a different model")
    with pytest.raises(EmbeddingFileError, match="expected the pinned"):
        verified(path, embeddings.MODEL_SHA256)


def test_verified_refuses_a_missing_file(tmp_path: Path):
    with pytest.raises(EmbeddingFileError, match="cannot read"):
        verified(tmp_path / "absent.onnx", embeddings.MODEL_SHA256)


def test_a_missing_package_is_an_embedding_file_error():
    with pytest.raises(EmbeddingFileError, match="not installed"):
        embeddings._package_file("no_such_package_for_minilm_tests", "model.onnx")


def test_the_encoder_is_built_once_however_it_is_asked_for():
    from bot.nlu.embeddings import load_encoder

    assert load_encoder() is load_encoder(1) is load_encoder(threads=1)
