"""The callback requests queue of the staff site: requests visitors left in the chat.

* ``GET /callbacks``: the queue, newest first. ``?status=`` chooses which: ``open`` (the
  default: new and no answer, the ones still to call), ``all``, or one status of
  :data:`bot.store.callbacks.STATUSES`. Every opening is audited (``open_callbacks``).
* ``POST /callbacks/<id>/mark``: sets a request's status and note (CSRF-checked by
  :func:`bot.staff.auth.login_required`; audited by :func:`bot.store.callbacks.mark`).
* ``GET /callbacks.csv``, ``/callbacks.jsonl``: downloads with the full contact details
  (``?status=`` one status, else all), audited as ``export_callbacks``.

These are visitors' contact details: signed-in staff only, never cached (``no-store``, as
every page of the site), and nothing of a request but its id is ever logged.
"""
from __future__ import annotations

import io
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Tuple
from urllib.parse import urlencode

import sqlalchemy as sa
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.engine import Engine

from bot.staff.auth import login_required
from bot.staff.web import blocking, message, render, site
from bot.store import audit, callbacks

logger = logging.getLogger("bot.staff")
OPEN, ALL = "open", "all"
OPEN_STATUSES = (callbacks.NEW, callbacks.NO_ANSWER)
FILTERS = (OPEN, ALL) + callbacks.STATUSES
QUEUE_LIMIT = 500
MAX_NOTE = 4000
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
STATUS_LABELS = {callbacks.NEW: "new", callbacks.CALLED: "called", callbacks.NO_ANSWER: "no answer",
                 callbacks.DONE: "done"}
ABOUT_LABELS = {"self": "me (the visitor)", "someone_else": "someone else"}


def counts(engine: Engine) -> Dict[str, int]:
    """How many requests have each status (every status present, 0 if none)."""
    table = callbacks.CALLBACKS
    query = sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
    with engine.connect() as conn:
        found = {str(status): int(n) for status, n in conn.execute(query)}
    return {status: found.get(status, 0) for status in callbacks.STATUSES}


def new_count(engine: Engine) -> int:
    """How many requests nobody has acted on yet (for the overview)."""
    return counts(engine)[callbacks.NEW]


def tel_href(phone: str) -> str:
    """A ``tel:`` link of a stored number: ``+`` and digits only, whatever was stored."""
    digits = re.sub(r"\D", "", phone or "")
    return "tel:" + ("+" if (phone or "").strip().startswith("+") else "") + digits


def display_phone(phone: str) -> str:
    """(555) 123-4567 for a US number in E.164 form, the number as stored otherwise."""
    if re.fullmatch(r"\+1\d{10}", phone or ""):
        d = phone[2:]
        return f"({d[:3]}) {d[3:6]}-{d[6:]}"
    return phone


@dataclass
class Queue:
    """One view of the queue: the rows shown, how many match, the counts per status."""

    status: str
    rows: List[callbacks.Callback]
    total: int
    counts: Dict[str, int]
    errors: List[str] = field(default_factory=list)


def parse_status(args: Mapping[str, Any]) -> Tuple[str, List[str]]:
    """The ``status`` filter of the query (``open`` if missing); errors lists what was ignored."""
    value = str(args.get("status") or "").strip()
    if not value:
        return OPEN, []
    if value not in FILTERS:
        return OPEN, [f"status {value[:40]!r} ignored: showing the open requests"]
    return value, []


def open_queue(engine: Engine, status: str, actor: str, limit: int = QUEUE_LIMIT) -> Queue:
    """The requests of the filter, newest first (at most ``limit``), and the audit entry of this opening."""
    per_status = counts(engine)
    if status == OPEN:
        rows = sorted((c for s in OPEN_STATUSES for c in callbacks.listing(engine, s, limit)),
                      key=lambda c: c.created_at, reverse=True)[:limit]
        total = sum(per_status[s] for s in OPEN_STATUSES)
    elif status == ALL:
        rows, total = callbacks.listing(engine, None, limit), sum(per_status.values())
    else:
        rows, total = callbacks.listing(engine, status, limit), per_status[status]
    with engine.begin() as conn:
        audit.record(conn, actor, "open_callbacks", "callbacks", f"status: {status}; {len(rows)} shown")
    return Queue(status, rows, total, per_status)


