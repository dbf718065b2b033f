"""Serves the demo page with the web widget; the widget talks to Rasa's socket.io channel.

    python -m bot.web.app   (WEB_PORT, default 8080; the page points the widget at PORT)

Only named files are served: the page (``/``; ``/?open`` shows the chat open in the page), the
privacy page, our script around the widget (``/embed.js``, with the center's facts and Rasa's
port filled in), its stylesheet (``/chat.css``) and rasa-webchat's bundle (``/webchat.js``, from
``node_modules``, installed by ``make web``). Every response carries the security headers of
:mod:`bot.web.security`.
"""
from __future__ import annotations

import json
from pathlib import Path

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import facts
from bot import settings as settings_module
from bot.logs import configure_logging
from bot.web.security import headers_for

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
WIDGET_JS = HERE / "node_modules" / "rasa-webchat" / "lib" / "index.js"
SCRIPT_CONFIG = "/*SERVER*/ {}"  # in static/embed.js: replaced by the JSON of script_config()
OPEN_IN = "#webchat"  # the page's element that holds the chat when it is shown open (/?open)


def render_page(rasa_port: int, name: str = "index.html", open_in: str = "") -> str:
    """A page of ``static/``, with the center's facts filled in (``open_in``: where ``/?open`` shows the chat)."""
    f = facts.load()
    page = (STATIC / name).read_text(encoding="utf-8")
    for placeholder, value in (("__RASA_PORT__", str(rasa_port)), ("__EMERGENCY__", f.emergency_number),
                               ("__CRISIS__", f.crisis_line), ("__RETENTION__", f.retention_days),
                               ("__CENTER__", f.center_name), ("__PHONE__", f.center_phone),
                               ("__DIAL__", f.center_phone_dial), ("__OPEN_IN__", open_in)):
        page = page.replace(placeholder, value)
    return page


def script_config(rasa_port: int) -> dict:
    """What ``embed.js`` needs from the server: Rasa's port (its default socket URL) and the facts of the banner."""
    f = facts.load()
    return {"rasaPort": rasa_port, "emergencyNumber": f.emergency_number, "crisisLine": f.crisis_line,
            "centerName": f.center_name, "centerPhone": f.center_phone, "centerDial": f.center_phone_dial,
            "retentionDays": f.retention_days}


def render_script(rasa_port: int) -> str:
    """``static/embed.js`` with its server configuration filled in."""
    script = (STATIC / "embed.js").read_text(encoding="utf-8")
    if SCRIPT_CONFIG not in script:
        raise ValueError(f"{STATIC / 'embed.js'} lost its {SCRIPT_CONFIG} placeholder")
    return script.replace(SCRIPT_CONFIG, json.dumps(script_config(rasa_port), ensure_ascii=True), 1)


def create_app(rasa_port: int, name: str = "benzo_faq_web") -> Sanic:
    """The Sanic app (``name``: unique in a process, Sanic's rule); fails early with a clear
    message if the widget is not installed."""
    if not WIDGET_JS.exists():
        raise FileNotFoundError(f"{WIDGET_JS} is missing: run `make web` (npm ci in bot/web)")
    page, page_open = render_page(rasa_port), render_page(rasa_port, open_in=OPEN_IN)
    privacy = render_page(rasa_port, "privacy.html")
    embed = render_script(rasa_port)
    stylesheet = (STATIC / "chat.css").read_text(encoding="utf-8")
    app = Sanic(name)

    @app.on_response
    async def security_headers(request: Request, resp: HTTPResponse) -> None:
        for name, value in headers_for(request.path, request.host, request.scheme, rasa_port).items():
            resp.headers[name] = value

    @app.get("/")
    async def index(request: Request) -> HTTPResponse:
        return response.html(page_open if "open" in request.get_args(keep_blank_values=True) else page)

    @app.get("/privacy")
    async def privacy_page(request: Request) -> HTTPResponse:
        return response.html(privacy)

    @app.get("/embed.js")
    async def embed_script(request: Request) -> HTTPResponse:
        return response.text(embed, content_type="application/javascript; charset=utf-8")

    @app.get("/chat.css")
    async def chat_stylesheet(request: Request) -> HTTPResponse:
        return response.text(stylesheet, content_type="text/css; charset=utf-8")

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
