"""Signing in and out of the staff site, and the guard on every other page.

* ``GET /login`` shows the form with a CSRF token bound to a fresh pre-login cookie;
  ``POST /login`` checks it, the password (throttled, :mod:`bot.store.staff`), then sets the
  ``staff_session`` cookie and sends the browser on (303).
* :func:`login_required` refuses anyone without a live session: a redirect to the login page
  (303) for pages, 401 for downloads; on POST it also checks the session's CSRF token (403).
"""
from __future__ import annotations

import functools
import logging
import math
from typing import Any, Callable, Coroutine
from urllib.parse import urlencode

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.staff import security
from bot.staff.web import blocking, message, render, site
from bot.store import staff

logger = logging.getLogger("bot.staff")
Handler = Callable[..., Coroutine[Any, Any, HTTPResponse]]


async def current_session(request: Request) -> staff.Session | None:
    """The live session of the request's cookie (its expiry moved on), or None."""
    token = request.cookies.get(security.SESSION_COOKIE)
    if not token:
        return None
    ctx = site(request)
    return await blocking(staff.session_user, ctx.db, token, ctx.settings.staff_session_minutes)


def login_required(download: bool = False) -> Callable[[Handler], Handler]:
    """Decorates a handler: signed-in staff only (``download``: 401 instead of a redirect); CSRF on POST."""
    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            session = await current_session(request)
            if session is None:
                if download:
                    return response.text("Sign in to the staff site first.", status=401)
                target = request.path + (f"?{request.query_string}" if request.query_string else "")
                query = "?" + urlencode({"next": target}) if request.method == "GET" and target != "/" else ""
                return response.redirect("/login" + query, status=303)
            request.ctx.session = session
            if request.method == "POST" and not (
                    security.same_origin(request)
                    and security.tokens_match(session.csrf_token, request.form.get(security.CSRF_FIELD))):
                logger.warning("refused %s %s by %s: missing or wrong CSRF token", request.method, request.path,
                               session.name)
                return message(request, 403, "Refused",
                               "This form did not come from this site, or it is out of date. Go back, reload the "
                               "page and try again.")
            return await handler(request, *args, **kwargs)
        return guarded
    return decorate


def login_page(request: Request, status: int = 200, error: str = "", name: str = "",
               next_path: str = "/") -> HTTPResponse:
    """The login form, with a new pre-login cookie and its CSRF token."""
    cookie = security.LoginTokens.new_cookie()
    page = render(request, "login.html", status=status, session=None, error=error, name=name, next_path=next_path,
                  csrf=site(request).login_tokens.token(cookie))
    security.set_cookie(request, page, security.PRELOGIN_COOKIE, cookie)
    return page


def _minutes(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


async def login_get(request: Request) -> HTTPResponse:
    """The login form (signed-in staff go straight on)."""
    next_path = security.local_path(request.args.get("next"))
    if await current_session(request) is not None:
        return response.redirect(next_path, status=303)
    return login_page(request, next_path=next_path)


async def login_post(request: Request) -> HTTPResponse:
    """Checks the form's token and the password; starts a session."""
    ctx, form = site(request), request.form
    next_path = security.local_path(form.get("next"))
    if not (security.same_origin(request)
            and ctx.login_tokens.check(request.cookies.get(security.PRELOGIN_COOKIE), form.get(security.CSRF_FIELD))):
        return login_page(request, 403, "This form expired or did not come from this site. Please sign in again.",
                          next_path=next_path)
    name, password = (form.get("name") or "").strip(), form.get("password") or ""
    client = security.client_key(request)
    try:
        ok = await blocking(staff.verify, ctx.db, name, password, client)
    except staff.Throttled as e:
        logger.warning("staff login refused (throttled) from %s", client)
        return login_page(request, 429, f"Too many failed attempts, try again in {_minutes(e.retry_after)}.",
                          name=name, next_path=next_path)
    if not ok:
        logger.warning("failed staff login from %s", client)
        return login_page(request, 401, "Wrong name or password.", name=name, next_path=next_path)
    token, _csrf = await blocking(staff.create_session, ctx.db, name, ctx.settings.staff_session_minutes)
    logger.info("staff login: %s from %s", name, client)
    done = response.redirect(next_path, status=303)
    security.set_cookie(request, done, security.SESSION_COOKIE, token)
    security.clear_cookie(request, done, security.PRELOGIN_COOKIE)
    return done


@login_required()
async def logout(request: Request) -> HTTPResponse:
    """Ends the session and forgets the cookie."""
    await blocking(staff.end_session, site(request).db, request.cookies.get(security.SESSION_COOKIE) or "")
    logger.info("staff logout: %s", request.ctx.session.name)
    done = response.redirect("/login", status=303)
    security.clear_cookie(request, done, security.SESSION_COOKIE)
    return done


def register(app: Sanic) -> None:
    """Adds /login and /logout."""
    app.add_route(login_get, "/login", methods=["GET"], name="login_get")
    app.add_route(login_post, "/login", methods=["POST"], name="login_post")
    app.add_route(logout, "/logout", methods=["POST"], name="logout")
