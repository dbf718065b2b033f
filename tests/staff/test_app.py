"""The staff site over real HTTP: ``python -m bot.staff`` started by the launcher on a free port,
a SQLite database seeded with conversations, accounts made with ``python -m bot staff add``.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List
from urllib.parse import unquote

import pytest
import requests
from playwright.sync_api import Browser, sync_playwright

from bot import launch
from bot import settings as settings_module
from bot.settings import ROOT
from bot.store import audit, create_tables, review
from bot.store import staff as staff_store
from bot.store.conversations import Batch, event_row, write_batch
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

PASSWORD = "staff password 1234"
NOW = time.time()
DAY = 86400.0
EMAIL, PHONE = "jane.doe@example.com", "555-123-4567"
SCRIPT = "<script>alert(1)</script>"
# What visitors wrote that must never reach the server's log.
SECRET_TEXTS = ("took all of her pills", "blorp", EMAIL, PHONE)


def _user(t: float, text: str, intent: str = "faq", confidence: float = 0.95, topic: str = "insurance",
          kind: str | None = None) -> dict:
    parse: dict = {"intent": {"name": intent, "confidence": confidence}, "entities": []}
    if intent == "faq":
        parse["response_selector"] = {"faq": {"response": {"intent_response_key": f"faq/{topic}"}}}
    if kind:
        parse["entities"] = [{"entity": "emergency_kind", "value": kind}]
    return {"event": "user", "timestamp": t, "text": text, "parse_data": parse}


def _turn(t: float, text: str, answer: str, reply: str, **user: object) -> List[dict]:
    return [_user(t, text, **user),  # type: ignore[arg-type]
            {"event": "action", "timestamp": t + 1, "name": answer},
            {"event": "bot", "timestamp": t + 1, "text": reply}]


CONVERSATIONS: Dict[str, List[dict]] = {
    "c-emergency": _turn(NOW - 3600, f"my sister took all of her pills, write to me at {EMAIL}", "utter_emergency",
                         "Call 911 now.", intent="emergency", confidence=0.99, kind="overdose"),
    "c-fallback": _turn(NOW - 3500, "blorp zzz qwerty", "utter_default", "Sorry, I did not get that.",
                        intent="nlu_fallback", confidence=0.2),
    "c-lowconf": _turn(NOW - 3400, "maybe coverage thing?", "utter_faq/insurance", "We take most plans.",
                       confidence=0.3),
    "c-normal": _turn(NOW - 10 * DAY, f"Do you take insurance? call me at {PHONE}", "utter_faq/insurance",
                      "We take most plans."),
    "c-reviewed": _turn(NOW - 3300, "what are your hours", "utter_faq/hours", "We are open daily.", topic="hours"),
    "c-toreview": _turn(NOW - 3200, "how long is detox", "utter_faq/duration", "It depends.", topic="duration"),
    "c-delete": _turn(NOW - 3100, "please delete my chat", "utter_faq/privacy", "Sure.", topic="privacy"),
    "c/slash id": _turn(NOW - 3000, "an id with a slash", "utter_faq/hours", "We are open daily.", topic="hours"),
    "c-html": _turn(NOW - 2900, f"hello {SCRIPT}", "utter_faq/hours", "We are open daily.", topic="hours"),
    "c-browser": _turn(NOW - 2800, "reviewed in a browser", "utter_faq/hours", "We are open daily.", topic="hours"),
}
BULK = [f"bulk-{i:02d}" for i in range(55)]  # old, for pagination (more than one page of 50)


def seed(url: str) -> None:
    """Writes the test conversations and one review into the database at ``url``."""
    eng = create_tables(url)
    with eng.begin() as conn:
        for cid, events in CONVERSATIONS.items():
            write_batch(conn, Batch(f"b-{cid}", cid, [event_row(cid, f"b-{cid}", e) for e in events]))
        for i, cid in enumerate(BULK):
            events = _turn(NOW - 40 * DAY + i, f"bulk question {i}", "utter_faq/hours", "We are open.", topic="hours")
            write_batch(conn, Batch(f"b-{cid}", cid, [event_row(cid, f"b-{cid}", e) for e in events]))
    review.mark_reviewed(eng, "c-reviewed", "setup", "seen")


@dataclass
class Site:
    """A running staff site."""

    settings: settings_module.Settings
    process: launch.Process
    env: Dict[str, str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.settings.staff_port}"

    @property
    def db(self):
        return create_tables(self.settings.database)

    def url(self, path: str) -> str:
        return self.base + path

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        """``python -m bot staff ...`` against this site's database."""
        return subprocess.run([sys.executable, "-m", "bot", "staff", *args], input=stdin, capture_output=True,
                              text=True, env=self.env, cwd=ROOT, timeout=60)


