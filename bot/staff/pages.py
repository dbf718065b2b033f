"""The staff site's pages: overview, conversation list, transcript (review, delete), exports, audit.

The callback requests queue is in :mod:`bot.staff.callback_queue`.

Every handler is behind :func:`bot.staff.auth.login_required`. Visitors' words appear redacted
everywhere but on the transcript page, whose every opening is audited. Nothing a visitor wrote
is logged by this module.
"""
from __future__ import annotations

import io
import logging
import time
from typing import Any, Dict

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.staff import callback_queue, forms
from bot.staff.auth import login_required
from bot.staff.web import blocking, message, render, site
from bot.store import audit, review

logger = logging.getLogger("bot.staff")
OVERVIEW_DAYS = 14
MAX_NOTE = 4000
AUDIT_LIMIT = 200
NOTICES = {"reviewed": "Marked as reviewed.", "deleted": "The conversation was deleted."}
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


def chart_data(overview: review.Overview) -> Dict[str, Any]:
    """What static/charts.js draws (passed as JSON in the page)."""
    return {
        "days": [d.date for d in overview.days],
        "conversations": [d.conversations for d in overview.days],
        "emergencies": [d.emergencies for d in overview.days],
        "not_understood": [d.not_understood for d in overview.days],
        "topics": [name.replace("_", " ") for name, _ in overview.top_topics],
        "topic_counts": [n for _, n in overview.top_topics],
    }


@login_required()
async def overview_page(request: Request) -> HTTPResponse:
    """Charts of the last days beside the emergency queue; how many callback requests are new."""
    data = await blocking(review.overview, site(request).db, OVERVIEW_DAYS)
    new_callbacks = await blocking(callback_queue.new_count, site(request).db)
    totals = {"conversations": sum(d.conversations for d in data.days),
              "emergencies": sum(d.emergencies for d in data.days),
              "not_understood": sum(d.not_understood for d in data.days)}
    return render(request, "overview.html", active="overview", overview=data, totals=totals,
                  days=OVERVIEW_DAYS, chart=chart_data(data), new_callbacks=new_callbacks)


@login_required()
async def conversations_page(request: Request) -> HTTPResponse:
    """The filtered, paginated list; flagged conversations first."""
    db, form = site(request).db, forms.parse(request.args)
    rows = await blocking(review.list_conversations, db, form.to_filter())
    total = await blocking(review.count_conversations, db, form.to_filter(paged=False))
    return render(request, "conversations.html", active="conversations", form=form, rows=rows, total=total,
                  pages=forms.pages(total), notice=NOTICES.get(request.args.get("notice") or "", ""))


@login_required()
async def transcript_page(request: Request, conversation_id: str) -> HTTPResponse:
    """The whole conversation, unredacted (audited), with the review and delete forms."""
    ctx, user = site(request), request.ctx.session.name
    found = await blocking(review.open_transcript, ctx.db, conversation_id, user, False)
    if found is None:
        return message(request, 404, "Not found", "There is no stored conversation with this id.")
    logger.info("transcript opened by %s: %s", user, conversation_id)
    history = await blocking(audit.entries, ctx.db, 20, conversation_id)
    return render(request, "transcript.html", active="conversations", t=found, history=history,
                  max_note=MAX_NOTE)


@login_required()
async def review_post(request: Request, conversation_id: str) -> HTTPResponse:
    """Stores a review note (an empty note marks it reviewed)."""
    note = (request.form.get("note") or "").strip()
    if len(note) > MAX_NOTE:
        return message(request, 400, "Note too long", f"A note may have at most {MAX_NOTE} characters.")
    user = request.ctx.session.name
    try:
        await blocking(review.mark_reviewed, site(request).db, conversation_id, user, note)
    except KeyError:
        return message(request, 404, "Not found", "There is no stored conversation with this id.")
    logger.info("conversation marked reviewed by %s: %s", user, conversation_id)
    return response.redirect("/conversations?notice=reviewed", status=303)


@login_required()
async def delete_post(request: Request, conversation_id: str) -> HTTPResponse:
    """Deletes a conversation for good, if the box was ticked."""
    if request.form.get("confirm") != "yes":
        return message(request, 400, "Not deleted",
                       "Tick the box that confirms the deletion, then press Delete again.")
    user = request.ctx.session.name
    deleted = await blocking(review.delete_conversation, site(request).db, conversation_id, user)
    if not deleted:
        return message(request, 404, "Not found", "There is no stored conversation with this id.")
    logger.info("conversation deleted by %s: %s", user, conversation_id)
    return response.redirect("/conversations?notice=deleted", status=303)


def _export(db: Any, form: forms.FilterForm, fmt: str, actor: str) -> tuple[str, int]:
    out = io.StringIO()
    rows = review.export(db, form.to_filter(paged=False), fmt, out, redact=True)
    params = {k: v for k, v in form.params(page=1).items() if k != "q"}
    described = " ".join(f"{k}={v}" for k, v in params.items()) + (" with a text search" if form.q else "")
    with db.begin() as conn:
        audit.record(conn, actor, "export", f"conversations.{fmt}",
                     f"{rows} messages, redacted; filter: {described.strip() or 'none'}")
    return out.getvalue(), rows


def exporter(fmt: str) -> Any:
    """The handler of ``/export.<fmt>``: a redacted download of the filtered conversations."""
    @login_required(download=True)
    async def export_file(request: Request) -> HTTPResponse:
        user = request.ctx.session.name
        body, rows = await blocking(_export, site(request).db, forms.parse(request.args), fmt, user)
        logger.info("export by %s: %d messages (%s)", user, rows, fmt)
        name = time.strftime(f"conversations-%Y%m%d-%H%M%S.{fmt}", time.gmtime())
        return response.text(body, content_type=EXPORT_TYPES[fmt],
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
    export_file.__name__ = f"export_{fmt}"
    return export_file


@login_required()
async def audit_page(request: Request) -> HTTPResponse:
    """The latest audit entries (of one conversation with ``?target=``)."""
    target = (request.args.get("target") or "").strip() or None
    entries = await blocking(audit.entries, site(request).db, AUDIT_LIMIT, target)
    return render(request, "audit.html", active="audit", entries=entries, target=target or "", limit=AUDIT_LIMIT)


def register(app: Sanic) -> None:
    """Adds the pages."""
    app.add_route(overview_page, "/", methods=["GET"], name="overview")
    app.add_route(conversations_page, "/conversations", methods=["GET"], name="conversations")
    app.add_route(transcript_page, "/conversations/<conversation_id:str>", methods=["GET"], name="transcript",
                  unquote=True)
    app.add_route(review_post, "/conversations/<conversation_id:str>/review", methods=["POST"], name="review",
                  unquote=True)
    app.add_route(delete_post, "/conversations/<conversation_id:str>/delete", methods=["POST"], name="delete",
                  unquote=True)
    for fmt in EXPORT_TYPES:
        app.add_route(exporter(fmt), f"/export.{fmt}", methods=["GET"], name=f"export_{fmt}")
    app.add_route(audit_page, "/audit", methods=["GET"], name="audit")
