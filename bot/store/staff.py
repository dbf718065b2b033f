"""Staff accounts of the staff site: argon2id passwords, throttled logins, sliding sessions.

* ``staff_users``: one row per staff member; the password is stored only as an argon2id hash.
* ``staff_sessions``: a login; the browser holds a random token, the table only its SHA-256
  (a copy of the database does not let anyone sign in), with the session's CSRF token.
* ``staff_login_failures``: failed logins, by name and by client, for throttling: after
  :data:`MAX_FAILURES` failures within :data:`WINDOW_S` for the same name or the same client,
  further attempts are refused, even with the right password, until the window has passed.

Unknown names are checked against a dummy hash, so that an attempt takes as long whether the
name exists or not.
"""
from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import List, Tuple

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection, Engine

from bot.store import METADATA

MAX_FAILURES = 5
WINDOW_S = 15 * 60.0
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
# A session ends after its idle time (the caller's ``minutes``) or, at the latest, this long after login.
MAX_SESSION_S = 12 * 3600.0
NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)

USERS = sa.Table(
    "staff_users", METADATA,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
)

SESSIONS = sa.Table(
    "staff_sessions", METADATA,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # SHA-256 (hex) of the cookie's token
    sa.Column("name", sa.String(64), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)

FAILURES = sa.Table(
    "staff_login_failures", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False),  # "name:<name>" or "client:<address>"
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Index("ix_staff_login_failures_key_at", "key", "at"),
)


class Throttled(Exception):
    """Too many failed logins for this name or client; ``retry_after`` seconds until the next try."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed attempts, try again in {retry_after:.0f} s")
        self.retry_after = max(1.0, retry_after)


@dataclass(frozen=True)
class User:
    """A staff account, without its hash."""

    name: str
    created_at: float
    disabled: bool


@dataclass(frozen=True)
class Session:
    """A signed-in staff member."""

    name: str
    csrf_token: str
    created_at: float
    last_seen: float
    expires_at: float


@functools.lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    """argon2id with the library's defaults (RFC 9106, low-memory profile: 64 MiB, 3 passes)."""
    return PasswordHasher()


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash that no password matches in practice, verified for unknown names (same cost)."""
    return _hasher().hash(secrets.token_urlsafe(24))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def validate_name(name: str) -> str:
    """The name, if valid; else ValueError saying what is allowed."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValueError(f"invalid staff name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-'")
    return name


def validate_password(password: str) -> str:
    """The password, if long enough (and not absurdly long); else ValueError."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"the password must have at most {MAX_PASSWORD} characters")
    return password


def add_user(engine: Engine, name: str, password: str, replace: bool = False, now: float | None = None) -> None:
    """Creates a staff account (``replace=True``: sets a new password and re-enables an existing one).

    Raises ValueError for a bad name or password, or a name that exists without ``replace``.
    """
    validate_name(name)
    validate_password(password)
    hashed = _hasher().hash(password)
    now = time.time() if now is None else now
    with engine.begin() as conn:
        exists = conn.execute(sa.select(USERS.c.name).where(USERS.c.name == name)).first() is not None
        if exists and not replace:
            raise ValueError(f"staff user {name!r} already exists (use replace to set a new password)")
        if exists:
            conn.execute(USERS.update().where(USERS.c.name == name).values(password_hash=hashed, disabled=False))
            conn.execute(SESSIONS.delete().where(SESSIONS.c.name == name))
        else:
            conn.execute(USERS.insert().values(name=name, password_hash=hashed, created_at=now, disabled=False))


def list_users(engine: Engine) -> List[User]:
    """Every staff account, by name."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(USERS.c.name, USERS.c.created_at, USERS.c.disabled).order_by(USERS.c.name))
        return [User(r.name, float(r.created_at), bool(r.disabled)) for r in rows]


def disable_user(engine: Engine, name: str) -> bool:
    """Disables an account and ends its sessions; False if there is no such name."""
    with engine.begin() as conn:
        done = conn.execute(USERS.update().where(USERS.c.name == name).values(disabled=True)).rowcount
        conn.execute(SESSIONS.delete().where(SESSIONS.c.name == name))
    return bool(done)


def _keys(name: str, key: str) -> Tuple[str, str]:
    return f"name:{name[:200]}", f"client:{key[:200]}"


