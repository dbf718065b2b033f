"""Sentence vectors of training texts, kept between trainings in a SQLite file under ``build/``.

Encoding the 14,000 labelled crisis messages is three quarters of a training (about 190 s of 250 s on two
cores); a retraining changes a few of them. :func:`encode` looks each text up by its sha256 in a file named
after the pinned encoder files (another model or tokenizer never reads these vectors), encodes only the
texts it lacks and stores them. The vectors are those of encoding each text alone (the encoder batches texts
of similar length, to 1e-6), so a model trained from the cache is the model trained without it.

The cache is an optimisation only: a file that cannot be opened, read or written (read-only disk, corrupt
file, locked for too long) is reported in one WARNING line and the texts are encoded as if there were none.
Nothing happens at import.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Protocol, Sequence

import numpy as np

from bot.nlu.embeddings import DIMENSIONS, MAX_TOKENS, MODEL_SHA256, TOKENIZER_SHA256
from bot.settings import VECTOR_CACHE_DIR

logger = logging.getLogger(__name__)

#: SQLite allows at most 32,766 parameters in a statement: texts are looked up this many at a time.
_LOOKUP_CHUNK = 900


class Encoder(Protocol):
    """What :func:`encode` needs of :class:`bot.nlu.embeddings.SentenceEncoder`."""

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...


def cache_file(directory: Path = VECTOR_CACHE_DIR) -> Path:
    """The cache of the pinned encoder (its model, tokenizer and length limit name the file)."""
    identity = hashlib.sha256(f"{MODEL_SHA256}:{TOKENIZER_SHA256}:{MAX_TOKENS}:{DIMENSIONS}".encode()).hexdigest()
    return Path(directory) / f"minilm-{identity[:16]}.sqlite"


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to the cache file (created if need be), committed and closed on leaving."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(str(path), timeout=30)) as db:
        with db:
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")
            yield db


def _lookup(db: sqlite3.Connection, keys: Sequence[bytes]) -> Dict[bytes, np.ndarray]:
    found: Dict[bytes, np.ndarray] = {}
    size = DIMENSIONS * 4
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        chunk = list(keys[start:start + _LOOKUP_CHUNK])
        marks = ",".join("?" * len(chunk))
        for key, blob in db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk):  # noqa: S608
            if isinstance(blob, bytes) and len(blob) == size:  # a damaged row is encoded again
                found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
    return found


def encode(encoder: Encoder, texts: Sequence[str], path: Path | None = None) -> np.ndarray:
    """One row per text, as ``encoder.encode(texts)`` gives, reading and filling the cache at ``path``."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    path = path or cache_file()
    keys = [_key(t or "") for t in texts]
    try:
        with _connect(path) as db:
            known = _lookup(db, keys)
    except (sqlite3.OperationalError, OSError) as e:  # locked too long, read-only disk: leave the file alone
        logger.warning("vector cache %s cannot be read (%s): encoding %d texts without it", path, e, len(texts))
        return encoder.encode(texts)
    except sqlite3.DatabaseError as e:  # not a database (damaged): start it again
        logger.warning("vector cache %s is damaged (%s): starting it again", path, e)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            return encoder.encode(texts)
        known = {}
    missing: List[int] = []
    seen: set[bytes] = set()
    for i, key in enumerate(keys):
        if key not in known and key not in seen:
            seen.add(key)
            missing.append(i)
    if missing:
        fresh = encoder.encode([texts[i] for i in missing])
        for i, row in zip(missing, fresh):
            known[keys[i]] = row
        rows = [(keys[i], np.asarray(row, dtype=np.float32).tobytes()) for i, row in zip(missing, fresh)]
        try:
            with _connect(path) as db:
                db.executemany("INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)", rows)
        except (sqlite3.Error, OSError) as e:
            logger.warning("vector cache %s cannot be written (%s): %d new vectors not kept", path, e, len(missing))
    logger.debug("vector cache: %d texts, %d encoded, %d from %s", len(texts), len(missing),
                 len(texts) - len(missing), path)
    return np.vstack([known[k] for k in keys]).astype(np.float32, copy=False)
