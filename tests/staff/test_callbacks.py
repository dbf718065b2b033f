"""The callback requests queue of the staff site over real HTTP (the site, fixtures and helpers of
``tests/staff/test_app.py``): requests are written into the site's database with
:func:`bot.store.callbacks.create`, as the chat's form action does.
"""
from __future__ import annotations

import csv
import io
import json
import re
import time
from typing import Dict, List

import pytest
import requests

from bot.store import audit, callbacks
from tests.staff import test_app as staff_site
from tests.staff.test_app import HEADERS, Site, csrf_of, login

# The running site (module scope: one site for this module) and alice's signed-in session.
site, alice = staff_site.site, staff_site.alice

NOW = time.time()
PHONE, SHOWN = "+15551234567", "(555) 123-4567"
NAME, MESSAGE, EMAIL = "Jane Callme", "please call after my shift", "jane.callme@example.com"
SCRIPT = "<script>alert(1)</script>"
# What visitors left that must never reach the server's log.
SECRETS = (PHONE, SHOWN, NAME, MESSAGE, EMAIL, "Rob Other", "+447700900123")


def _create(site: Site, age: float, conversation_id: str = "c-emergency", **fields: object) -> str:
    details: Dict[str, object] = {"name": NAME, "phone": PHONE, "best_time": "evenings", "about": "self"}
    details.update(fields)
    return callbacks.create(site.db, conversation_id, now=NOW - age, **details)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def queue(site) -> Dict[str, str]:
    """Requests of the module (oldest to newest): name -> id. Tests that mark make their own."""
    made = {
        "oldest": _create(site, 600, email=EMAIL, message=MESSAGE),
        "other": _create(site, 500, "c-normal", name="Rob Other", phone="+447700900123", best_time="mornings",
                         about="someone_else"),
        "no_answer": _create(site, 400, name="No Answer Yet"),
        "done": _create(site, 300, name="Already Done"),
        "html": _create(site, 200, name="Html Person", message=f"hi {SCRIPT}"),
    }
    callbacks.mark(site.db, made["no_answer"], callbacks.NO_ANSWER, "setup", "rang twice")
    callbacks.mark(site.db, made["done"], callbacks.DONE, "setup", "all sorted")
    return made


def rows(browser: requests.Session, site: Site, query: str = "") -> List[str]:
    """The request ids of the queue page, in order."""
    page = browser.get(site.url("/callbacks" + query))
    assert page.status_code == 200, page.text[:2000]
    return re.findall(r'<tr id="cb-([0-9a-f]+)"', page.text)


def row_of(page: str, request_id: str) -> str:
    return page.split(f'<tr id="cb-{request_id}"', 1)[1].split("</tr>", 1)[0]


def mark(browser: requests.Session, site: Site, request_id: str, **data: str) -> requests.Response:
    return browser.post(site.url(f"/callbacks/{request_id}/mark"), data=data, allow_redirects=False)


# --- not signed in ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/callbacks", "/callbacks?status=all"])
def test_the_queue_sends_strangers_to_the_login(site, queue, path):
    for cookies in ({}, {"staff_session": "forged-token"}):
        answer = requests.get(site.url(path), cookies=cookies, allow_redirects=False)
        assert answer.status_code == 303 and answer.headers["Location"].startswith("/login?next=%2Fcallbacks")
        assert PHONE not in answer.text and NAME not in answer.text


@pytest.mark.parametrize("path", ["/callbacks.csv", "/callbacks.jsonl", "/callbacks.csv?status=new"])
def test_downloads_refuse_strangers_with_401(site, queue, path):
    for cookies in ({}, {"staff_session": "forged-token"}):
        answer = requests.get(site.url(path), cookies=cookies, allow_redirects=False)
        assert answer.status_code == 401
        assert PHONE not in answer.text and "conversation_id" not in answer.text
        assert answer.headers["Cache-Control"] == "no-store"


def test_a_strangers_mark_changes_nothing(site, queue):
    target = queue["oldest"]
    answer = requests.post(site.url(f"/callbacks/{target}/mark"), data={"status": "done", "note": "x", "csrf": "x"},
                           allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/login")
    assert callbacks.get(site.db, target).status == callbacks.NEW
    assert not [e for e in audit.entries(site.db, target=target) if e.action == "mark_callback"]


# --- the queue --------------------------------------------------------------------------------

def test_the_queue_lists_open_requests_newest_first(site, alice, queue):
    shown = rows(alice, site)
    mine = [i for i in shown if i in queue.values()]
    assert mine == [queue["html"], queue["no_answer"], queue["other"], queue["oldest"]], "open: new and no answer"
    assert queue["done"] not in shown
    assert rows(alice, site, "?status=open") == shown
    everything = [i for i in rows(alice, site, "?status=all") if i in queue.values()]
    assert everything == [queue[k] for k in ("html", "done", "no_answer", "other", "oldest")]
    assert [i for i in rows(alice, site, "?status=done") if i in queue.values()] == [queue["done"]]
    assert [i for i in rows(alice, site, "?status=no_answer") if i in queue.values()] == [queue["no_answer"]]


def test_each_row_has_the_details_a_tel_link_and_the_transcript(site, alice, queue):
    page = alice.get(site.url("/callbacks?status=all")).text
    row = row_of(page, queue["oldest"])
    assert f'<a href="tel:{PHONE}">{SHOWN}</a>' in row
    assert NAME in row and "evenings" in row and "me (the visitor)" in row
    assert f'<a href="mailto:{EMAIL}">{EMAIL}</a>' in row and MESSAGE in row
    assert '<a href="/conversations/c-emergency">' in row
    assert time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(NOW - 600)) in row
    other = row_of(page, queue["other"])
    assert '<a href="tel:+447700900123">+447700900123</a>' in other and "someone else" in other
    assert '<a href="/conversations/c-normal">' in other
    done = row_of(page, queue["done"])
    assert "all sorted" in done and "setup" in done and ">done<" in done
    assert alice.get(site.url("/conversations/c-emergency")).status_code == 200, "the transcript link works"


