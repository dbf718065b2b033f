"""The widget in a real browser: Debian's headless Chromium driven by Playwright for Python.

The page (bot/web) and the real Rasa and action servers (the session's ``assistant``): quick
replies and their follow-ups, a typed question, an emergency (distinct, announced, and the
banner still there after a reload), the keyboard alone, axe-core on the page mid-conversation,
hostile HTML and links (typed by the visitor, and sent by a fake, compromised Rasa), a page
from a foreign origin refused, a 360-pixel phone and 200% zoom. Screenshots go to
results/browser/.
"""
from __future__ import annotations

import asyncio
import json
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import socketio
from aiohttp import web as aioweb
from playwright.sync_api import Browser, sync_playwright
from playwright.sync_api import Page as WebPage

from bot import facts
from bot import settings as settings_module
from bot.channels.socketio import crisis_mark, safe_message
from bot.launch import Process, free_port, web_app
from bot.settings import ROOT

pytestmark = pytest.mark.model

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
AXE = ROOT / "bot" / "web" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "results" / "browser"
SAFE_PROTOCOLS = ("http:", "https:", "tel:", "sms:")
EMERGENCY = "i took all my pills and i cant stay awake"
INSURANCE = "do you take insurance?"
PROGRAM = "how long is the program?"
# after an emergency a short question is still that danger (the carried path): one that says the visitor is safe gets
# the answer, with the reminder
SAFE_PROGRAM = "I'm safe now, my sister is here with me. how long is the program?"
# The CSP blocks the Google Fonts stylesheet that rasa-webchat's CSS imports: expected, and wanted.
KNOWN_CONSOLE_ERROR = re.compile(r"fonts\.googleapis\.com")

BOT_BUBBLES = ".rw-from-response .rw-response"


# ------------------------------------------------------------------ servers and browser


def start_web(rasa_port: int, tmp: Path) -> tuple[Process, str]:
    """The demo page on a free port, its widget pointed at Rasa on ``rasa_port``."""
    config = settings_module.load({"PORT": str(rasa_port), "WEB_PORT": str(free_port()),
                                   "LOG_DIR": str(ROOT / "results" / "logs"), "VAR_DIR": str(tmp)})
    web = Process(web_app(config, name=f"web-{config.web_port}")).start()
    try:
        web.wait_healthy(60)
    except BaseException:
        web.stop()
        raise
    return web, f"http://127.0.0.1:{config.web_port}"


@pytest.fixture(scope="module")
def site(assistant, tmp_path_factory) -> Iterator[str]:
    """The page on the WEB_PORT the assistant allows (its CORS_ORIGINS default)."""
    assert assistant.settings.allowed_origins == (f"http://localhost:{assistant.settings.web_port}",
                                                  f"http://127.0.0.1:{assistant.settings.web_port}")
    config = settings_module.load({"PORT": str(assistant.port), "WEB_PORT": str(assistant.settings.web_port),
                                   "LOG_DIR": str(ROOT / "results" / "logs"),
                                   "VAR_DIR": str(tmp_path_factory.mktemp("web"))})
    web = Process(web_app(config)).start()
    try:
        web.wait_healthy(60)
        yield f"http://127.0.0.1:{config.web_port}"
    finally:
        web.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium (``make browser``), headless, driven by Playwright (no browser download)."""
    assert CHROMIUM, "chromium is not installed: `make browser` installs it (apt-get install chromium)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


class Tab:
    """One browser page with what it logged: console errors, uncaught errors, dialogs, requests."""

    def __init__(self, browser: Browser, **context: Any) -> None:
        self.context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **context})
        self.page: WebPage = self.context.new_page()
        self.errors: List[str] = []
        self.dialogs: List[str] = []
        self.requests: List[str] = []  # answered ones (those the CSP blocks never are)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("dialog", self._dialog)
        self.page.on("response", lambda r: self.requests.append(r.url))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def unexpected_errors(self) -> List[str]:
        return [e for e in self.errors if not KNOWN_CONSOLE_ERROR.search(e)]

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, request) -> Iterator[Tab]:
    """A fresh browser context (its own storage) at the desktop size; a screenshot at the end."""
    opened = Tab(browser)
    try:
        yield opened
    finally:
        try:
            opened.shot(f"end-{request.node.name}")
        finally:
            opened.close()


# ------------------------------------------------------------------ driving the widget


def bot_texts(page: WebPage) -> List[str]:
    return page.eval_on_selector_all(BOT_BUBBLES, "els => els.map(e => e.innerText)")


def open_chat(page: WebPage, url: str) -> None:
    """Opens the page, opens the chat with the launcher and waits for the greeting's quick replies."""
    page.goto(url)
    page.wait_for_selector(".rw-launcher", timeout=45_000)
    page.click(".rw-launcher")
    wait_for_reply(page, 0, "virtual assistant")
    page.wait_for_selector("div.rw-reply", timeout=15_000)