def _throttle_wait(conn: Connection, keys: Tuple[str, ...], now: float) -> float:
    """Seconds until a new attempt is allowed for every key (0: allowed now)."""
    wait = 0.0
    for key in keys:
        recent = conn.execute(
            sa.select(FAILURES.c.at).where(FAILURES.c.key == key, FAILURES.c.at > now - WINDOW_S)
            .order_by(FAILURES.c.at.desc()).limit(MAX_FAILURES)).scalars().all()
        if len(recent) >= MAX_FAILURES:
            # Allowed again once the count within the window drops below the limit.
            wait = max(wait, float(recent[-1]) + WINDOW_S - now)
    return wait


def verify(engine: Engine, name: str, password: str, key: str, now: float | None = None) -> bool:
    """Whether ``name`` may sign in with ``password`` from client ``key`` (e.g. its IP address).

    Raises :class:`Throttled` (without checking the password) after too many recent failures for
    the name or the client. A failure (wrong password, unknown or disabled name) is recorded for
    both; a success clears the name's failures.
    """
    now = time.time() if now is None else now
    name_key, client_key = _keys(str(name), str(key))
    with engine.connect() as conn:
        wait = _throttle_wait(conn, (name_key, client_key), now)
        if wait > 0:
            raise Throttled(wait)
        row = conn.execute(sa.select(USERS.c.password_hash, USERS.c.disabled)
                           .where(USERS.c.name == name)).first()
    ok = False
    stored = row.password_hash if row is not None else _dummy_hash()
    if isinstance(password, str) and len(password) <= MAX_PASSWORD:
        try:
            ok = _hasher().verify(stored, password) and row is not None and not row.disabled
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    with engine.begin() as conn:
        if ok:
            conn.execute(FAILURES.delete().where(FAILURES.c.key == name_key))
            if _hasher().check_needs_rehash(stored):
                conn.execute(USERS.update().where(USERS.c.name == name)
                             .values(password_hash=_hasher().hash(password)))
        else:
            conn.execute(FAILURES.delete().where(FAILURES.c.at <= now - WINDOW_S))
            conn.execute(FAILURES.insert(), [{"key": name_key, "at": now}, {"key": client_key, "at": now}])
    return ok


def create_session(engine: Engine, name: str, minutes: float, now: float | None = None) -> Tuple[str, str]:
    """Starts a session for ``name``: ``(token, csrf_token)``; only the token's SHA-256 is stored."""
    now = time.time() if now is None else now
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(SESSIONS.delete().where(SESSIONS.c.expires_at <= now))
        conn.execute(SESSIONS.insert().values(
            token_hash=_token_hash(token), name=name, csrf_token=csrf, created_at=now, last_seen=now,
            expires_at=min(now + minutes * 60.0, now + MAX_SESSION_S)))
    return token, csrf


def session_user(engine: Engine, token: str, minutes: float, now: float | None = None) -> Session | None:
    """The session of ``token``, its expiry moved ``minutes`` ahead; None (and deleted) if expired.

    A session of a disabled or deleted account is ended too.
    """
    if not token or len(token) > 256:
        return None
    now = time.time() if now is None else now
    hashed = _token_hash(token)
    s, u = SESSIONS.c, USERS.c
    with engine.begin() as conn:
        row = conn.execute(sa.select(s.name, s.csrf_token, s.created_at, s.expires_at, u.disabled)
                           .select_from(SESSIONS.outerjoin(USERS, u.name == s.name))
                           .where(s.token_hash == hashed)).first()
        if row is None:
            return None
        if row.expires_at <= now or row.disabled is None or row.disabled:
            conn.execute(SESSIONS.delete().where(s.token_hash == hashed))
            return None
        expires = min(now + minutes * 60.0, float(row.created_at) + MAX_SESSION_S)
        conn.execute(SESSIONS.update().where(s.token_hash == hashed).values(last_seen=now, expires_at=expires))
    return Session(row.name, row.csrf_token, float(row.created_at), now, expires)


def end_session(engine: Engine, token: str) -> None:
    """Ends the session of ``token`` (nothing if there is none)."""
    if token:
        with engine.begin() as conn:
            conn.execute(SESSIONS.delete().where(SESSIONS.c.token_hash == _token_hash(token)))