def test_the_queue_escapes_what_visitors_wrote(site, alice, queue):
    page = alice.get(site.url("/callbacks")).text
    assert SCRIPT not in page and "hi &lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_queue_is_not_cached_has_the_headers_and_is_audited(site, alice, queue):
    before = len(audit.entries(site.db, target="callbacks"))
    page = alice.get(site.url("/callbacks?status=done"))
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    for name, value in HEADERS.items():
        assert page.headers.get(name, "").startswith(value), name
    entries = audit.entries(site.db, target="callbacks")
    assert len(entries) == before + 1
    assert entries[0].actor == "alice" and entries[0].action == "open_callbacks"
    assert "status: done" in entries[0].detail
    assert PHONE not in entries[0].detail and NAME not in entries[0].detail


def test_a_bad_status_filter_shows_the_open_requests(site, alice, queue):
    page = alice.get(site.url("/callbacks?status=maybe"))
    assert page.status_code == 200 and "ignored" in page.text
    assert queue["done"] not in page.text and queue["oldest"] in page.text


def test_the_navigation_and_the_overview_lead_to_the_queue(site, alice, queue):
    page = alice.get(site.url("/callbacks")).text
    assert '<a href="/callbacks" aria-current="page">Callbacks</a>' in page
    overview = alice.get(site.url("/")).text
    assert '<a href="/callbacks">Callbacks</a>' in overview
    new = len(callbacks.listing(site.db, callbacks.NEW))
    assert re.search(rf'<a href="/callbacks"><span class="n">{new}</span> new callback requests?</a>', overview)


# --- marking ----------------------------------------------------------------------------------

def test_marking_sets_status_and_note_and_is_audited(site, alice):
    target = _create(site, 100, name="To Be Called")
    answer = mark(alice, site, target, csrf=csrf_of(alice, site), status="called", note="  left a voicemail  ",
                  filter="all")
    assert answer.status_code == 303 and answer.headers["Location"] == "/callbacks?status=all&notice=called"
    stored = callbacks.get(site.db, target)
    assert stored.status == "called" and stored.note == "left a voicemail" and stored.updated_by == "alice"
    [entry] = [e for e in audit.entries(site.db, target=target) if e.action == "mark_callback"]
    assert entry.actor == "alice" and entry.detail == "called"
    page = alice.get(site.url(answer.headers["Location"])).text
    assert '<p class="notice" role="status">Marked as called.</p>' in page
    row = row_of(page, target)
    assert "left a voicemail" in row and "alice" in row
    assert target not in alice.get(site.url("/callbacks")).text, "called: no longer open"
    audit_page = alice.get(site.url(f"/audit?target={target}")).text
    assert "mark callback" in audit_page and f"#cb-{target}" in audit_page


def test_marking_back_to_the_open_queue_by_default(site, alice):
    target = _create(site, 90, name="No Answer Person")
    answer = mark(alice, site, target, csrf=csrf_of(alice, site), status="no_answer", note="")
    assert answer.status_code == 303 and answer.headers["Location"] == "/callbacks?status=open&notice=no_answer"
    assert callbacks.get(site.db, target).status == "no_answer"
    assert target in rows(alice, site)
    answer = mark(alice, site, target, csrf=csrf_of(alice, site), status="done", filter="//evil.example")
    assert answer.headers["Location"] == "/callbacks?status=open&notice=done"


@pytest.mark.parametrize("data", [{}, {"csrf": "wrong"}])
def test_a_mark_without_the_sessions_csrf_token_is_403(site, alice, queue, data):
    target = queue["oldest"]
    answer = mark(alice, site, target, status="done", note="forged", **data)
    assert answer.status_code == 403
    assert callbacks.get(site.db, target).status == callbacks.NEW
    assert not [e for e in audit.entries(site.db, target=target) if e.action == "mark_callback"]