def wait_for_reply(page: WebPage, before: int, expect: str, timeout: float = 30_000) -> List[str]:
    """Waits for a bot message after the first ``before`` ones containing ``expect`` (case-insensitive)."""
    page.wait_for_function(
        """([selector, before, expect]) => [...document.querySelectorAll(selector)].slice(before)
             .some(e => e.innerText.toLowerCase().includes(expect))""",
        arg=[BOT_BUBBLES, before, expect.lower()], timeout=timeout)
    settle(page)
    return bot_texts(page)[before:]


def settle(page: WebPage, quiet_ms: int = 1500, limit_ms: int = 20_000) -> None:
    """Waits until the widget shows no typing indicator and no new message for ``quiet_ms``: the
    rest of a reply (the widget shows a reply's messages one by one)."""
    waited, quiet, last = 0, 0, None
    while waited < limit_ms and quiet < quiet_ms:
        state = page.evaluate("s => [document.querySelectorAll(s).length, "
                              "Boolean(document.querySelector('.rw-typing-indication'))]", BOT_BUBBLES)
        quiet = quiet + 250 if state == last and not state[1] else 0
        last = state
        page.wait_for_timeout(250)
        waited += 250


def ask(page: WebPage, text: str, expect: str) -> List[str]:
    """Types ``text`` in the widget, sends it with Enter; the new bot messages."""
    before = len(bot_texts(page))
    page.fill(".rw-new-message", text)
    page.press(".rw-new-message", "Enter")
    return wait_for_reply(page, before, expect)


def active(page: WebPage) -> Dict[str, Any]:
    """What has the keyboard focus, and whether its focus indicator is visible."""
    return page.evaluate("""() => {
        const el = document.activeElement, style = getComputedStyle(el);
        return {tag: el.tagName, cls: el.className || '', text: (el.innerText || '').trim(),
                label: el.getAttribute('aria-label'), expanded: el.getAttribute('aria-expanded'),
                outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2};
    }""")


def tab_until(page: WebPage, selector: str, key: str = "Tab", limit: int = 25) -> Dict[str, Any]:
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return active(page)
    raise AssertionError(f"{key} never reached {selector}; focus is on {active(page)}")


def unsafe_links(page: WebPage) -> List[str]:
    return page.eval_on_selector_all(
        ".safechat-root a[href]",
        "(els, safe) => els.map(a => a.href).filter(h => !safe.includes(new URL(h).protocol))", list(SAFE_PROTOCOLS))


# ------------------------------------------------------------------ conversation


def test_greeting_quick_reply_and_its_follow_up(site, tab):
    page = tab.page
    open_chat(page, site + "/")
    replies = page.eval_on_selector_all("div.rw-reply", "els => els.map(e => e.innerText)")
    assert "What are common withdrawal symptoms?" in replies, replies
    page.click("div.rw-reply >> text=What are common withdrawal symptoms?")
    answer = wait_for_reply(page, 1, "hand tremors")
    assert any("Source" in t for t in answer), answer
    follow_ups = page.eval_on_selector_all("div.rw-reply", "els => els.map(e => e.innerText)")
    assert "What are the serious symptoms?" in follow_ups, follow_ups
    tab.shot("follow-ups")
    before = len(bot_texts(page))
    page.click("div.rw-reply >> text=What are the serious symptoms?")
    serious = wait_for_reply(page, before, "akathisia")
    assert any("seizures" in t for t in serious), serious
    assert page.eval_on_selector_all(".rw-from-client .rw-client", "els => els.map(e => e.innerText)")[-1] == \
        "What are the serious symptoms?"
    assert not tab.unexpected_errors() and not tab.dialogs, (tab.errors, tab.dialogs)


