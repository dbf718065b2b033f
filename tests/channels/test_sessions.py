"""Session ids are issued and signed by the server: a made-up or tampered id gets a fresh one."""
from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.sessions import SessionIds, load_key

KEY = b"k" * 32


@pytest.fixture
def ids() -> SessionIds:
    return SessionIds(KEY)


def change_char(text: str, index: int) -> str:
    """``text`` with the character at ``index`` replaced by another one of the same alphabet."""
    old = text[index]
    new = "b" if old == "a" else "a"  # both valid in the token and in the hex signature
    return text[:index] + new + text[index + 1:]


def test_issued_ids_are_valid_and_confirmed_unchanged(ids):
    sid = ids.issue()
    assert ids.valid(sid)
    assert ids.confirm(sid) == sid


def test_ids_are_unique_fixed_length_and_random_looking(ids):
    issued = [ids.issue() for _ in range(500)]
    assert len(set(issued)) == len(issued)
    assert len({len(s) for s in issued}) == 1
    assert len(issued[0]) >= 40
    tokens = {s.split(".")[0] for s in issued}
    assert len(tokens) == len(issued)
    assert len(set("".join(tokens))) > 40  # drawn from a large alphabet, not a counter


def test_ids_from_another_key_are_invalid(ids):
    other = SessionIds(b"another key")
    sid = other.issue()
    assert other.valid(sid)
    assert not ids.valid(sid)
    fresh = ids.confirm(sid)
    assert fresh != sid and ids.valid(fresh)


def test_the_same_key_accepts_ids_across_instances():
    sid = SessionIds(KEY).issue()
    assert SessionIds(KEY).valid(sid)


@pytest.mark.parametrize("part", ["token", "signature"])
def test_one_changed_character_invalidates_an_id(ids, part):
    sid = ids.issue()
    token, signature = sid.split(".")
    positions = range(len(token)) if part == "token" else range(len(token) + 1, len(sid))
    for index in positions:
        tampered = change_char(sid, index)
        assert tampered != sid
        assert not ids.valid(tampered), f"changed {part} at {index}: {tampered}"
        fresh = ids.confirm(tampered)
        assert fresh != tampered and ids.valid(fresh)


@pytest.mark.parametrize("bad", [
    None, 0, 12345, 1.5, True, {}, {"id": "x"}, [], ["x"], b"", object(),
])
def test_wrong_types_are_invalid_and_get_a_fresh_id(ids, bad):
    assert not ids.valid(bad)
    fresh = ids.confirm(bad)
    assert isinstance(fresh, str) and ids.valid(fresh)


def test_a_valid_id_in_another_container_type_is_invalid(ids):
    sid = ids.issue()
    for wrapped in (sid.encode(), [sid], {"session_id": sid}, (sid,)):
        assert not ids.valid(wrapped)
        assert ids.valid(ids.confirm(wrapped))


def test_made_up_empty_and_overlong_ids_are_invalid(ids):
    sid = ids.issue()
    token, signature = sid.split(".")
    made_up = [
        "", ".", "abc", "x" * len(sid), "a" * 24 + "." + "0" * 32, token, signature, token + ".",
        sid + "0", sid + "\n", sid + " ", " " + sid, sid.upper(), sid + "." + signature,
        token + "." + signature[:-1], "x" * 10_000, sid * 2, token + "x." + signature,
    ]
    for bad in made_up:
        assert not ids.valid(bad), repr(bad)
        fresh = ids.confirm(bad)
        assert fresh != bad and ids.valid(fresh)


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.text(), st.binary(), st.integers(), st.none(), st.lists(st.text(max_size=3)),
                       st.dictionaries(st.text(max_size=3), st.text(max_size=3))))
def test_arbitrary_input_never_raises_nor_validates(value):
    ids = SessionIds(KEY)
    assert not ids.valid(value)
    assert ids.valid(ids.confirm(value))


def test_configured_secret_is_the_key_and_writes_nothing(tmp_path):
    var = tmp_path / "var"
    assert load_key("s3cret", var) == b"s3cret"
    assert not (var / "session_secret").exists()


def test_generated_key_is_private_persisted_and_reused(tmp_path):
    var = tmp_path / "nested" / "var"  # created when missing
    key = load_key("", var)
    path = var / "session_secret"
    assert path.is_file()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(key) >= 32
    assert load_key("", var) == key  # stable across restarts
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    sid = SessionIds(key).issue()
    assert SessionIds(load_key("", var)).valid(sid)  # a restarted server keeps its visitors' ids


def test_generated_keys_differ_between_installations(tmp_path):
    one, two = load_key("", tmp_path / "a"), load_key("", tmp_path / "b")
    assert one != two
    assert not SessionIds(two).valid(SessionIds(one).issue())


def test_generated_key_is_private_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        load_key("", tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "session_secret").st_mode) == 0o600