def test_a_mark_with_another_sessions_token_or_from_another_origin_is_403(site, alice, queue):
    target = queue["oldest"]
    other = login(site)
    assert mark(alice, site, target, csrf=csrf_of(other, site), status="done").status_code == 403
    answer = alice.post(site.url(f"/callbacks/{target}/mark"), data={"csrf": csrf_of(alice, site), "status": "done"},
                        headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert answer.status_code == 403
    assert callbacks.get(site.db, target).status == callbacks.NEW


def test_an_unknown_request_is_404(site, alice):
    answer = mark(alice, site, "0" * 32, csrf=csrf_of(alice, site), status="done")
    assert answer.status_code == 404 and "no callback request" in answer.text
    assert answer.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("status", ["", "closed", "NEW"])
def test_a_bad_status_is_400(site, alice, queue, status):
    target = queue["oldest"]
    answer = mark(alice, site, target, csrf=csrf_of(alice, site), status=status)
    assert answer.status_code == 400
    assert callbacks.get(site.db, target).status == callbacks.NEW


def test_a_too_long_note_is_400(site, alice, queue):
    target = queue["oldest"]
    answer = mark(alice, site, target, csrf=csrf_of(alice, site), status="done", note="x" * 4001)
    assert answer.status_code == 400 and callbacks.get(site.db, target).status == callbacks.NEW


# --- downloads --------------------------------------------------------------------------------

def test_the_csv_download_has_every_request_and_is_audited(site, alice, queue):
    answer = alice.get(site.url("/callbacks.csv"))
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    assert answer.headers["Cache-Control"] == "no-store"
    assert re.match(r'attachment; filename="callbacks-\d{8}-\d{6}\.csv"', answer.headers["Content-Disposition"])
    records = list(csv.DictReader(io.StringIO(answer.text)))
    by_id = {r["id"]: r for r in records}
    assert set(queue.values()) <= set(by_id)
    first = by_id[queue["oldest"]]
    assert (first["name"], first["phone"], first["email"], first["message"]) == (NAME, PHONE, EMAIL, MESSAGE)
    assert first["conversation_id"] == "c-emergency" and first["status"] == "new"
    assert [r["created_at"] for r in records] == sorted((r["created_at"] for r in records), key=float, reverse=True)
    entry = audit.entries(site.db, target="callbacks.csv")[0]
    assert entry.actor == "alice" and entry.action == "export_callbacks"
    assert f"{len(records)} requests" in entry.detail and "status: all" in entry.detail


def test_the_jsonl_download_filters_by_status(site, alice, queue):
    answer = alice.get(site.url("/callbacks.jsonl?status=done"))
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/x-ndjson")
    assert "attachment" in answer.headers["Content-Disposition"]
    records = [json.loads(line) for line in answer.text.splitlines()]
    assert queue["done"] in {r["id"] for r in records} and {r["status"] for r in records} == {"done"}
    done = next(r for r in records if r["id"] == queue["done"])
    assert done["note"] == "all sorted" and done["name"] == "Already Done" and done["phone"] == PHONE
    entry = audit.entries(site.db, target="callbacks.jsonl")[0]
    assert entry.action == "export_callbacks" and "status: done" in entry.detail
    assert alice.get(site.url("/callbacks.jsonl?status=maybe")).status_code == 400


def test_the_queue_links_the_downloads_of_its_status(site, alice, queue):
    page = alice.get(site.url("/callbacks?status=no_answer")).text
    assert 'href="/callbacks.csv?status=no_answer"' in page and 'href="/callbacks.jsonl?status=no_answer"' in page
    page = alice.get(site.url("/callbacks")).text
    assert 'href="/callbacks.csv"' in page and "every request" in page


# --- the log and the public servers -----------------------------------------------------------

def test_contact_details_never_reach_the_log(site, alice, queue):
    alice.get(site.url("/callbacks?status=all"))
    alice.get(site.url("/callbacks.csv"))
    text = site.process.log.read_text(errors="replace")
    assert "callback queue opened by alice" in text
    for secret in SECRETS:
        assert secret not in text


STAFF_ONLY = ("callbacks", "export", "conversations", "audit", "login")


def test_the_public_servers_have_no_staff_routes(tmp_path):
    from rasa.core.channels.channel import register
    from sanic import Sanic

    from bot import launch
    from bot import settings as settings_module
    from bot.channels.rest import SafeRestInput
    from bot.channels.socketio import SafeSocketIOInput
    from bot.web import app as web

    config = settings_module.load({"VAR_DIR": str(tmp_path), "LOG_DIR": str(tmp_path)})
    public = Sanic("public_channels_probe")  # the channels of credentials.yml, as `rasa run` mounts them
    register([SafeRestInput(), SafeSocketIOInput(settings=config)], public, route="/webhooks/")
    paths = [route.path for route in public.router.routes]
    assert "webhooks/rest/webhook" in paths
    if web.WIDGET_JS.exists():  # the web app refuses to start without the widget (`make web`)
        paths += [route.path for route in web.create_app(config.port).router.routes]
        assert "embed.js" in paths
    for path in paths:
        assert not any(path.startswith(word) or f"/{word}" in path for word in STAFF_ONLY), path
    assert "--enable-api" not in launch.rasa_server(config).argv, "no Rasa HTTP API on the public port"