def test_a_typed_question_is_answered_announced_and_stays_first_party(site, tab, assistant):
    page = tab.page
    open_chat(page, site + "/")
    notice = page.wait_for_selector(".safechat-notice", state="visible", timeout=10_000)
    assert f"for {facts.load().retention_days} days" in notice.inner_text()  # told plainly, in the widget itself
    assert page.get_attribute(".safechat-notice a", "href").endswith("/privacy")
    answer = ask(page, INSURANCE, "PPO")
    assert any("PPO" in t for t in answer), answer
    assert "PPO" in page.inner_text(".safechat-live-polite"), "the answer was not put in the live region"
    assert page.inner_text(".safechat-live-polite").count("virtual assistant") <= 1
    assert page.query_selector(".safechat-banner") is None, "no banner before anything is flagged"
    assert page.get_attribute(".safechat-live-polite", "aria-live") == "polite"
    call = page.get_attribute(".rw-replies a.rw-reply", "href")
    assert call == f"tel:{facts.load().center_phone_dial}"
    hosts = {re.sub(r"^\w+://([^/]+).*$", r"\1", u) for u in tab.requests if not u.startswith("data:")}
    assert hosts <= {site.split("//")[1], f"127.0.0.1:{assistant.port}"}, f"third-party requests: {hosts}"
    assert not tab.unexpected_errors(), tab.errors


def test_an_emergency_is_distinct_announced_and_its_banner_stays_after_a_reload(site, tab):
    page, f = tab.page, facts.load()
    open_chat(page, site + "/")
    ask(page, INSURANCE, "PPO")
    emergency = ask(page, EMERGENCY, f.emergency_number)
    first = page.wait_for_selector(".rw-response.crisis-emergency.crisis-start")
    assert first.inner_text().startswith(f"Call {f.emergency_number} now"), "the first part says what to call"
    label = page.evaluate("() => getComputedStyle(document.querySelector('.crisis-start'), '::before').content")
    assert label == '"Emergency"', f"the first part is not labelled as an emergency: {label}"
    assert any(f.center_phone in t for t in emergency), emergency
    normal, urgent = (page.evaluate(
        "s => { const st = getComputedStyle(document.querySelector(s)); "
        "return [st.backgroundColor, parseFloat(st.borderLeftWidth)]; }", s)
        for s in (".rw-from-response:first-child .rw-response", ".rw-response.crisis-emergency"))
    assert urgent[0] != normal[0] and urgent[1] >= 4 and normal[1] == 0, (normal, urgent)
    assert page.wait_for_function("() => document.querySelector('.safechat-live-assertive').innerText"
                                  ".includes('Emergency message:')", timeout=5000)
    assert f.emergency_number in page.inner_text(".safechat-live-assertive")
    assert page.get_attribute(".safechat-live-assertive", "role") == "alert"
    check_banner(page)
    page.eval_on_selector(".crisis-start", "e => (e.closest('.rw-group-message').previousElementSibling || e)"
                                           ".scrollIntoView({block: 'start'})")  # the question, then the reply
    tab.shot("emergency")  # docs/widget.png is this picture

    page.reload()
    page.wait_for_selector(".rw-launcher", timeout=45_000)
    if not page.query_selector(".rw-conversation-container"):
        page.click(".rw-launcher")
    check_banner(page)
    assert page.query_selector(".rw-response.crisis-emergency.crisis-start"), "the history lost the emergency"
    assert any("PPO" in t for t in bot_texts(page)), "the history was not kept across the reload"
    assert page.inner_text(".safechat-live-polite") == "", "the restored history must not be read out again"
    later = ask(page, SAFE_PROGRAM, "8-week")
    reminder = page.wait_for_selector(".rw-response.crisis-reminder")
    assert f.emergency_number in reminder.inner_text(), later
    check_banner(page)
    tab.shot("emergency-after-reload")
    assert not tab.unexpected_errors() and not tab.dialogs, (tab.errors, tab.dialogs)


