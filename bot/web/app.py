"""Serves the page with the web widget; the widget talks to Rasa's socket.io channel.

    python -m bot.web.app   (WEB_PORT, default 8080; the page points the widget at PORT)
"""
from __future__ import annotations

from pathlib import Path

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import facts
from bot import settings as settings_module
from bot.logs import configure_logging

HERE = Path(__file__).resolve().parent
WIDGET_JS = HERE / "node_modules" / "rasa-webchat" / "lib" / "index.js"


def render_page(rasa_port: int, name: str = "index.html") -> str:
    """A page of ``static/``, with the Rasa port and the center's facts filled in."""
    f = facts.load()
    page = (HERE / "static" / name).read_text(encoding="utf-8")
    for placeholder, value in (("__RASA_PORT__", str(rasa_port)), ("__EMERGENCY__", f.emergency_number),
                               ("__CRISIS__", f.crisis_line), ("__RETENTION__", f.retention_days),
                               ("__CENTER__", f.center_name), ("__PHONE__", f.center_phone),
                               ("__DIAL__", f.center_phone_dial)):
        page = page.replace(placeholder, value)
    return page


def create_app(rasa_port: int) -> Sanic:
    """The Sanic app; fails early with a clear message if the widget is not installed."""
    if not WIDGET_JS.exists():
        raise FileNotFoundError(f"{WIDGET_JS} is missing: run `make web` (npm ci in bot/web)")
    page = render_page(rasa_port)
    privacy = render_page(rasa_port, "privacy.html")
    app = Sanic("benzo_faq_web")

    @app.get("/")
    async def index(request: Request) -> HTTPResponse:
        return response.html(page)

    @app.get("/privacy")
    async def privacy_page(request: Request) -> HTTPResponse:
        return response.html(privacy)

    @app.get("/webchat.js")
    async def widget(request: Request) -> HTTPResponse:
        return await response.file(WIDGET_JS, mime_type="application/javascript")

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    return app


def main() -> None:
    """Runs the web app on INTERFACE:WEB_PORT."""
    configure_logging()
    config = settings_module.load()
    app = create_app(config.port)
    app.config.REQUEST_MAX_SIZE = config.max_body_bytes
    app.run(host=config.interface, port=config.web_port, access_log=False, workers=1)


if __name__ == "__main__":
    main()
