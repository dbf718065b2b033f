"""Request validation of the REST channel (the HTTP behaviour is covered in tests/e2e)."""
from __future__ import annotations

import json

import pytest

from bot.channels.rest import SafeRestInput, message_id, parse_body


class FakeRequest:
    def __init__(self, body: bytes = b"", headers: dict | None = None):
        self.body = body
        self.headers = headers or {}

    @property
    def json(self):
        return json.loads(self.body)


@pytest.mark.parametrize("body,error", [
    (b"not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"sender": "a"}', '"message" must be a string'),
    (b'{"sender": "a", "message": 5}', '"message" must be a string'),
    (b'{"sender": "../../etc", "message": "hi"}', '"sender"'),
    (b'{"sender": "' + b"a" * 200 + b'", "message": "hi"}', '"sender"'),
])
def test_bad_bodies_are_refused_with_a_reason(body, error):
    with pytest.raises(ValueError, match=error):
        parse_body(FakeRequest(body))


def test_a_body_over_the_limit_is_refused():
    body = b'{"sender": "a", "message": "' + b"x" * 100 + b'"}'
    with pytest.raises(ValueError, match="larger than 50 bytes"):
        parse_body(FakeRequest(body), max_bytes=50)
    assert parse_body(FakeRequest(body), max_bytes=len(body))["sender"] == "a"


def test_the_channel_takes_its_limit_from_the_settings(monkeypatch):
    monkeypatch.setenv("MAX_BODY_BYTES", "4321")
    assert SafeRestInput().max_body_bytes == 4321


def test_good_body():
    got = parse_body(FakeRequest(b'{"sender": "web-123", "message": "hi", "metadata": {"a": 1}}'))
    assert got == {"sender": "web-123", "message": "hi", "metadata": {"a": 1}}


def test_channel_replaces_rasas_rest_channel_name():
    assert SafeRestInput.name() == "rest"


@pytest.mark.parametrize("header,expected", [
    ("0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),  # nginx's $request_id
    (None, None),  # no header: Rasa makes its own id
    ("0123456789ABCDEF0123456789ABCDEF", None),
    ("0123456789abcdef", None),
    ("0123456789abcdef0123456789abcdef0", None),
    ("../0123456789abcdef0123456789abc", None),
    ("0123456789abcdef0123456789abcdef\n", None),
])
def test_nginx_request_id_becomes_the_message_id(header, expected):
    headers = {} if header is None else {"x-request-id": header}
    assert message_id(FakeRequest(headers=headers)) == expected