def check_banner(page: WebPage) -> None:
    """The crisis banner: above the messages, visible, with links that dial and text."""
    f = facts.load()
    banner = page.wait_for_selector(".safechat-banner", state="visible", timeout=10_000)
    assert page.evaluate("() => { const b = document.querySelector('.safechat-banner'); "
                         "return b.nextElementSibling === document.querySelector('.rw-messages-container'); }")
    box, messages = banner.bounding_box(), page.query_selector(".rw-messages-container").bounding_box()
    # above the messages (a few pixels of slack: the widget's layout settles after a reload)
    assert box and messages and box["y"] + box["height"] <= messages["y"] + 4, (box, messages)
    viewport = page.viewport_size
    assert 0 <= box["y"] and box["y"] + box["height"] <= viewport["height"], "the banner is out of view"
    hrefs = page.eval_on_selector_all(".safechat-banner a", "els => els.map(a => a.getAttribute('href'))")
    assert hrefs == [f"tel:{f.emergency_number}", f"tel:{f.crisis_line}", f"sms:{f.crisis_line}",
                     f"tel:{f.center_phone_dial}"], hrefs
    text = banner.inner_text()
    assert f.emergency_number in text and f.crisis_line in text and f.center_phone in text, text
    assert page.get_attribute(".safechat-banner", "aria-label")


# ------------------------------------------------------------------ keyboard and screen readers


def test_the_keyboard_alone_opens_the_chat_asks_picks_a_reply_and_closes_it(site, tab):
    page = tab.page
    page.goto(site + "/")
    page.wait_for_selector(".rw-launcher", timeout=45_000)
    launcher = tab_until(page, ".rw-launcher")
    assert launcher["label"] == "Open the chat" and launcher["expanded"] == "false", launcher
    assert launcher["outline"], "no visible focus on the launcher"
    page.keyboard.press("Enter")
    wait_for_reply(page, 0, "virtual assistant")
    focused = active(page)
    assert "rw-new-message" in focused["cls"] and focused["label"] == "Your question", focused
    assert focused["outline"], "no visible focus on the input"
    reply = tab_until(page, "div.rw-reply", key="Shift+Tab")
    assert reply["outline"], f"no visible focus on the quick reply {reply}"
    tab.shot("keyboard-quick-reply")
    page.keyboard.press("Enter")
    page.wait_for_function("""([text, selector]) => {
        const sent = [...document.querySelectorAll('.rw-client')].map(e => e.innerText);
        return sent.includes(text) && document.querySelectorAll(selector).length > 1; }""",
                           arg=[reply["text"], BOT_BUBBLES], timeout=30_000)
    page.wait_for_function("() => document.activeElement.classList.contains('rw-new-message')", timeout=5000)
    page.keyboard.type(PROGRAM)
    page.keyboard.press("Enter")
    wait_for_reply(page, 2, "8-week")
    assert page.get_attribute(".rw-launcher", "aria-expanded") == "true"
    page.keyboard.press("Escape")
    page.wait_for_selector(".rw-conversation-container", state="detached", timeout=5000)
    page.wait_for_function("() => document.activeElement.classList.contains('rw-launcher')", timeout=5000)
    closed = active(page)
    assert closed["label"] == "Open the chat" and closed["expanded"] == "false" and closed["outline"], closed
    assert not tab.unexpected_errors(), tab.errors


def test_the_widget_names_its_parts_for_screen_readers(site, tab):
    page = tab.page
    open_chat(page, site + "/")
    labels = page.evaluate("""() => Object.fromEntries([
        ['launcher', '.rw-launcher'], ['messages', '.rw-messages-container'], ['input', '.rw-new-message'],
        ['send', '.rw-send'], ['replies', '.rw-replies'], ['fullscreen', '.rw-toggle-fullscreen-button']
      ].map(([k, s]) => [k, document.querySelector(s) && document.querySelector(s).getAttribute('aria-label')]))""")
    assert all(labels.values()), labels
    assert page.get_attribute(".rw-messages-container", "role") == "region"
    assert page.get_attribute(".rw-messages-container", "tabindex") == "0", "the conversation scrolls by keyboard"
    roles = page.eval_on_selector_all("div.rw-reply", "els => els.map(e => [e.getAttribute('role'), e.tabIndex])")
    assert roles and all(r == ["button", 0] for r in roles), roles


@pytest.mark.parametrize("path", ["/", "/?open"], ids=["launcher", "open-in-page"])
def test_axe_finds_no_serious_or_critical_violation_mid_conversation(site, browser, path):
    assert AXE.exists(), "axe-core is a devDependency of bot/web (make web)"
    audit = Tab(browser, bypass_csp=True)  # to inject axe-core; the widget runs as usual
    try:
        page = audit.page
        if path == "/":
            open_chat(page, site + path)
        else:
            page.goto(site + path)
            wait_for_reply(page, 0, "virtual assistant")
        ask(page, INSURANCE, "PPO")
        ask(page, EMERGENCY, facts.load().emergency_number)
        page.wait_for_selector(".safechat-banner")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("""async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
        }""")
        audit.shot(f"axe-{'launcher' if path == '/' else 'open'}")
    finally:
        audit.close()
    (SHOTS / f"axe-{'launcher' if path == '/' else 'open'}.json").write_text(json.dumps(result, indent=1))
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not serious, json.dumps(serious, indent=1)


