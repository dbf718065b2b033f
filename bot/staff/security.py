"""HTTP security of the staff site: response headers, cookies, CSRF tokens, the client's key.

* Every response carries the Content-Security-Policy (no inline script or style), nosniff,
  no referrer and no framing; every response but the static files ``Cache-Control: no-store``.
* Cookies are HttpOnly, SameSite=Strict, Path=/, and Secure when the site is served over https.
* Before login, the form's CSRF token is an HMAC of a random pre-login cookie under a key held
  in memory by the process; after login, each session has its own CSRF token (stored with it).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from sanic.request import Request
from sanic.response import HTTPResponse

SESSION_COOKIE = "staff_session"
PRELOGIN_COOKIE = "staff_prelogin"
CSRF_FIELD = "csrf"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def add_headers(request: Request, response: HTTPResponse) -> None:
    """The security headers, on every response (errors and redirects too)."""
    for name, value in HEADERS.items():
        response.headers[name] = value
    if request.path.startswith("/static/") and response.status == 200:
        response.headers["Cache-Control"] = "no-cache"
    else:
        response.headers["Cache-Control"] = "no-store"


def set_cookie(request: Request, response: HTTPResponse, name: str, value: str) -> None:
    """A cookie for this site only (no Max-Age: it ends with the browser; the server expires it sooner)."""
    response.cookies[name] = value
    cookie = response.cookies[name]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["path"] = "/"
    if request.scheme == "https":
        cookie["secure"] = True


def clear_cookie(request: Request, response: HTTPResponse, name: str) -> None:
    """Tells the browser to forget a cookie."""
    set_cookie(request, response, name, "")
    response.cookies[name]["max-age"] = 0


def same_origin(request: Request) -> bool:
    """False if the browser says the request comes from another site or origin.

    ``Sec-Fetch-Site`` (sent by current browsers) must be ``same-origin`` (or ``none``: typed by
    the user); an ``Origin`` header must name this host. ``Origin: null`` is accepted: browsers
    send it on form posts from our own pages because of ``Referrer-Policy: no-referrer``. Clients
    that send neither header rely on the CSRF token and the SameSite cookie alone.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return True
    return urlsplit(origin).netloc == request.host


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of two tokens (False if either is missing)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


class LoginTokens:
    """CSRF tokens of the login form, bound to a random pre-login cookie."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    @staticmethod
    def new_cookie() -> str:
        """A fresh pre-login cookie value."""
        return secrets.token_urlsafe(32)

    def token(self, cookie: str) -> str:
        """The form token for this cookie."""
        return hmac.new(self._key, cookie.encode("utf-8"), hashlib.sha256).hexdigest()

    def check(self, cookie: str | None, given: str | None) -> bool:
        """Whether the form's token belongs to the browser's pre-login cookie."""
        return bool(cookie) and tokens_match(self.token(cookie or ""), given)


def client_key(request: Request) -> str:
    """The client's address, for login throttling (a proxy's header only if Sanic is told to trust it)."""
    return request.remote_addr or request.ip or "unknown"


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site (for ``?next=``), else ``default``: no open redirects."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in target):
        return default
    return target
