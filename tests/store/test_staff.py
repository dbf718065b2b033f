"""Staff accounts on SQLite and PostgreSQL: hashing, validation, verify, throttling, sessions."""
from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from bot.store import engine as engine_of
from bot.store import staff

PASSWORD = "correct horse battery"
T0 = 1_700_000_000.0


@pytest.fixture
def eng(db_url):
    return engine_of(db_url)


@pytest.fixture
def alice(eng):
    staff.add_user(eng, "alice", PASSWORD, now=T0)
    return "alice"


def rows(eng, table) -> list:
    with eng.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table))]


# --- accounts ---------------------------------------------------------------------------------

def test_the_password_is_stored_as_an_argon2id_hash_only(eng, alice):
    [row] = rows(eng, staff.USERS)
    assert row["name"] == "alice" and row["disabled"] is False and row["created_at"] == T0
    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]


def test_two_users_with_the_same_password_get_different_hashes(eng, alice):
    staff.add_user(eng, "bob", PASSWORD)
    hashes = {r["name"]: r["password_hash"] for r in rows(eng, staff.USERS)}
    assert hashes["alice"] != hashes["bob"], "salted"


@pytest.mark.parametrize("name", ["", "a" * 65, "al ice", "alice/x", "élise", "a;b", "<b>", "a\n"])
def test_bad_names_are_refused(eng, name):
    with pytest.raises(ValueError, match="letters, digits"):
        staff.add_user(eng, name, PASSWORD)
    assert rows(eng, staff.USERS) == []


@pytest.mark.parametrize("name", ["a", "a" * 64, "dr.jane_doe-2"])
def test_good_names_are_accepted(eng, name):
    staff.add_user(eng, name, PASSWORD)
    assert [u.name for u in staff.list_users(eng)] == [name]


@pytest.mark.parametrize("password", ["", "short", "elevenchars"])
def test_short_passwords_are_refused(eng, password):
    with pytest.raises(ValueError, match="at least 12 characters"):
        staff.add_user(eng, "alice", password)
    assert rows(eng, staff.USERS) == []


def test_an_existing_name_is_an_error_unless_replaced(eng, alice):
    with pytest.raises(ValueError, match="already exists"):
        staff.add_user(eng, "alice", "another password here")
    assert staff.verify(eng, "alice", PASSWORD, "k1")
    staff.add_user(eng, "alice", "another password here", replace=True)
    assert not staff.verify(eng, "alice", PASSWORD, "k1")
    assert staff.verify(eng, "alice", "another password here", "k1")
    assert len(rows(eng, staff.USERS)) == 1


def test_list_and_disable(eng, alice):
    staff.add_user(eng, "bob", PASSWORD)
    assert staff.disable_user(eng, "bob") is True
    assert staff.disable_user(eng, "nobody") is False
    assert [(u.name, u.disabled) for u in staff.list_users(eng)] == [("alice", False), ("bob", True)]


# --- verify -----------------------------------------------------------------------------------

def test_verify(eng, alice):
    assert staff.verify(eng, "alice", PASSWORD, "k1") is True
    assert staff.verify(eng, "alice", PASSWORD + "x", "k1") is False
    assert staff.verify(eng, "Alice", PASSWORD, "k1") is False, "names are exact"
    assert staff.verify(eng, "nobody", PASSWORD, "k1") is False
    assert staff.verify(eng, "alice", "x" * 5000, "k1") is False


def test_a_disabled_user_cannot_sign_in(eng, alice):
    staff.disable_user(eng, "alice")
    assert staff.verify(eng, "alice", PASSWORD, "k1") is False


def test_unknown_names_are_checked_against_a_dummy_hash(eng, alice, monkeypatch):
    real = staff._hasher()
    checked = []

    class Spy:
        def verify(self, hashed, password):
            checked.append(hashed)
            return real.verify(hashed, password)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(staff, "_hasher", lambda: Spy())
    assert staff.verify(eng, "nobody", PASSWORD, "k1") is False
    assert len(checked) == 1 and checked[0].startswith("$argon2id$"), "the same work as for a real name"


# --- throttling -------------------------------------------------------------------------------

def test_five_failures_for_a_name_lock_it_even_with_the_right_password(eng, alice):
    for i in range(staff.MAX_FAILURES):
        assert staff.verify(eng, "alice", "wrong password!", f"client-{i}", now=T0 + i) is False
    with pytest.raises(staff.Throttled) as caught:
        staff.verify(eng, "alice", PASSWORD, "client-new", now=T0 + 10)
    assert caught.value.retry_after == pytest.approx(staff.WINDOW_S - 10)
    # Other names from other clients are not affected.
    staff.add_user(eng, "bob", PASSWORD)
    assert staff.verify(eng, "bob", PASSWORD, "client-bob", now=T0 + 11) is True
    # Once the first failure leaves the window, one more attempt is allowed.
    assert staff.verify(eng, "alice", PASSWORD, "client-new", now=T0 + staff.WINDOW_S + 1) is True