# ------------------------------------------------------------------ hostile content

VISITOR_PAYLOADS = ['<img src=x onerror="alert(1)">', "[click me](javascript:alert(1))",
                    "<script>alert(2)</script><a href='javascript:alert(3)'>x</a>"]


def test_what_a_visitor_types_stays_text(site, tab):
    page = tab.page
    open_chat(page, site + "/")
    for payload in VISITOR_PAYLOADS:
        before = len(bot_texts(page))
        page.fill(".rw-new-message", payload)
        page.press(".rw-new-message", "Enter")
        page.wait_for_function("([s, n]) => document.querySelectorAll(s).length > n", arg=[BOT_BUBBLES, before],
                               timeout=30_000)
    settle(page)
    shown = page.eval_on_selector_all(".rw-client", "els => els.map(e => e.innerText)")
    assert shown[-len(VISITOR_PAYLOADS):] == VISITOR_PAYLOADS, shown
    assert page.query_selector_all(".rw-client a, .rw-client img, .rw-client script") == []
    assert page.query_selector_all(".safechat-root img[src='x']") == []
    assert not unsafe_links(page) and not tab.dialogs, tab.dialogs


HOSTILE_BOT_MESSAGES: List[Dict[str, Any]] = [
    {"text": "m1 [click me](javascript:alert(1))"},
    {"text": "m2 [upper](JAVASCRIPT:alert(1)) and [entity](&#106;avascript:alert(1))"},
    {"text": "m3 [ref link][x]\n\n[x]: javascript:alert(1)"},
    {"text": "m4 <a href=\"javascript:alert(1)\">html link</a> <img src=x onerror=alert(1)>"},
    {"text": "m5 [data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"},
    {"text": "m6 ![pixel](https://evil.example/pixel.png) and [fine](https://example.org/)"},
    {"text": "m7 pick one", "quick_replies": [{"type": "web_url", "title": "bad button", "url": "javascript:alert(1)"},
                                              {"type": "web_url", "title": "call", "url": "tel:911"}]},
]


def hostile_replies() -> List[Dict[str, Any]]:
    """The hostile messages, first as sent (``raw``: the page's own defences must hold), then made
    safe by our channel (``safe``)."""
    return [transform({**message, "text": f"{tag} {message['text']}"})
            for tag, transform in (("raw", lambda m: m), ("safe", safe_message)) for message in HOSTILE_BOT_MESSAGES]


