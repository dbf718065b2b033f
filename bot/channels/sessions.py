"""Session ids of the web widget, issued and checked by the server.

An id is a random token and its HMAC under the server's key, so any server that holds the
key can tell an id it issued from one a client made up, without storing anything: a reload
of the same tab (which sends its id back) keeps its history, a made-up or tampered id gets
a fresh one. The key is ``SESSION_SECRET``, or one generated once and kept in ``VAR_DIR``.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from typing import Any

_FORMAT = re.compile(r"^[A-Za-z0-9_-]{24}\.[0-9a-f]{32}$")


def load_key(secret: str, var_dir: Path) -> bytes:
    """The signing key: the configured secret, else a random one stored (0600) in ``var_dir``."""
    if secret:
        return secret.encode()
    path = var_dir / "session_secret"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


class SessionIds:
    """Issues and verifies signed session ids."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def _sign(self, token: str) -> str:
        return hmac.new(self.key, token.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self) -> str:
        """A new unguessable id."""
        token = secrets.token_urlsafe(18)
        return f"{token}.{self._sign(token)}"

    def valid(self, session_id: Any) -> bool:
        """Whether ``session_id`` is one this key issued (any type or length is accepted as input)."""
        if not isinstance(session_id, str) or not _FORMAT.match(session_id):
            return False
        token, signature = session_id.split(".")
        return hmac.compare_digest(signature, self._sign(token))

    def confirm(self, requested: Any) -> str:
        """The id a client asked for if valid, else a fresh one."""
        return requested if self.valid(requested) else self.issue()
