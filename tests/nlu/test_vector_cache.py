"""bot.nlu.vector_cache: training texts' vectors kept between trainings, in order, never wrong, never fatal."""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import List, Sequence

import numpy as np

from bot.nlu import vector_cache
from bot.nlu.embeddings import DIMENSIONS, load_encoder


class CountingEncoder:
    """Wraps the real encoder and records which texts it was asked to encode."""

    def __init__(self) -> None:
        self.asked: List[str] = []

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.asked.extend(texts)
        return load_encoder().encode(texts, batch_size)


TEXTS = ["I just took the whole bottle", "do you take insurance?", "", "how long is detox?",
         "my brother is seizing and won't stop, it's been ten minutes"]


def test_a_second_training_encodes_only_new_texts_and_rows_follow_the_input(tmp_path):
    path = tmp_path / "v.sqlite"
    first = CountingEncoder()
    rows = vector_cache.encode(first, TEXTS, path)
    assert sorted(first.asked) == sorted(TEXTS)
    assert rows.shape == (len(TEXTS), DIMENSIONS) and rows.dtype == np.float32

    second = CountingEncoder()
    texts = TEXTS[::-1] + ["a new message", "a new message"]
    again = vector_cache.encode(second, texts, path)
    assert second.asked == ["a new message"], "known texts come from the file, a repeated one is encoded once"
    assert np.allclose(again[:len(TEXTS)], rows[::-1])
    assert np.allclose(again[-1], again[-2])
    # the stored vectors are the encoder's own: each row equals encoding that text alone
    for text, row in zip(texts, again):
        assert np.allclose(row, load_encoder().encode([text])[0], atol=1e-5), text


def test_no_texts_is_an_empty_matrix_and_no_file(tmp_path):
    path = tmp_path / "v.sqlite"
    assert vector_cache.encode(CountingEncoder(), [], path).shape == (0, DIMENSIONS)
    assert not path.exists()


def test_a_damaged_file_is_started_again(tmp_path, caplog):
    path = tmp_path / "v.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    encoder = CountingEncoder()
    with caplog.at_level(logging.WARNING, logger="bot.nlu.vector_cache"):
        rows = vector_cache.encode(encoder, TEXTS, path)
    assert rows.shape == (len(TEXTS), DIMENSIONS)
    assert "damaged" in caplog.text
    again = CountingEncoder()
    assert np.allclose(vector_cache.encode(again, TEXTS, path), rows) and again.asked == []


def test_a_damaged_row_is_encoded_again(tmp_path):
    path = tmp_path / "v.sqlite"
    vector_cache.encode(CountingEncoder(), TEXTS, path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE vectors SET vector = ? WHERE key = ?", (b"short", vector_cache._key(TEXTS[0])))
    db.close()
    encoder = CountingEncoder()
    rows = vector_cache.encode(encoder, TEXTS, path)
    assert encoder.asked == [TEXTS[0]]
    assert np.allclose(rows[0], load_encoder().encode([TEXTS[0]])[0], atol=1e-5)


def test_a_path_that_is_a_directory_encodes_without_the_cache(tmp_path, caplog):
    # what root cannot get past either: the file's place is taken by a directory
    path = tmp_path / "v.sqlite"
    path.mkdir()
    encoder = CountingEncoder()
    with caplog.at_level(logging.WARNING, logger="bot.nlu.vector_cache"):
        rows = vector_cache.encode(encoder, TEXTS, path)
    assert rows.shape == (len(TEXTS), DIMENSIONS) and sorted(encoder.asked) == sorted(TEXTS)
    assert "cannot be read" in caplog.text and path.is_dir()


def test_the_file_is_named_after_the_pinned_encoder(tmp_path, monkeypatch):
    name = vector_cache.cache_file(tmp_path)
    assert name.parent == tmp_path and name.suffix == ".sqlite"
    monkeypatch.setattr(vector_cache, "MODEL_SHA256", "0" * 64)
    assert vector_cache.cache_file(tmp_path) != name, "another model never reads these vectors"


def test_the_default_place_is_under_build():
    assert vector_cache.cache_file().parent == Path(vector_cache.VECTOR_CACHE_DIR)
    assert vector_cache.cache_file().parent.parent.name == "build"
