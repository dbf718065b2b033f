"""The staff site: where the center's staff review conversation logs, behind a login.

    python -m bot.staff      (STAFF_INTERFACE:STAFF_PORT, default 127.0.0.1:8081)

Its own Sanic server, never one of the public servers. Accounts: ``python -m bot staff add NAME``.
Pages: :mod:`bot.staff.pages`; the callback requests queue: :mod:`bot.staff.callback_queue`;
login and the guard: :mod:`bot.staff.auth`; headers, cookies and CSRF: :mod:`bot.staff.security`.
Static files are three named files; of ``node_modules`` only Chart.js's ``dist/chart.umd.js`` is
served (``/static/chart.umd.js``).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Tuple

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import DBAPIError

from bot import settings as settings_module
from bot.logs import configure_logging
from bot.staff import auth, callback_queue, inbox_marks, pages, security
from bot.staff.web import SiteContext, blocking, message, templates

HERE = Path(__file__).resolve().parent
CHART_JS = HERE / "node_modules" / "chart.js" / "dist" / "chart.umd.js"
JS, CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
STATIC: Dict[str, Tuple[Path, str]] = {
    "staff.css": (HERE / "static" / "staff.css", CSS),
    "charts.js": (HERE / "static" / "charts.js", JS),
    "chart.umd.js": (CHART_JS, JS),
}
logger = logging.getLogger("bot.staff")


async def static_file(request: Request, name: str) -> HTTPResponse:
    """One of the named static files (anything else: 404)."""
    path, mime = STATIC.get(name, (None, ""))
    if path is None or not path.is_file():
        return message(request, 404, "Not found", "There is no such file.")
    return await response.file(path, mime_type=mime)


async def database_down(request: Request, exception: Exception) -> HTTPResponse:
    """503 with a plain page when the database does not answer (no SQL or parameters logged)."""
    cause = getattr(exception, "orig", None) or exception
    logger.error("database error on %s %s: %s", request.method, request.path, type(cause).__name__)
    page = message(request, 503, "Database unavailable",
                   "The conversation database is not answering. Try again in a moment.")
    security.add_headers(request, page)
    return page


async def health(request: Request) -> HTTPResponse:
    """Up (no login, no database)."""
    return response.json({"status": "ok"})


def create_app(settings: settings_module.Settings, name: str = "benzo_faq_staff") -> Sanic:
    """The staff site's Sanic app; the database (tables created if missing) opens when it starts."""
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes
    app.ctx.site = SiteContext(settings, templates(), security.LoginTokens())

    async def open_database(app: Sanic, _loop: object) -> None:
        from bot.store import create_tables

        app.ctx.site.engine = await blocking(create_tables, settings.database)
        if not CHART_JS.is_file():
            logger.error("%s is missing: the overview has no charts (run `cd bot/staff && npm ci`)", CHART_JS)

    app.register_listener(open_database, "before_server_start")

    @app.on_request
    async def no_session_yet(request: Request) -> None:
        request.ctx.session = None

    @app.on_response
    async def headers(request: Request, resp: HTTPResponse) -> None:
        security.add_headers(request, resp)

    app.error_handler.add(DBAPIError, database_down)
    app.add_route(health, "/health", methods=["GET"])
    app.add_route(static_file, "/static/<name:str>", methods=["GET"])
    auth.register(app)
    pages.register(app)
    callback_queue.register(app)
    inbox_marks.register(app)
    return app


def main() -> None:
    """Runs the staff site on STAFF_INTERFACE:STAFF_PORT (one worker, no access log)."""
    configure_logging()
    try:
        config = settings_module.load()
    except settings_module.SettingsError as e:
        raise SystemExit(f"error: invalid setting: {e}") from None
    app = create_app(config)
    logger.info("staff site on http://%s:%d/", config.staff_interface, config.staff_port)
    app.run(host=config.staff_interface, port=config.staff_port, access_log=False, workers=1)

