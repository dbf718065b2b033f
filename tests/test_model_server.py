"""The internal model server: token, ETag and 304, atomic replacement, loopback only, Rasa's own client.

The server runs as a real process (started by the launcher, stopped by its PID) on a temporary
model file; no trained model is needed.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from bot import launch
from bot.model_server import ModelFile, authorized, load_token, matches
from bot.settings import load


def get(url: str, headers: Dict[str, str] | None = None, method: str = "GET") -> Tuple[int, Dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (our own server)
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def replace_atomically(path: Path, content: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


class Served:
    """A running model server: its base URL, token, model file and process."""

    def __init__(self, tmp: Path) -> None:
        self.model = tmp / "models" / "current.tar.gz"
        self.model.parent.mkdir()
        self.model.write_bytes(b"first model " * 1000)
        self.settings = load({"LOG_DIR": str(tmp / "logs"), "VAR_DIR": str(tmp / "var"), "MODEL": str(self.model),
                              "MODEL_SERVER_PORT": str(launch.free_port())})
        self.service = launch.model_server(self.settings)
        self.token = self.service.env["MODEL_SERVER_TOKEN"]
        self.base = f"http://127.0.0.1:{self.settings.model_server_port}"
        self.process = launch.Process(self.service)

    def url(self, token: str | None = None) -> str:
        return f"{self.base}/model" + ("" if token is None else f"?token={token}")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Served]:
    served = Served(tmp_path_factory.mktemp("model-server"))
    served.process.start()
    try:
        served.process.wait_healthy(60)
        yield served
    finally:
        served.process.stop()


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def test_the_model_needs_the_token(server):
    assert get(server.url())[0] == 401
    assert get(server.url("wrong"))[0] == 401
    assert get(server.url(server.token[:-1]))[0] == 401
    assert get(server.url(), {"Authorization": "Bearer nope"})[0] == 401
    status, _, body = get(server.url(server.token))
    assert status == 200 and body == server.model.read_bytes()
    assert get(server.url(), {"Authorization": f"Bearer {server.token}"})[0] == 200


def test_health_needs_no_token_and_names_the_model_on_disk(server):
    status, _, body = get(f"{server.base}/health")
    assert status == 200
    assert sha(server.model.read_bytes()) in body.decode()


def test_strong_etag_is_the_sha256_and_an_unchanged_model_costs_a_304(server):
    status, headers, body = get(server.url(server.token))
    assert status == 200
    etag = headers["etag"]
    assert etag == f'"{sha(body)}"'  # strong: quoted, no W/
    assert headers["filename"] == "model.tar.gz"  # Rasa saves the download under this name
    status, headers, body = get(server.url(server.token), {"If-None-Match": etag})
    assert status == 304 and body == b"" and headers["etag"] == etag
    assert get(server.url(server.token), {"If-None-Match": f'"other", {etag}'})[0] == 304
    assert get(server.url(server.token), {"If-None-Match": '"something else"'})[0] == 200
    assert get(server.url(), {"If-None-Match": etag})[0] == 401  # the token is checked first


def test_a_replaced_model_gets_a_new_etag_and_is_served_whole(server):
    _, headers, _ = get(server.url(server.token))
    old = headers["etag"]
    new_content = b"second model, same size!" * 480 + b"x" * (12000 - 24 * 480)
    replace_atomically(server.model, new_content)
    status, headers, body = get(server.url(server.token), {"If-None-Match": old})
    assert status == 200 and body == new_content
    assert headers["etag"] == f'"{sha(new_content)}"' != old
    assert get(server.url(server.token), {"If-None-Match": headers["etag"]})[0] == 304
    status, _, body = get(f"{server.base}/health")
    assert sha(new_content) in body.decode()


def test_a_missing_model_is_a_404_and_the_server_stays_healthy(server):
    content = server.model.read_bytes()
    server.model.unlink()
    try:
        assert get(server.url(server.token))[0] == 404
        status, _, body = get(f"{server.base}/health")
        assert status == 200 and b'"model":null' in body.replace(b" ", b"")
    finally:
        replace_atomically(server.model, content)
    assert get(server.url(server.token))[0] == 200


def test_no_other_route_or_method(server):
    assert get(f"{server.base}/")[0] == 404
    assert get(f"{server.base}/model/../health")[0] in (200, 404)  # normalised or not: never the model
    assert get(f"{server.base}/models/current.tar.gz?token={server.token}")[0] == 404
    assert get(f"{server.base}/status")[0] == 404
    assert get(server.url(server.token), method="POST")[0] == 405
    assert get(server.url(server.token), method="DELETE")[0] == 405


def listening_addresses(port: int) -> List[str]:
    """Local addresses listening on TCP ``port`` (from /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                if len(address) == 8:
                    found.append(".".join(str(b) for b in reversed(bytes.fromhex(address))))
                else:
                    found.append(address)
    return found


def test_it_listens_on_loopback_only_even_when_the_public_interface_is_everything(tmp_path):
    served = Served(tmp_path)
    settings = load({**launch.environment(served.settings), "INTERFACE": "0.0.0.0"})
    service = launch.model_server(settings)
    process = launch.Process(service).start()
    try:
        process.wait_healthy(60)
        assert listening_addresses(settings.model_server_port) == ["127.0.0.1"]
    finally:
        process.stop()


def test_rasa_pulls_from_it_with_its_own_client(server, tmp_path):
    """Rasa's own pull (rasa/core/agent.py): token as a query parameter, If-None-Match with the last ETag."""
    from rasa.core.agent import _pull_model_and_fingerprint
    from rasa.utils.endpoints import EndpointConfig

    endpoint = EndpointConfig(server.url(), token=server.token)
    start = uuid.uuid4().hex  # an agent's fingerprint before its first model (rasa.core.agent.Agent)
    first = asyncio.run(_pull_model_and_fingerprint(endpoint, start, str(tmp_path)))
    assert first == f'"{sha(server.model.read_bytes())}"'
    assert (tmp_path / "model.tar.gz").read_bytes() == server.model.read_bytes()
    assert asyncio.run(_pull_model_and_fingerprint(endpoint, first, str(tmp_path / "again"))) is None  # 304
    wrong = EndpointConfig(server.url(), token="not-the-token")
    assert asyncio.run(_pull_model_and_fingerprint(wrong, start, str(tmp_path / "wrong"))) is None  # 401
    assert not (tmp_path / "wrong").exists()


# ---------------------------------------------------------------------------------------------
# Without a server.


def test_matches_reads_if_none_match_lists_weak_tags_and_star():
    etag = '"abc"'
    assert matches('"abc"', etag) and matches("abc", etag) and matches('W/"abc"', etag)
    assert matches('"x", "abc"', etag) and matches("*", etag)
    assert not matches(None, etag) and not matches("", etag) and not matches('"abcd"', etag)


def test_authorized_takes_the_query_token_or_a_bearer_header():
    assert authorized("s3cret", "s3cret", None)
    assert authorized("s3cret", None, "Bearer s3cret") and authorized("s3cret", None, "bearer s3cret")
    assert not authorized("s3cret", None, None) and not authorized("s3cret", "", "")
    assert not authorized("s3cret", "s3cre", None) and not authorized("s3cret", None, "Basic s3cret")
    assert not authorized("s3cret", "wrong", "Bearer s3cret")  # a wrong query token is not rescued


def test_the_token_is_made_once_even_by_concurrent_first_starts(tmp_path):
    tokens: List[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(load_token(tmp_path / "var"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 1 and len(tokens[0]) >= 32
    assert [p.name for p in (tmp_path / "var").iterdir()] == ["model_server_token"]  # no temporary file left


def test_the_etag_is_hashed_once_per_version(tmp_path, monkeypatch):
    path = tmp_path / "m.tar.gz"
    path.write_bytes(b"one")
    served = ModelFile(path)
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    first = served.etag()
    assert served.etag() == first and served.read() == (first, b"one")
    assert len(calls) == 1
    replace_atomically(path, b"two")
    assert served.etag() == f'"{real(b"two").hexdigest()}"' != first
    assert len(calls) == 2
    path.unlink()
    assert served.etag() is None and served.read() is None