def start_site(tmp: Path) -> Site:
    config = settings_module.load({"VAR_DIR": str(tmp), "LOG_DIR": str(tmp), "STAFF_PORT": str(launch.free_port()),
                                   "DATABASE_URL": f"sqlite:///{tmp / 'assistant.db'}"})
    service = launch.staff_site(config)  # python -m bot.staff, as `make run` starts it
    assert service.argv[1:] == ["-m", "bot.staff"]
    process = launch.Process(service).start()
    try:
        process.wait_healthy(60)
    except RuntimeError:
        process.stop()
        raise
    return Site(config, process, service.env)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("staff")
    seed(f"sqlite:///{tmp / 'assistant.db'}")
    running = start_site(tmp)
    try:
        done = running.cli("add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
        assert "added" in done.stdout
        yield running
    finally:
        running.process.stop()


def form_token(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def login(site: Site, name: str = "alice", password: str = PASSWORD) -> requests.Session:
    browser = requests.Session()
    page = browser.get(site.url("/login"))
    done = browser.post(site.url("/login"), data={"csrf": form_token(page.text), "name": name, "password": password,
                                                  "next": "/"}, allow_redirects=False)
    assert done.status_code == 303, done.text[:2000]
    return browser


@pytest.fixture(scope="module")
def alice(site) -> requests.Session:
    return login(site)


def csrf_of(browser: requests.Session, site: Site) -> str:
    return form_token(browser.get(site.url("/")).text)


def listed(browser: requests.Session, site: Site, query: str = "") -> List[str]:
    """The conversation ids of the list page, in order."""
    page = browser.get(site.url("/conversations" + query))
    assert page.status_code == 200, page.text[:2000]
    body = page.text.split("<tbody>", 1)[1] if "<tbody>" in page.text else ""
    return [unquote(i) for i in re.findall(r'<a href="/conversations/([^"/]+)">', body)]


def set_cookies(response: requests.Response) -> List[str]:
    return response.raw.headers.getlist("Set-Cookie")


# --- not signed in ----------------------------------------------------------------------------

def test_health_needs_no_login(site):
    answer = requests.get(site.url("/health"))
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/", "/conversations", "/conversations?flagged=1", "/conversations/c-normal",
                                  "/audit"])