class FakeRasa:
    """A stand-in Rasa: a socket.io server that answers any message with ``replies`` (a compromised
    one, with hostile messages), and can go away."""

    def __init__(self, port: int, replies: List[Dict[str, Any]]) -> None:
        self.port, self.replies = port, replies
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: aioweb.AppRunner | None = None
        self.sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
        self.sids: set = set()

    async def _start(self) -> None:
        sio = self.sio
        app = aioweb.Application()
        sio.attach(app, socketio_path="socket.io")

        @sio.on("connect")
        async def connect(sid: str, environ: Any, auth: Any = None) -> None:
            self.sids.add(sid)

        @sio.on("session_request")
        async def session_request(sid: str, data: Any = None) -> None:
            await sio.emit("session_confirm", "fake-session", room=sid)

        @sio.on("user_uttered")
        async def user_uttered(sid: str, data: Any = None) -> None:
            for message in self.replies:
                await sio.emit("bot_uttered", message, room=sid)

        self.runner = aioweb.AppRunner(app)
        await self.runner.setup()
        await aioweb.TCPSite(self.runner, "127.0.0.1", self.port, shutdown_timeout=2).start()

    async def _stop(self) -> None:
        for sid in list(self.sids):
            await self.sio.disconnect(sid)
        if self.runner is not None:
            await self.runner.cleanup()

    def __enter__(self) -> "FakeRasa":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
            self.runner = None
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def test_hostile_bot_messages_never_give_a_clickable_unsafe_link(browser, tmp_path):
    fake_port = free_port()
    with FakeRasa(fake_port, hostile_replies()):
        web, url = start_web(fake_port, tmp_path)
        hostile = Tab(browser)
        try:
            page = hostile.page
            page.goto(url + "/?open")
            count = 2 * len(HOSTILE_BOT_MESSAGES)
            page.wait_for_function(f"() => document.querySelectorAll({json.dumps(BOT_BUBBLES)}).length >= {count}",
                                   timeout=60_000)
            page.wait_for_timeout(1000)
            assert not unsafe_links(page), unsafe_links(page)
            neutralised = page.eval_on_selector_all("[data-unsafe-link]", "els => els.map(e => e.innerText)")
            assert neutralised, "the raw messages' links should have been found and neutralised"
            for element in page.query_selector_all("[data-unsafe-link]"):
                element.click()
            safe_bubbles = [t for t in bot_texts(page) if t.startswith("safe ")]
            assert len(safe_bubbles) == len(HOSTILE_BOT_MESSAGES), safe_bubbles
            in_safe = page.eval_on_selector_all(
                BOT_BUBBLES, "els => els.filter(e => e.innerText.startsWith('safe '))"
                             ".map(e => [...e.querySelectorAll('a')].map(a => a.getAttribute('href')))")
            links = [h for hrefs in in_safe for h in hrefs]
            assert links == ["https://evil.example/pixel.png", "https://example.org/"], \
                f"our channel's output must form no other link: {in_safe}"
            assert page.eval_on_selector_all(BOT_BUBBLES, "els => els.filter(e => e.innerText.startsWith('safe ') "
                                                          "&& e.querySelector('img')).length") == 0, "an image"
            assert "javascript:alert(1)" in safe_bubbles[0], "escaped markdown still reads as typed"
            assert page.query_selector_all(".safechat-root img[src='x'], .safechat-root script") == []
            page.wait_for_timeout(500)
            assert not hostile.dialogs, hostile.dialogs
            assert not [u for u in hostile.requests if "evil.example" in u], "the CSP must block foreign images"
            hostile.shot("hostile-bot-messages")
        finally:
            hostile.close()
            web.stop()


def test_a_lost_connection_leaves_the_banner_and_the_conversation_in_view(browser, tmp_path):
    f = facts.load()
    port = free_port()
    emergency = safe_message({"text": f"Call {f.emergency_number} now.", "metadata": crisis_mark("emergency", True)})
    with FakeRasa(port, [emergency]) as fake:
        web, url = start_web(port, tmp_path)
        lost = Tab(browser)
        try:
            page = lost.page
            page.goto(url + "/")
            page.wait_for_selector(".rw-launcher", timeout=45_000)
            page.click(".rw-launcher")
            page.wait_for_selector(".rw-response.crisis-emergency", timeout=30_000)
            check_banner(page)
            fake.stop()
            page.wait_for_selector(".rw-loading", state="visible", timeout=60_000)  # "Waiting for server..."
            check_banner(page)
            assert f"Call {f.emergency_number} now." in bot_texts(page)
            lost.shot("connection-lost")
        finally:
            lost.close()
            web.stop()


# ------------------------------------------------------------------ origins


