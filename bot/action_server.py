"""The action server: rasa_sdk's app on our terms (``python -m bot.action_server``).

Compare ``rasa_sdk/endpoint.py``. Same app and routes (``create_app``), but:
- it binds to ``ACTIONS_INTERFACE`` (127.0.0.1 by default) instead of rasa_sdk's 0.0.0.0;
- request bodies are capped at ``MAX_BODY_BYTES``; no CORS (only the Rasa server calls it);
- a failing action answers 500 with the action's name only: rasa_sdk's handler logs the
  exception and echoes the whole request body (the tracker, with the visitor's messages)
  in the response, which Rasa then writes to its ERROR log.
"""
from __future__ import annotations

import json
import logging

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import settings as settings_module
from bot.logs import configure_logging

logger = logging.getLogger(__name__)
ACTIONS_PACKAGE = "actions"


def action_name(request: Request) -> str:
    """The action a webhook call asked for, without reading anything else of the body."""
    try:
        body = json.loads(request.body or b"{}")
        return str(body.get("next_action") or "?")[:100] if isinstance(body, dict) else "?"
    except ValueError:
        return "?"


def build_app(max_body_bytes: int) -> Sanic:
    """rasa_sdk's app with a safe exception handler and a body limit."""
    app = create_app(ACTIONS_PACKAGE, cors_origins=None)
    app.config.REQUEST_MAX_SIZE = max_body_bytes

    @app.exception(Exception)
    async def failed(request: Request, exception: Exception) -> HTTPResponse:
        status = int(getattr(exception, "status_code", 500) or 500)
        name = action_name(request)
        logger.error("action %s failed: %s", name, type(exception).__name__)
        logger.debug("action %s failed", name, exc_info=exception)
        return response.json({"error": "the action failed", "action_name": name}, status=status)

    return app


def main() -> None:
    """Serves the actions on ACTIONS_INTERFACE:ACTIONS_PORT."""
    configure_logging()
    config = settings_module.load()
    app = build_app(config.max_body_bytes)
    logger.info("action server on http://%s:%s", config.actions_interface, config.actions_port)
    app.run(host=config.actions_interface, port=config.actions_port, access_log=False, workers=1)


if __name__ == "__main__":
    main()