def test_five_failures_from_a_client_lock_that_client(eng, alice):
    for i in range(staff.MAX_FAILURES):
        assert staff.verify(eng, f"guess-{i}", "wrong password!", "10.0.0.9", now=T0 + i) is False
    with pytest.raises(staff.Throttled) as caught:
        staff.verify(eng, "alice", PASSWORD, "10.0.0.9", now=T0 + 60)
    assert caught.value.retry_after == pytest.approx(staff.WINDOW_S - 60)
    assert "try again" in str(caught.value)
    assert staff.verify(eng, "alice", PASSWORD, "10.0.0.10", now=T0 + 61) is True, "other clients may"
    assert staff.verify(eng, "alice", PASSWORD, "10.0.0.9", now=T0 + staff.WINDOW_S + 5) is True


def test_throttled_attempts_do_not_extend_the_lock(eng, alice):
    for i in range(staff.MAX_FAILURES):
        staff.verify(eng, "alice", "wrong password!", "k", now=T0 + i)
    for i in range(20):
        with pytest.raises(staff.Throttled):
            staff.verify(eng, "alice", "wrong password!", "k", now=T0 + 100 + i)
    assert staff.verify(eng, "alice", PASSWORD, "k", now=T0 + staff.WINDOW_S + 5) is True


def test_failures_older_than_the_window_do_not_count(eng, alice):
    for i in range(staff.MAX_FAILURES - 1):
        staff.verify(eng, "alice", "wrong password!", "k", now=T0 + i)
    staff.verify(eng, "alice", "wrong password!", "k", now=T0 + staff.WINDOW_S + 10)
    assert staff.verify(eng, "alice", PASSWORD, "k", now=T0 + staff.WINDOW_S + 11) is True


def test_a_success_clears_the_names_failures(eng, alice):
    for i in range(staff.MAX_FAILURES - 1):
        staff.verify(eng, "alice", "wrong password!", f"c{i}", now=T0 + i)
    assert staff.verify(eng, "alice", PASSWORD, "c9", now=T0 + 10) is True
    for i in range(staff.MAX_FAILURES - 1):
        staff.verify(eng, "alice", "wrong password!", f"d{i}", now=T0 + 20 + i)
    assert staff.verify(eng, "alice", PASSWORD, "d9", now=T0 + 30) is True


# --- sessions ---------------------------------------------------------------------------------

def test_a_session_stores_only_the_hash_of_its_token(eng, alice):
    token, csrf = staff.create_session(eng, "alice", 30, now=T0)
    assert len(token) >= 40 and len(csrf) >= 40 and token != csrf
    [row] = rows(eng, staff.SESSIONS)
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(row.values())
    assert row["csrf_token"] == csrf and row["expires_at"] == T0 + 30 * 60
    session = staff.session_user(eng, token, 30, now=T0 + 1)
    assert session is not None and session.name == "alice" and session.csrf_token == csrf


def test_unknown_tokens_have_no_session(eng, alice):
    staff.create_session(eng, "alice", 30, now=T0)
    assert staff.session_user(eng, "not-a-token", 30, now=T0) is None
    assert staff.session_user(eng, "", 30, now=T0) is None
    assert staff.session_user(eng, "x" * 10_000, 30, now=T0) is None


def test_sessions_slide_while_used_and_expire_when_idle(eng, alice):
    token, _ = staff.create_session(eng, "alice", 30, now=T0)
    for minute in (20, 40, 60, 80):  # each visit within 30 minutes of the last
        session = staff.session_user(eng, token, 30, now=T0 + minute * 60)
        assert session is not None, minute
        assert session.expires_at == T0 + (minute + 30) * 60 and session.last_seen == T0 + minute * 60
    assert staff.session_user(eng, token, 30, now=T0 + 111 * 60) is None, "idle 31 minutes"
    assert rows(eng, staff.SESSIONS) == [], "an expired session is deleted"


def test_sessions_end_at_the_latest_after_the_maximum_lifetime(eng, alice):
    token, _ = staff.create_session(eng, "alice", 30, now=T0)
    t = T0
    while t < T0 + staff.MAX_SESSION_S - 20 * 60:
        t += 20 * 60
        assert staff.session_user(eng, token, 30, now=t) is not None
    assert staff.session_user(eng, token, 30, now=T0 + staff.MAX_SESSION_S + 1) is None


def test_end_session(eng, alice):
    token, _ = staff.create_session(eng, "alice", 30, now=T0)
    other, _ = staff.create_session(eng, "alice", 30, now=T0)
    staff.end_session(eng, token)
    staff.end_session(eng, token)  # twice is harmless
    assert staff.session_user(eng, token, 30, now=T0 + 1) is None
    assert staff.session_user(eng, other, 30, now=T0 + 1) is not None, "only that session ends"


def test_disabling_or_resetting_a_user_ends_their_sessions(eng, alice):
    token, _ = staff.create_session(eng, "alice", 30, now=T0)
    staff.disable_user(eng, "alice")
    assert staff.session_user(eng, token, 30, now=T0 + 1) is None
    staff.add_user(eng, "alice", PASSWORD, replace=True)
    token, _ = staff.create_session(eng, "alice", 30, now=T0)
    staff.add_user(eng, "alice", "a brand new password", replace=True)
    assert staff.session_user(eng, token, 30, now=T0 + 1) is None


def test_expired_sessions_are_purged_when_a_new_one_starts(eng, alice):
    staff.create_session(eng, "alice", 30, now=T0)
    staff.create_session(eng, "alice", 30, now=T0 + 3600)
    assert len(rows(eng, staff.SESSIONS)) == 1