def preflight(url: str, origin: str) -> Dict[str, str]:
    req = urllib.request.Request(url, method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (our own server)
            return {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as e:
        return {k.lower(): v for k, v in e.headers.items()}


def test_rasas_cors_answers_only_the_configured_origins(assistant):
    url = f"http://127.0.0.1:{assistant.port}/webhooks/rest/webhook"
    for origin in assistant.settings.allowed_origins:
        assert preflight(url, origin).get("access-control-allow-origin") == origin, origin
    for origin in ("http://evil.example", f"http://127.0.0.1:{assistant.settings.web_port + 1}", "null"):
        assert "access-control-allow-origin" not in preflight(url, origin), origin


def test_a_page_from_a_foreign_origin_gets_no_widget_and_no_answer(assistant, site, browser, tmp_path):
    web, foreign = start_web(assistant.port, tmp_path)  # another port: not in CORS_ORIGINS
    visitor = Tab(browser)
    try:
        page = visitor.page
        page.goto(foreign + "/")
        page.wait_for_timeout(6000)
        assert not page.is_visible(".rw-launcher"), "the widget connected from a foreign origin"
        assert page.query_selector(BOT_BUBBLES) is None
        post = """async (url) => { try {
                    const r = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                body: JSON.stringify({sender: 'x', message: 'hi'})});
                    return 'status ' + r.status; } catch (e) { return 'refused: ' + e.name; } }"""
        rest = f"http://127.0.0.1:{assistant.port}/webhooks/rest/webhook"
        assert page.evaluate(post, rest).startswith("refused"), "the REST channel answered a foreign origin"
        visitor.shot("foreign-origin")
        page.goto(site + "/")
        assert page.evaluate(post, rest) == "status 200", "the configured origin must be answered"
    finally:
        visitor.close()
        web.stop()


# ------------------------------------------------------------------ small screens


def no_horizontal_scroll(page: WebPage) -> None:
    widths = page.evaluate("""() => [document.documentElement.scrollWidth, window.innerWidth,
        ...[...document.querySelectorAll('.rw-conversation-container, .rw-messages-container, .safechat-banner')]
           .map(e => e.scrollWidth - e.clientWidth)]""")
    assert widths[0] <= widths[1] and all(w <= 1 for w in widths[2:]), widths


def in_view(page: WebPage, selector: str) -> bool:
    box = page.query_selector(selector).bounding_box()
    size = page.viewport_size
    return bool(box) and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] + 1 and \
        box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 1


@pytest.mark.parametrize("name, context", [
    ("phone-360", {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 3, "is_mobile": True,
                   "has_touch": True}),
    ("zoom-200", {"viewport": {"width": 640, "height": 360}, "device_scale_factor": 2}),
])
def test_small_screens_hold_the_whole_conversation(site, browser, name, context):
    small = Tab(browser, **context)
    try:
        page = small.page
        page.goto(site + "/")
        page.wait_for_selector(".rw-launcher", timeout=45_000)
        if context.get("has_touch"):
            page.tap(".rw-launcher")
        else:
            page.click(".rw-launcher")
        wait_for_reply(page, 0, "virtual assistant")
        conversation = page.query_selector(".rw-conversation-container").bounding_box()
        assert conversation["width"] <= context["viewport"]["width"] + 1, conversation
        ask(page, INSURANCE, "PPO")
        ask(page, EMERGENCY, facts.load().emergency_number)
        check_banner(page)
        for selector in (".safechat-banner", ".rw-new-message", ".rw-close-button"):
            assert in_view(page, selector), f"{selector} is out of view at {name}"
        messages = page.query_selector(".rw-messages-container").bounding_box()
        assert messages["height"] >= 80, f"too little room for the messages at {name}: {messages}"
        no_horizontal_scroll(page)
        small.shot(name)
        page.click(".rw-close-button")
        page.wait_for_selector(".rw-conversation-container", state="detached", timeout=5000)
        assert in_view(page, ".rw-launcher")
        assert not small.unexpected_errors(), small.errors
    finally:
        small.close()


def click_reply(page: WebPage, title: str, expect: str) -> List[str]:
    """Clicks the quick reply ``title``; the new bot messages."""
    before = len(bot_texts(page))
    page.click(f"div.rw-reply >> text={title}")
    return wait_for_reply(page, before, expect)


def test_a_callback_request_left_in_the_widget_reaches_the_staff_queue(site, tab, assistant):
    """The whole callback form in the widget, typed and with its quick replies, in well under a minute."""
    from bot.store import callbacks, create_tables

    page = tab.page
    started = time.monotonic()
    open_chat(page, site + "/")
    ask(page, "can someone call me back tomorrow?", "what name should the team ask for")
    ask(page, "Ada Widget", "what phone number")
    ask(page, "555 234 9876", "when is a good time")
    ask(page, "weekday evenings", "e-mail")
    click_reply(page, "Skip", "anything the team should know")
    click_reply(page, "Skip", "about you, or about someone else")
    confirm = click_reply(page, "About me", "shall i send it")
    assert any("not an emergency channel" in t and "nearest emergency room" in t for t in confirm), confirm
    tab.shot("callback-confirm")
    done = click_reply(page, "Send my request", "thank you")
    assert any("(555) 234-9876" in t for t in done), done
    assert time.monotonic() - started < 60
    requests = [c for c in callbacks.listing(create_tables(assistant.settings.database)) if c.name == "Ada Widget"]
    assert [(c.phone, c.best_time, c.about, c.status) for c in requests] == [
        ("(555) 234-9876", "weekday evenings", "self", "new")]
    assert not tab.unexpected_errors() and not tab.dialogs, (tab.errors, tab.dialogs)
