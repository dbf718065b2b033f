"""What every handler of the staff site uses: the app's context, templates, blocking calls.

The database and argon2 are blocking: handlers run them in a worker thread
(:func:`blocking`), so that one slow query or password check does not stall other requests.
"""
from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.engine import Engine

from bot.settings import Settings
from bot.staff import forms
from bot.staff.security import LoginTokens

TEMPLATES = Path(__file__).resolve().parent / "templates"
T = TypeVar("T")


@dataclass
class SiteContext:
    """Held by the app (``app.ctx.site``): settings, database, templates, login-form key."""

    settings: Settings
    templates: Environment
    login_tokens: LoginTokens
    engine: Engine | None = None

    @property
    def db(self) -> Engine:
        """The engine (set when the server starts)."""
        if self.engine is None:
            raise RuntimeError("the staff site's database is not open yet")
        return self.engine


def site(request: Request) -> SiteContext:
    """The site's context of the app serving ``request``."""
    return request.app.ctx.site


def templates() -> Environment:
    """The Jinja2 environment: HTML autoescaped, undefined names are errors."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = forms.when
    env.filters["idpath"] = lambda value: quote(str(value), safe="")
    env.filters["percent"] = lambda value: "" if value is None else f"{float(value):.0%}"
    env.filters["topic"] = lambda value: str(value or "").split("/", 1)[-1].replace("_", " ")
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTTPResponse:
    """A page; ``session`` (the signed-in user, or None) is always available to templates."""
    context.setdefault("session", getattr(request.ctx, "session", None))
    context.setdefault("active", "")
    html = site(request).templates.get_template(template).render(**context)
    return response.html(html, status=status)


def message(request: Request, status: int, title: str, text: str) -> HTTPResponse:
    """A short page saying what went wrong (or right)."""
    return render(request, "message.html", status=status, title=title, text=text)


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a worker thread."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args, **kwargs))
