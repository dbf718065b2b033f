"""The internal model server: Rasa pulls the model it serves from here (``endpoints.yml``, ``models:``).

    python -m bot.model_server   (127.0.0.1:MODEL_SERVER_PORT; started first by the launcher)

Two routes and nothing else: ``GET /model`` returns the file at ``MODEL`` with a strong ETag
(the file's sha256, computed once per file version: inode, mtime and size), or 304 when the
request's ``If-None-Match`` already names it (Rasa sends its model's fingerprint every
``MODEL_PULL_INTERVAL_S``, and loads a new model only on a 200); it needs the token (Rasa's
``token`` query parameter, or ``Authorization: Bearer``), else 401. ``GET /health`` needs no
token and says which model is on disk and which one was last handed out. It listens on
loopback only, whatever INTERFACE says: no model is ever exposed on the public side.

Promotion (``python -m bot retrain``, ``rollback``) replaces the file atomically (``os.replace``),
so a download always gets one whole model and the ETag it was served under.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Tuple

from bot import settings as settings_module
from bot.logs import configure_logging

if TYPE_CHECKING:
    from sanic import Sanic

logger = logging.getLogger("bot.model_server")

HOST = "127.0.0.1"
MODEL_PATH = "/model"
TOKEN_ENV = "MODEL_SERVER_TOKEN"
TOKEN_FILE = "model_server_token"
FILENAME = "model.tar.gz"


def load_token(var_dir: Path) -> str:
    """The model server's token: generated once (0600) in ``var_dir``, then read back.

    Created through a temporary file and a hard link, so concurrent first starts agree on one
    token and nobody ever reads a half-written file.
    """
    path = var_dir / TOKEN_FILE
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        tmp = var_dir / f".{TOKEN_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    token = path.read_text().strip()
    if not token:
        raise RuntimeError(f"{path} is empty: delete it and restart (a new token is generated)")
    return token


@dataclass(frozen=True)
class Version:
    """One version of the model file: what identifies it on disk, and its ETag."""

    key: Tuple[int, int, int]  # inode, mtime in ns, size
    etag: str


class ModelFile:
    """The served file and its ETag, hashed once per version (a new inode, mtime or size)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._version: Version | None = None
        self._lock = threading.Lock()
        self.last_served: str | None = None

    @staticmethod
    def _key(fd: int) -> Tuple[int, int, int]:
        st = os.fstat(fd)
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _etag(self, fd: int) -> str:
        """The ETag of the open file ``fd`` (from the cache when the version is the same)."""
        key = self._key(fd)
        with self._lock:
            if self._version is not None and self._version.key == key:
                return self._version.etag
        digest = hashlib.sha256()
        os.lseek(fd, 0, os.SEEK_SET)
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
        etag = f'"{digest.hexdigest()}"'
        with self._lock:
            self._version = Version(key, etag)
        return etag

    def etag(self) -> str | None:
        """The current file's ETag, or None when there is no file."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            return self._etag(fd)
        finally:
            os.close(fd)

    def read(self) -> Tuple[str, bytes] | None:
        """(ETag, content) of one version, read from the same open file; None when there is no file."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            etag = self._etag(fd)
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return etag, b"".join(chunks)
        finally:
            os.close(fd)


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (a list, weak tags, ``*`` and bare values too)."""
    if not if_none_match:
        return False
    bare = etag.strip('"')
    for item in if_none_match.split(","):
        item = item.strip()
        if item == "*":
            return True
        if item.startswith("W/"):
            item = item[2:]
        if item.strip('"') == bare:
            return True
    return False


def authorized(token: str, query_token: str | None, authorization: str | None) -> bool:
    """Whether the request carries the token (query parameter or bearer header), compared in constant time."""
    given = query_token or ""
    if not given and authorization and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def create_app(model: Path, token: str, name: str = "benzo_faq_model_server") -> "Sanic":
    """The Sanic app serving ``model`` to holders of ``token``."""
    from sanic import Sanic, response
    from sanic.request import Request
    from sanic.response import HTTPResponse

    if not token:
        raise ValueError("the model server needs a token")
    served = ModelFile(model)
    app = Sanic(name)

    @app.get(MODEL_PATH)
    async def get_model(request: Request) -> HTTPResponse:
        if not authorized(token, request.args.get("token"), request.headers.get("authorization")):
            return response.json({"error": "unauthorized"}, status=401)
        etag = await asyncio.get_running_loop().run_in_executor(None, served.etag)
        if etag is None:
            return response.json({"error": f"no model at {model}"}, status=404)
        if matches(request.headers.get("if-none-match"), etag):
            return response.empty(status=304, headers={"ETag": etag})
        found = await asyncio.get_running_loop().run_in_executor(None, served.read)
        if found is None:
            return response.json({"error": f"no model at {model}"}, status=404)
        etag, content = found
        served.last_served = etag
        logger.info("model server: serving model %s (%d bytes)", etag.strip('"')[:12], len(content))
        return response.raw(content, content_type="application/gzip",
                            headers={"ETag": etag, "filename": FILENAME, "Cache-Control": "no-store"})

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        etag = await asyncio.get_running_loop().run_in_executor(None, served.etag)
        body: Dict[str, str | None] = {"status": "ok", "model": etag and etag.strip('"'),
                                       "last_served": served.last_served and served.last_served.strip('"')}
        return response.json(body)

    return app


def main() -> None:
    """Runs the model server on 127.0.0.1:MODEL_SERVER_PORT (one worker, no access log: the token is in URLs)."""
    configure_logging()
    for name in ("sanic.root", "sanic.error"):  # Sanic has handlers of its own: one line each, not two
        logging.getLogger(name).propagate = False
    try:
        config = settings_module.load()
    except settings_module.SettingsError as e:
        raise SystemExit(f"error: invalid setting: {e}") from None
    token = os.environ.get(TOKEN_ENV) or load_token(config.var_dir)
    app = create_app(config.model, token)
    app.config.REQUEST_MAX_SIZE = config.max_body_bytes
    logger.info("model server on http://%s:%d%s serving %s", HOST, config.model_server_port, MODEL_PATH, config.model)
    app.run(host=HOST, port=config.model_server_port, access_log=False, workers=1)


if __name__ == "__main__":
    main()