@login_required()
async def queue_page(request: Request) -> HTTPResponse:
    """The queue (audited), with a form on each request to mark it."""
    user = request.ctx.session.name
    status, errors = parse_status(request.args)
    queue = await blocking(open_queue, site(request).db, status, user)
    queue.errors = errors
    logger.info("callback queue opened by %s (%s, %d shown)", user, status, len(queue.rows))
    notice = request.args.get("notice") or ""
    return render(request, "callbacks.html", active="callbacks", queue=queue, filters=FILTERS,
                  statuses=callbacks.STATUSES, labels=STATUS_LABELS, about=ABOUT_LABELS, limit=QUEUE_LIMIT,
                  max_note=MAX_NOTE, open_statuses=OPEN_STATUSES, tel=tel_href, phone=display_phone,
                  notice=f"Marked as {STATUS_LABELS[notice]}." if notice in STATUS_LABELS else "",
                  export_query="" if status in (OPEN, ALL) else "?" + urlencode({"status": status}))


@login_required()
async def mark_post(request: Request, request_id: str) -> HTTPResponse:
    """Sets a request's status and note, then back to the queue (the same filter) with a notice."""
    form = request.form
    status = (form.get("status") or "").strip()
    if status not in callbacks.STATUSES:
        return message(request, 400, "Not marked",
                       f"Choose a status: {', '.join(STATUS_LABELS[s] for s in callbacks.STATUSES)}.")
    note = (form.get("note") or "").strip()
    if len(note) > MAX_NOTE:
        return message(request, 400, "Note too long", f"A note may have at most {MAX_NOTE} characters.")
    user = request.ctx.session.name
    try:
        await blocking(callbacks.mark, site(request).db, request_id, status, user, note)
    except KeyError:
        return message(request, 404, "Not found", "There is no callback request with this id.")
    logger.info("callback request %s marked %s by %s", request_id, status, user)
    back = form.get("filter") or OPEN
    params = {"status": back if back in FILTERS else OPEN, "notice": status}
    return response.redirect("/callbacks?" + urlencode(params), status=303)


def _export(engine: Engine, fmt: str, status: str | None, actor: str) -> Tuple[str, int]:
    out = io.StringIO()
    rows = callbacks.export(engine, fmt, out, status)
    with engine.begin() as conn:
        audit.record(conn, actor, "export_callbacks", f"callbacks.{fmt}",
                     f"{rows} requests, full contact details; status: {status or 'all'}")
    return out.getvalue(), rows


def exporter(fmt: str) -> Any:
    """The handler of ``/callbacks.<fmt>``: every request (or those of ``?status=``), as a download."""
    @login_required(download=True)
    async def export_file(request: Request) -> HTTPResponse:
        user = request.ctx.session.name
        status = request.args.get("status") or None
        if status is not None and status not in callbacks.STATUSES:
            return response.text(f"status must be one of {', '.join(callbacks.STATUSES)}", status=400)
        body, rows = await blocking(_export, site(request).db, fmt, status, user)
        logger.info("callback export by %s: %d requests (%s)", user, rows, fmt)
        name = time.strftime(f"callbacks-%Y%m%d-%H%M%S.{fmt}", time.gmtime())
        return response.text(body, content_type=EXPORT_TYPES[fmt],
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
    export_file.__name__ = f"export_callbacks_{fmt}"
    return export_file


def register(app: Sanic) -> None:
    """Adds the queue, the mark form's target and the downloads."""
    app.add_route(queue_page, "/callbacks", methods=["GET"], name="callbacks")
    app.add_route(mark_post, "/callbacks/<request_id:str>/mark", methods=["POST"], name="mark_callback",
                  unquote=True)
    for fmt in EXPORT_TYPES:
        app.add_route(exporter(fmt), f"/callbacks.{fmt}", methods=["GET"], name=f"export_callbacks_{fmt}")
