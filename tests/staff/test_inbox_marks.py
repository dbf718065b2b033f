"""The transcript's "Add to training inbox" button over real HTTP (the site, fixtures and helpers of
``tests/staff/test_app.py``): visitor turns only, never an emergency, signed-in staff with the
session's CSRF token only, audited, and nothing a visitor wrote in the server's log."""
from __future__ import annotations

import re
from typing import List

import pytest
import requests
import sqlalchemy as sa

from bot.retrain.inbox import MARKS
from bot.store import audit
from bot.store.conversations import EVENTS
from tests.staff import test_app as staff_site
from tests.staff.test_app import Site, csrf_of, login

# The running site (module scope: one site for this module) and alice's signed-in session.
site, alice = staff_site.site, staff_site.alice


def event_ids(site: Site, conversation_id: str, kind: str = "user") -> List[int]:
    with site.db.connect() as conn:
        return [int(i) for (i,) in conn.execute(sa.select(EVENTS.c.id).where(
            EVENTS.c.conversation_id == conversation_id, EVENTS.c.type_name == kind).order_by(EVENTS.c.id))]


def marks(site: Site, event_id: int) -> List[str]:
    with site.db.connect() as conn:
        return [m for (m,) in conn.execute(sa.select(MARKS.c.marked_by).where(MARKS.c.event_id == event_id))]


def inbox_forms(page: str, path: str) -> List[str]:
    return re.findall(rf'<form method="post" action="{re.escape(path)}/inbox" class="inbox">(.*?)</form>', page, re.S)


def add(browser: requests.Session, site: Site, path: str, event_id: object, **extra: str) -> requests.Response:
    data = {"csrf": csrf_of(browser, site), "event_id": str(event_id), **extra}
    return browser.post(site.url(f"{path}/inbox"), data=data, allow_redirects=False)


def test_visitor_turns_have_the_button_emergencies_do_not(site, alice):
    [visitor] = event_ids(site, "c-fallback")
    page = alice.get(site.url("/conversations/c-fallback")).text
    [form] = inbox_forms(page, "/conversations/c-fallback")
    assert f'<input type="hidden" name="event_id" value="{visitor}">' in form
    assert re.search(r'<input type="hidden" name="csrf" value="[^"]+">', form)
    assert '<button type="submit">Add to training inbox</button>' in form
    assert f'id="turn-{visitor}"' in page
    assert page.count("Add to training inbox") == 1, "not on the assistant's turns"
    flagged = alice.get(site.url("/conversations/c-emergency")).text
    assert "Add to training inbox" not in flagged and "/inbox" not in flagged


def test_adding_a_message_is_stored_once_and_audited(site, alice):
    [visitor] = event_ids(site, "c-lowconf")
    answer = add(alice, site, "/conversations/c-lowconf", visitor)
    assert answer.status_code == 200, answer.text[:2000]
    assert "<h1>Added to the training inbox</h1>" in answer.text
    assert f'<a href="/conversations/c-lowconf#turn-{visitor}">Back to the conversation</a>' in answer.text
    assert marks(site, visitor) == ["alice"]
    [entry] = [e for e in audit.entries(site.db, target="c-lowconf") if e.action == "inbox_mark"]
    assert entry.actor == "alice" and entry.detail == f"message {visitor} added to the training inbox"
    again = add(alice, site, "/conversations/c-lowconf", visitor)
    assert again.status_code == 200 and "<h1>Already in the training inbox</h1>" in again.text
    assert marks(site, visitor) == ["alice"]
    assert answer.headers["Cache-Control"] == "no-store" and "Content-Security-Policy" in answer.headers


def test_ids_with_slashes_and_spaces_work(site, alice):
    [visitor] = event_ids(site, "c/slash id")
    page = alice.get(site.url("/conversations/c%2Fslash%20id")).text
    assert inbox_forms(page, "/conversations/c%2Fslash%20id")
    assert add(alice, site, "/conversations/c%2Fslash%20id", visitor).status_code == 200
    assert marks(site, visitor) == ["alice"]


@pytest.mark.parametrize("conversation, event, status, text", [
    ("c-emergency", "emergency", 400, "an emergency message never goes into training"),
    ("c-normal", "other conversation", 404, "This conversation has no such visitor message."),
    ("c-normal", "assistant", 404, "This conversation has no such visitor message."),
    ("c-normal", "abc", 400, "Choose a visitor message of the conversation."),
    ("c-normal", "", 400, "Choose a visitor message of the conversation."),
    ("c-normal", "-1", 400, "Choose a visitor message of the conversation."),
    ("c-normal", str(2**70), 400, "Choose a visitor message of the conversation."),
    ("no-such-conversation", "1", 404, "This conversation has no such visitor message."),
])
def test_what_cannot_be_added(site, alice, conversation, event, status, text):
    event_id: object = {"emergency": lambda: event_ids(site, "c-emergency")[0],
                        "other conversation": lambda: event_ids(site, "c-html")[0],
                        "assistant": lambda: event_ids(site, "c-normal", "bot")[0]}.get(event, lambda: event)()
    answer = add(alice, site, f"/conversations/{conversation}", event_id)
    assert answer.status_code == status and text in answer.text
    if isinstance(event_id, int):
        assert marks(site, event_id) == []


@pytest.mark.parametrize("data", [{"csrf": "wrong"}, {}])
def test_without_the_sessions_csrf_token_nothing_is_added(site, alice, data):
    [visitor] = event_ids(site, "c-toreview")
    answer = alice.post(site.url("/conversations/c-toreview/inbox"), data={**data, "event_id": str(visitor)},
                        allow_redirects=False)
    assert answer.status_code == 403
    other = alice.post(site.url("/conversations/c-toreview/inbox"),
                       data={"csrf": csrf_of(alice, site), "event_id": str(visitor)},
                       headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert other.status_code == 403
    stolen = alice.post(site.url("/conversations/c-toreview/inbox"),
                        data={"csrf": csrf_of(login(site), site), "event_id": str(visitor)}, allow_redirects=False)
    assert stolen.status_code == 403
    assert marks(site, visitor) == []


def test_strangers_are_sent_to_the_login(site):
    [visitor] = event_ids(site, "c-toreview")
    for cookies in ({}, {"staff_session": "forged-token"}):
        answer = requests.post(site.url("/conversations/c-toreview/inbox"), data={"event_id": str(visitor),
                                                                                 "csrf": "x"},
                               cookies=cookies, allow_redirects=False)
        assert answer.status_code == 303 and answer.headers["Location"].startswith("/login")
    assert marks(site, visitor) == []


def test_visitor_words_never_reach_the_log(site, alice):
    [visitor] = event_ids(site, "c-fallback")
    assert add(alice, site, "/conversations/c-fallback", visitor).status_code == 200
    text = site.process.log.read_text(errors="replace")
    assert f"message {visitor} of c-fallback added to the training inbox by alice" in text
    for secret in staff_site.SECRET_TEXTS:
        assert secret not in text
