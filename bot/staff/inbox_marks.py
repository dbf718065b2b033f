"""The transcript's "Add to training inbox" button: staff send a visitor message to the training inbox.

* ``POST /conversations/<id>/inbox`` with ``event_id`` (the message's row): marks it for the
  next ``python -m bot inbox export`` (:func:`bot.retrain.inbox.mark_event`: audited as
  ``inbox_mark``, refused for an emergency or a callback answer), then a page saying so with a
  link back to the message. Signed-in staff only, CSRF-checked (:func:`bot.staff.auth.login_required`).
* The template global ``inbox_eligible(turn)`` tells the transcript which turns get the button.

Nothing a visitor wrote is logged: only ids.
"""
from __future__ import annotations

import logging
from typing import Any

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.retrain import inbox
from bot.staff.auth import login_required
from bot.staff.web import blocking, message, render, site
from bot.store.review import VISITOR

logger = logging.getLogger("bot.staff")
MAX_EVENT_ID = 2**63 - 1


def inbox_eligible(turn: Any) -> bool:
    """Whether a transcript turn may be added to the training inbox (a visitor's, not an emergency
    nor a callback answer, with its event id)."""
    return (getattr(turn, "speaker", None) == VISITOR and getattr(turn, "event_id", None) is not None
            and inbox.refusal(turn.intent, turn.text) is None)


@login_required()
async def inbox_post(request: Request, conversation_id: str) -> HTTPResponse:
    """Adds one visitor message of the conversation to the training inbox."""
    raw = (request.form.get("event_id") or "").strip()
    if not raw.isdigit() or int(raw) > MAX_EVENT_ID:
        return message(request, 400, "Not added", "Choose a visitor message of the conversation.")
    event_id, user = int(raw), request.ctx.session.name
    try:
        added = await blocking(inbox.mark_event, site(request).db, conversation_id, event_id, user)
    except KeyError:
        return message(request, 404, "Not found", "This conversation has no such visitor message.")
    except inbox.MarkRefused as e:
        return message(request, 400, "Not added", f"Not added to the training inbox: {e}.")
    logger.info("message %d of %s added to the training inbox by %s", event_id, conversation_id, user)
    return render(request, "inbox_marked.html", active="conversations", conversation_id=conversation_id,
                  event_id=event_id, added=added)


def register(app: Sanic) -> None:
    """Adds the route and the transcript's ``inbox_eligible`` template global."""
    app.ctx.site.templates.globals["inbox_eligible"] = inbox_eligible
    app.add_route(inbox_post, "/conversations/<conversation_id:str>/inbox", methods=["POST"], name="inbox_mark",
                  unquote=True)
