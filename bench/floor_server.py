"""The floor: a bare Sanic app on Rasa's webhook path that returns a fixed reply.

Same Sanic as Rasa (the venv's), one worker, the same backlog as ``rasa run``; no NLU, no
policies, no tracker. What is left is the HTTP stack, the JSON and the load generator,
which no setup can beat on this machine.

    python -m bench.floor_server --port 5099
"""
from __future__ import annotations

import argparse

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bench.settings import WEBHOOK_PATH

REPLY = [{"recipient_id": "floor", "text": "This is a fixed reply from the benchmark's floor server."}]


def create_app() -> Sanic:
    """The floor app: a health route and the webhook."""
    app = Sanic("bench_floor")

    @app.get("/webhooks/rest/")
    async def health(request: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @app.post(WEBHOOK_PATH)
    async def webhook(request: Request) -> HTTPResponse:
        body = request.json or {}
        sender = body.get("sender", "floor") if isinstance(body, dict) else "floor"
        return response.json([{**REPLY[0], "recipient_id": sender}])

    return app


def main() -> None:
    """Serves the floor app until SIGTERM/SIGINT."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    # As rasa.core.run.serve_application: one worker, backlog 100; access log off, as Rasa's
    # (its sanic.access logger is set to ERROR).
    create_app().run(host=args.host, port=args.port, workers=1, backlog=100, access_log=False)


if __name__ == "__main__":
    main()