def test_pages_send_strangers_to_the_login(site, path):
    for cookies in ({}, {"staff_session": "forged-token"}):
        answer = requests.get(site.url(path), cookies=cookies, allow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["Location"].startswith("/login")
        assert "c-normal" not in answer.text and "insurance" not in answer.text


@pytest.mark.parametrize("path", ["/export.csv", "/export.jsonl", "/export.csv?flagged=1"])
def test_exports_refuse_strangers_with_401(site, path):
    answer = requests.get(site.url(path), cookies={"staff_session": "forged-token"}, allow_redirects=False)
    assert answer.status_code == 401
    assert EMAIL not in answer.text and "conversation_id" not in answer.text


@pytest.mark.parametrize("path", ["/logout", "/conversations/c-normal/review", "/conversations/c-normal/delete"])
def test_posts_from_strangers_change_nothing(site, path):
    answer = requests.post(site.url(path), data={"confirm": "yes", "note": "x", "csrf": "x"}, allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/login")
    assert review.transcript(site.db, "c-normal").reviews == []


def test_the_login_page_asks_for_name_and_password(site):
    page = requests.get(site.url("/login"))
    assert page.status_code == 200
    assert '<label for="name">' in page.text and '<label for="password">' in page.text
    assert 'type="password"' in page.text
    [cookie] = set_cookies(page)
    assert cookie.startswith("staff_prelogin=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie


# --- signing in -------------------------------------------------------------------------------

def test_a_wrong_password_is_refused(site):
    browser = requests.Session()
    page = browser.get(site.url("/login"))
    answer = browser.post(site.url("/login"), data={"csrf": form_token(page.text), "name": "alice",
                                                    "password": "not the password"}, allow_redirects=False)
    assert answer.status_code == 401 and "Wrong name or password" in answer.text
    assert not any(c.startswith("staff_session=") for c in set_cookies(answer))
    assert browser.get(site.url("/"), allow_redirects=False).status_code == 303


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_a_login_without_the_forms_token_is_refused(site, token):
    browser = requests.Session()
    browser.get(site.url("/login"))
    data = {"name": "alice", "password": PASSWORD}
    if token is not None:
        data["csrf"] = token
    answer = browser.post(site.url("/login"), data=data, allow_redirects=False)
    assert answer.status_code == 403
    assert not any(c.startswith("staff_session=") for c in set_cookies(answer))


def test_a_login_token_is_bound_to_its_browser(site):
    mallory = requests.Session()
    token = form_token(mallory.get(site.url("/login")).text)
    victim = requests.Session()
    victim.get(site.url("/login"))
    answer = victim.post(site.url("/login"), data={"csrf": token, "name": "alice", "password": PASSWORD},
                         allow_redirects=False)
    assert answer.status_code == 403


def test_throttling_after_five_failures(tmp_path):
    throttled = start_site(tmp_path)
    try:
        staff_store.add_user(throttled.db, "bob", PASSWORD)
        browser = requests.Session()
        for _ in range(5):
            page = browser.get(throttled.url("/login"))
            answer = browser.post(throttled.url("/login"), data={"csrf": form_token(page.text), "name": "bob",
                                                                 "password": "wrong password 1"})
            assert answer.status_code == 401
        page = browser.get(throttled.url("/login"))
        answer = browser.post(throttled.url("/login"), data={"csrf": form_token(page.text), "name": "bob",
                                                             "password": PASSWORD}, allow_redirects=False)
        assert answer.status_code == 429
        assert re.search(r"Too many failed attempts, try again in 1[45] minutes", answer.text), answer.text
        assert not any(c.startswith("staff_session=") for c in set_cookies(answer))
        assert browser.get(throttled.url("/"), allow_redirects=False).status_code == 303
    finally:
        throttled.process.stop()


def test_login_sets_a_strict_session_cookie_and_shows_the_overview(site):
    browser = requests.Session()
    page = browser.get(site.url("/login?next=/audit"))
    answer = browser.post(site.url("/login"), data={"csrf": form_token(page.text), "name": "alice",
                                                    "password": PASSWORD, "next": "/audit"}, allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"] == "/audit"
    [session] = [c for c in set_cookies(answer) if c.startswith("staff_session=")]
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert attribute in session
    assert "Secure" not in session, "plain http here"
    assert "Max-Age" not in session and "expires" not in session.lower()
    overview = browser.get(site.url("/"))
    assert overview.status_code == 200
    assert "Signed in as <strong>alice</strong>" in overview.text


def test_login_never_redirects_off_site(site):
    browser = requests.Session()
    page = browser.get(site.url("/login"))
    answer = browser.post(site.url("/login"), data={"csrf": form_token(page.text), "name": "alice",
                                                    "password": PASSWORD, "next": "//evil.example/"},
                          allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"


def test_the_overview_has_charts_and_the_emergency_queue(site, alice):
    page = alice.get(site.url("/")).text
    queue = page.split('id="queue-title"', 1)[1].split("</section>", 1)[0]
    assert "/conversations/c-emergency" in queue and "EMERGENCY: overdose" in queue
    assert "c-normal" not in queue and "c-reviewed" not in queue
    assert EMAIL not in queue and "[email]" in queue, "the queue's previews are redacted"
    assert '<script src="/static/chart.umd.js"' in page and '<script src="/static/charts.js"' in page
    data = json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)
                      .group(1))
    assert len(data["days"]) == 14 and sum(data["emergencies"]) == 1
    assert sum(data["not_understood"]) == 1
    assert "insurance" in data["topics"] and len(data["topic_counts"]) == len(data["topics"])
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs, _ in scripts), "no inline JS"


# --- CSRF -------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [{"note": "no token"}, {"note": "wrong token", "csrf": "wrong"}])
def test_posts_without_the_sessions_csrf_token_are_403(site, alice, data):
    answer = alice.post(site.url("/conversations/c-normal/review"), data=data, allow_redirects=False)
    assert answer.status_code == 403
    answer = alice.post(site.url("/conversations/c-normal/delete"), data={**data, "confirm": "yes"},
                        allow_redirects=False)
    assert answer.status_code == 403
    assert alice.post(site.url("/logout"), data=data, allow_redirects=False).status_code == 403
    assert review.transcript(site.db, "c-normal").reviews == []
    assert alice.get(site.url("/"), allow_redirects=False).status_code == 200, "still signed in"


def test_a_post_from_another_origin_is_403_even_with_the_token(site, alice):
    answer = alice.post(site.url("/conversations/c-normal/review"), data={"csrf": csrf_of(alice, site)},
                        headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert answer.status_code == 403
    assert review.transcript(site.db, "c-normal").reviews == []


def test_a_post_the_browser_calls_cross_site_is_403_even_with_the_token(site, alice):
    answer = alice.post(site.url("/conversations/c-normal/review"), data={"csrf": csrf_of(alice, site)},
                        headers={"Sec-Fetch-Site": "cross-site"}, allow_redirects=False)
    assert answer.status_code == 403
    assert review.transcript(site.db, "c-normal").reviews == []


def test_origin_null_from_our_own_form_is_accepted(site):
    """Browsers send ``Origin: null`` on our form posts (Referrer-Policy: no-referrer)."""
    browser = requests.Session()
    page = browser.get(site.url("/login"))
    answer = browser.post(site.url("/login"), data={"csrf": form_token(page.text), "name": "alice",
                                                    "password": PASSWORD},
                          headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}, allow_redirects=False)
    assert answer.status_code == 303


def test_another_sessions_token_does_not_count(site, alice):
    other = login(site)
    answer = alice.post(site.url("/conversations/c-normal/review"), data={"csrf": csrf_of(other, site)},
                        allow_redirects=False)
    assert answer.status_code == 403


# --- the list ---------------------------------------------------------------------------------

def _day(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def test_each_filter_narrows_the_list(site, alice):
    everything = listed(alice, site, "?page=1")
    assert len(everything) == 50
    assert listed(alice, site, "?flagged=1") == ["c-emergency"]
    assert listed(alice, site, "?fallback=1") == ["c-fallback"]
    assert listed(alice, site, "?low_confidence=1") == ["c-lowconf"]
    assert listed(alice, site, "?q=insurance") == ["c-normal"]
    assert listed(alice, site, "?q=bulk+question+7") == ["bulk-07"]
    recent = set(listed(alice, site, f"?from={_day(NOW - 3 * DAY)}"))
    assert "c-emergency" in recent and "c-normal" not in recent and not recent & set(BULK)
    older = set(listed(alice, site, f"?to={_day(NOW - 5 * DAY)}&page=1"))
    assert "c-normal" in older and "c-emergency" not in older and "c-fallback" not in older
    assert listed(alice, site, f"?from={_day(NOW - 12 * DAY)}&to={_day(NOW - 8 * DAY)}") == ["c-normal"]
    assert "c-reviewed" in listed(alice, site, "?reviewed=yes")
    assert "c-normal" not in listed(alice, site, "?reviewed=yes")
    assert "c-reviewed" not in listed(alice, site, f"?reviewed=no&from={_day(NOW - 3 * DAY)}")
    assert listed(alice, site, "?flagged=1&fallback=1") == []


def test_bad_filter_values_are_reported_not_fatal(site, alice):
    page = alice.get(site.url("/conversations?from=yesterday&page=abc&reviewed=maybe"))
    assert page.status_code == 200 and "use YYYY-MM-DD" in page.text


def test_pages_of_fifty_flagged_first(site, alice):
    first, second = listed(alice, site), listed(alice, site, "?page=2")
    assert first[0] == "c-emergency"
    page = alice.get(site.url("/conversations")).text
    row = page.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert 'class="flagged"' in row and "EMERGENCY: overdose" in row
    assert len(first) == 50 and len(set(first) | set(second)) == len(first) + len(second)
    assert "Next page" in page and "page 1 of 2" in page
    assert listed(alice, site, "?page=3") == []


def test_previews_are_redacted(site, alice):
    page = alice.get(site.url("/conversations?q=insurance")).text
    assert PHONE not in page and "[phone]" in page
    page = alice.get(site.url("/conversations?flagged=1")).text
    assert EMAIL not in page and "[email]" in page


# --- the transcript ---------------------------------------------------------------------------

def test_the_transcript_shows_the_full_text_and_is_audited(site, alice):
    before = len(audit.entries(site.db, target="c-emergency"))
    page = alice.get(site.url("/conversations/c-emergency"))
    assert page.status_code == 200
    assert f"my sister took all of her pills, write to me at {EMAIL}" in page.text
    assert "Call 911 now." in page.text and "utter_emergency" in page.text
    assert "emergency" in page.text and "99%" in page.text, "intent and confidence"
    entries = audit.entries(site.db, target="c-emergency")
    assert len(entries) == before + 1
    assert entries[0].actor == "alice" and entries[0].action == "open_transcript"
    log = alice.get(site.url("/audit?target=c-emergency")).text
    assert "open transcript" in log and "alice" in log


def test_the_transcript_escapes_what_visitors_wrote(site, alice):
    page = alice.get(site.url("/conversations/c-html")).text
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_ids_with_slashes_and_spaces_work(site, alice):
    page = alice.get(site.url("/conversations/c%2Fslash%20id"))
    assert page.status_code == 200 and "an id with a slash" in page.text


def test_an_unknown_conversation_is_404(site, alice):
    assert alice.get(site.url("/conversations/nope")).status_code == 404
    answer = alice.post(site.url("/conversations/nope/review"), data={"csrf": csrf_of(alice, site), "note": "x"},
                        allow_redirects=False)
    assert answer.status_code == 404


def test_a_review_note_is_stored(site, alice):
    answer = alice.post(site.url("/conversations/c-toreview/review"),
                        data={"csrf": csrf_of(alice, site), "note": "called back, all fine"}, allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"] == "/conversations?notice=reviewed"
    [note] = review.transcript(site.db, "c-toreview").reviews
    assert note.reviewed_by == "alice" and note.note == "called back, all fine"
    assert "called back, all fine" in alice.get(site.url("/conversations/c-toreview")).text
    assert "c-toreview" in listed(alice, site, "?reviewed=yes")
    assert any(e.action == "mark_reviewed" and e.actor == "alice" for e in audit.entries(site.db, target="c-toreview"))


def test_delete_needs_the_confirmation_then_deletes(site, alice):
    token = csrf_of(alice, site)
    answer = alice.post(site.url("/conversations/c-delete/delete"), data={"csrf": token}, allow_redirects=False)
    assert answer.status_code == 400 and review.transcript(site.db, "c-delete") is not None
    answer = alice.post(site.url("/conversations/c-delete/delete"), data={"csrf": token, "confirm": "yes"},
                        allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"] == "/conversations?notice=deleted"
    assert review.transcript(site.db, "c-delete") is None
    assert alice.get(site.url("/conversations/c-delete")).status_code == 404
    assert any(e.action == "delete_conversation" and e.actor == "alice"
               for e in audit.entries(site.db, target="c-delete"))


# --- exports ----------------------------------------------------------------------------------

def test_exports_are_redacted_downloads_with_the_filters(site, alice):
    csv_answer = alice.get(site.url("/export.csv?q=insurance"))
    assert csv_answer.status_code == 200 and csv_answer.headers["Content-Type"].startswith("text/csv")
    assert re.match(r'attachment; filename="conversations-\d{8}-\d{6}\.csv"',
                    csv_answer.headers["Content-Disposition"])
    assert csv_answer.text.startswith("conversation_id,")
    assert PHONE not in csv_answer.text and "[phone]" in csv_answer.text
    assert {line.split(",")[0] for line in csv_answer.text.splitlines()[1:]} == {"c-normal"}

    jsonl = alice.get(site.url("/export.jsonl?flagged=1"))
    assert jsonl.status_code == 200 and "attachment" in jsonl.headers["Content-Disposition"]
    records = [json.loads(line) for line in jsonl.text.splitlines()]
    assert {r["conversation_id"] for r in records} == {"c-emergency"}
    assert EMAIL not in jsonl.text and "[email]" in jsonl.text
    assert "Call 911 now." in jsonl.text, "the assistant's words are kept"
    entry = audit.entries(site.db, target="conversations.jsonl")[0]
    assert entry.actor == "alice" and entry.action == "export" and "flagged=1" in entry.detail


def test_the_whole_export_is_not_paged(site, alice):
    lines = alice.get(site.url("/export.jsonl?page=2")).text.splitlines()
    assert len({json.loads(line)["conversation_id"] for line in lines}) > 50


# --- headers and static files -----------------------------------------------------------------

HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def test_security_headers_on_every_response(site, alice):
    answers = [requests.get(site.url(p), allow_redirects=False) for p in ("/login", "/", "/health", "/nowhere",
                                                                          "/static/staff.css", "/export.csv")]
    answers += [alice.get(site.url(p)) for p in ("/", "/conversations", "/conversations/c-normal", "/audit",
                                                 "/export.csv", "/conversations/nope")]
    answers.append(alice.post(site.url("/logout"), data={}, allow_redirects=False))
    for answer in answers:
        for name, value in HEADERS.items():
            assert answer.headers.get(name, "").startswith(value), (answer.url, answer.status_code, name)
    for answer in answers[6:]:
        assert answer.headers["Cache-Control"] == "no-store", answer.url


def test_chart_js_and_our_files_are_served(site):
    for name, kind, needle in (("chart.umd.js", "text/javascript", "Chart.js v4.6.1"),
                               ("charts.js", "text/javascript", "chart-data"), ("staff.css", "text/css", "--danger")):
        answer = requests.get(site.url(f"/static/{name}"))
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(kind), name
        assert needle in answer.text


@pytest.mark.parametrize("path", [
    "/node_modules/chart.js/dist/chart.umd.js", "/node_modules/chart.js/package.json",
    "/static/node_modules/chart.js/dist/chart.umd.js", "/static/../node_modules/chart.js/package.json",
    "/static/..%2Fnode_modules%2Fchart.js%2Fpackage.json", "/static/chart.umd.js.map", "/static/chart.js",
    "/static/chart.umd.min.js", "/package.json", "/static/package-lock.json", "/static/%2e%2e/app.py",
    "/templates/base.html", "/static/../app.py",
])
def test_nothing_else_from_the_package_is_reachable(site, alice, path):
    answer = alice.get(site.url(path), allow_redirects=False)
    assert answer.status_code == 404, path
    assert "Chart.js" not in answer.text and '"version"' not in answer.text


# --- the staff command, sign out, the log -----------------------------------------------------

def test_the_staff_command_adds_lists_and_disables(site):
    bad = site.cli("add", "carol", "--password-stdin", stdin="short\n")
    assert bad.returncode == 1 and "at least 12 characters" in bad.stderr
    bad = site.cli("add", "bad name", "--password-stdin", stdin=PASSWORD + "\n")
    assert bad.returncode == 1 and "letters, digits" in bad.stderr
    assert site.cli("add", "carol", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    again = site.cli("add", "carol", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    carol = login(site, "carol")
    assert carol.get(site.url("/"), allow_redirects=False).status_code == 200
    listing = site.cli("list")
    assert re.search(r"^alice\tactive", listing.stdout, re.M) and re.search(r"^carol\tactive", listing.stdout, re.M)
    assert site.cli("disable", "carol").returncode == 0
    assert re.search(r"^carol\tdisabled", site.cli("list").stdout, re.M)
    assert carol.get(site.url("/"), allow_redirects=False).status_code == 303, "the session ended"
    assert site.cli("disable", "nobody").returncode == 1


def test_sign_out_ends_the_session(site):
    browser = login(site)
    old_cookie = browser.cookies.get("staff_session")
    answer = browser.post(site.url("/logout"), data={"csrf": csrf_of(browser, site)}, allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    assert browser.get(site.url("/"), allow_redirects=False).status_code == 303
    replay = requests.get(site.url("/"), cookies={"staff_session": old_cookie}, allow_redirects=False)
    assert replay.status_code == 303, "the old cookie is dead on the server too"


def test_visitor_words_never_reach_the_log(site, alice):
    alice.get(site.url("/conversations/c-fallback"))
    alice.get(site.url("/export.csv"))
    alice.get(site.url("/conversations?q=blorp"))
    text = site.process.log.read_text(errors="replace")
    assert "staff login: alice" in text
    for secret in SECRET_TEXTS:
        assert secret not in text
    assert PASSWORD not in text


# --- in a real browser ------------------------------------------------------------------------

RECORD_CSP = """window.__csp = []; document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright, launched as tests/web/test_browser.py does
    (``browser`` there; here that name is the requests sessions')."""
    assert CHROMIUM, "chromium is not installed: `make browser` installs it (apt-get install chromium)"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.mark.model  # needs Chromium, which `make model-tests` installs (`make browser`)
def test_a_browser_signs_in_sees_the_charts_reviews_and_signs_out(site, chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.add_init_script(RECORD_CSP)  # in every document, before the page's own scripts
        errors: List[str] = []  # console errors (Chromium logs CSP refusals there too) and uncaught exceptions
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        csp: List[str] = []

        def leave(selector: str, url: str | re.Pattern[str]) -> None:
            """Notes the page's CSP violations, then submits its form with the button and waits for ``url``."""
            csp.extend(page.evaluate("window.__csp"))
            page.click(f"{selector} [type=submit]")
            page.wait_for_url(url)

        login_page = re.compile(r"/login(\?|$)")
        page.goto(site.url("/"))
        page.wait_for_url(login_page)
        page.fill("#name", "alice")
        page.fill("#password", PASSWORD)
        leave('form[action="/login"]', site.url("/"))
        charts = page.wait_for_function(
            "window.Chart && Chart.getChart('chart-days') && Chart.getChart('chart-topics') && "
            "[Chart.getChart('chart-days').data.datasets.length, Chart.getChart('chart-topics').data.labels.length]"
        ).json_value()
        assert charts == [3, len(review.overview(site.db).top_topics)], charts
        csp.extend(page.evaluate("window.__csp"))

        page.goto(site.url("/conversations/c-browser"))
        page.fill("#note", "checked in the browser")
        leave('form[action$="/review"]', site.url("/conversations?notice=reviewed"))
        assert page.inner_text(".notice") == "Marked as reviewed."
        [note] = review.transcript(site.db, "c-browser").reviews
        assert note.reviewed_by == "alice" and note.note == "checked in the browser"

        leave("form.logout", login_page)
        csp.extend(page.evaluate("window.__csp"))
        page.goto(site.url("/audit"))
        page.wait_for_url(login_page)  # signed out: the audit page sends to the login form

        assert csp == [], f"Content-Security-Policy violations: {csp}"
        assert errors == [], errors
    finally:
        context.close()


# --- on PostgreSQL ----------------------------------------------------------------------------

def test_the_site_on_postgresql_and_through_an_outage(postgres, tmp_path):
    import sqlalchemy as sa

    from bot.store import engine as engine_of

    with engine_of(postgres.url).begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    seed(postgres.url)
    staff_store.add_user(create_tables(postgres.url), "dana", PASSWORD)
    config = settings_module.load({"VAR_DIR": str(tmp_path), "LOG_DIR": str(tmp_path),
                                   "STAFF_PORT": str(launch.free_port()), "DATABASE_URL": postgres.url})
    process = launch.Process(launch.staff_site(config)).start()
    try:
        process.wait_healthy(60)
        running = Site(config, process, {})
        dana = login(running, "dana")
        assert listed(dana, running, "?flagged=1") == ["c-emergency"]
        assert EMAIL in dana.get(running.url("/conversations/c-emergency")).text
        postgres.stop()
        try:
            down = dana.get(running.url("/conversations"), allow_redirects=False)
            assert down.status_code == 503 and "Database unavailable" in down.text
            assert down.headers["Content-Security-Policy"].startswith("default-src 'self'")
            assert requests.get(running.url("/health")).status_code == 200
        finally:
            postgres.start()
        assert launch.poll(lambda: dana.get(running.url("/conversations?flagged=1")).status_code == 200, 20)
        assert listed(dana, running, "?flagged=1") == ["c-emergency"], "the session survived the outage"
    finally:
        process.stop()
        engine_of(postgres.url).dispose()


def test_the_password_is_prompted_twice_and_never_taken_from_argv(tmp_path, monkeypatch, capsys):
    from bot.__main__ import main

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'assistant.db'}")
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["staff", "add", "erin"]) == 1
    assert "the two passwords differ" in capsys.readouterr().err
    answers = iter([PASSWORD, PASSWORD])
    assert main(["staff", "add", "erin"]) == 0
    assert staff_store.verify(create_tables(f"sqlite:///{tmp_path / 'assistant.db'}"), "erin", PASSWORD, "k")
    with pytest.raises(SystemExit):
        main(["staff", "add", "frank", "--password", PASSWORD])
