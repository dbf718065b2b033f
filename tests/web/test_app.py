"""The demo page and the widget's files: what is served, with which facts, and under which headers.

Without a model: the web app is started on its own (it needs only ``make web``'s node_modules).
The browser tests (test_browser.py) drive the same page in Chromium against the real servers.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from typing import Dict, Iterator, Tuple

import pytest

from bot import facts
from bot import settings as settings_module
from bot.launch import Process, free_port, web_app
from bot.settings import ROOT
from bot.web.app import OPEN_IN, SCRIPT_CONFIG, STATIC, WIDGET_JS, create_app, render_page, render_script
from bot.web.security import content_security_policy, headers_for, hostname, socket_origins

PAGES = ("/", "/?open", "/privacy", "/embed.js", "/chat.css", "/webchat.js", "/health")


def get(url: str, headers: Dict[str, str] | None = None) -> Tuple[int, Dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (our own server)
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Tuple[str, int]]:
    """The web app alone on free ports: (its base URL, the Rasa port its page points at)."""
    rasa_port = free_port()
    config = settings_module.load({"PORT": str(rasa_port), "WEB_PORT": str(free_port()),
                                   "LOG_DIR": str(ROOT / "results" / "logs"),
                                   "VAR_DIR": str(tmp_path_factory.mktemp("var"))})
    web = Process(web_app(config)).start()
    try:
        web.wait_healthy(60)
        yield f"http://127.0.0.1:{config.web_port}", rasa_port
    finally:
        web.stop()


# ------------------------------------------------------------------ the page and the script


def test_page_loads_the_embed_script_and_shows_the_numbers():
    page = render_page(5123)
    f = facts.load()
    assert "__" not in page
    assert f.emergency_number in page and f.crisis_line in page
    assert re.search(r'<script src="/embed\.js" defer\b', page), page
    assert 'data-open-in=""' in page and "<script>" not in page, "no inline script: the CSP forbids it"
    assert f'data-open-in="{OPEN_IN}"' in render_page(5123, open_in=OPEN_IN)
    assert f'id="{OPEN_IN[1:]}"' in page


def test_the_script_gets_rasas_port_and_the_banners_facts():
    script = render_script(5123)
    f = facts.load()
    assert SCRIPT_CONFIG not in script and SCRIPT_CONFIG in (STATIC / "embed.js").read_text(encoding="utf-8")
    config = json.loads(re.search(r"var SERVER = (\{.*?\});", script).group(1))
    assert config == {"rasaPort": 5123, "emergencyNumber": f.emergency_number, "crisisLine": f.crisis_line,
                      "centerName": f.center_name, "centerPhone": f.center_phone, "centerDial": f.center_phone_dial,
                      "retentionDays": f.retention_days}
    assert 'initPayload: "hello"' in script and "WebChat.default" in script


def test_the_script_is_valid_javascript(tmp_path):
    node = shutil.which("node")
    assert node, "node is needed (npm installs the widget)"
    path = tmp_path / "embed.js"
    path.write_text(render_script(5123), encoding="utf-8")
    result = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_static_files_hard_code_no_number():
    """The numbers come from domain.yml through render_page and render_script, never the files."""
    f = facts.load()
    for name in ("embed.js", "chat.css", "index.html"):
        text = (STATIC / name).read_text(encoding="utf-8")
        assert f.emergency_number not in text and f.crisis_line not in text, name


def test_page_links_a_privacy_notice_that_states_the_facts():
    f = facts.load()
    page = render_page(5123)
    assert 'href="/privacy"' in page and f"for {f.retention_days} days" in page
    privacy = render_page(5123, "privacy.html")
    assert "__" not in privacy
    for fact in ("stored", "read only by the center's staff", f"kept for {f.retention_days} days",
                 "deleted sooner", f.center_phone, "share no more than you need", f.emergency_number):
        assert fact in privacy


def test_app_serves_named_files_only():
    assert WIDGET_JS.exists(), "make web installs rasa-webchat"
    app = create_app(5005, name="benzo_faq_web_routes")
    paths = {route.path.strip("/") for route in app.router.routes}
    assert paths == {"", "privacy", "embed.js", "chat.css", "webchat.js", "health"}, paths


# ------------------------------------------------------------------ headers


def test_the_policy_allows_no_inline_script_and_connects_only_to_rasa():
    csp = dict(d.strip().split(" ", 1) for d in headers_for("/", "localhost:8080", "http", 5005)
               ["Content-Security-Policy"].split(";"))
    assert csp["script-src"] == "'self'"
    assert csp["connect-src"] == "'self' http://localhost:5005 ws://localhost:5005"
    assert csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'none'" and csp["form-action"] == "'none'"
    assert "'unsafe-eval'" not in " ".join(csp.values())


def test_socket_origins_follow_the_pages_host_and_scheme():
    assert socket_origins("127.0.0.1:8080", "http", 5005) == ["http://127.0.0.1:5005", "ws://127.0.0.1:5005"]
    assert socket_origins("chat.example.org", "https", 443) == ["https://chat.example.org:443",
                                                                "wss://chat.example.org:443"]
    assert socket_origins("[::1]:8080", "http", 5005) == ["http://[::1]:5005", "ws://[::1]:5005"]
    for hostile in ("evil.example; script-src *", "a b", "x'y", "", "a:1:2", "host/path"):
        assert socket_origins(hostile, "http", 5005) == [], hostile
        assert hostname(hostile) is None, hostile
    assert content_security_policy([]).count("connect-src 'self';") == 1


def test_embeddable_files_may_be_loaded_by_other_sites_and_https_adds_hsts():
    assert headers_for("/embed.js", "h", "http", 1)["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert headers_for("/", "h", "http", 1)["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers_for("/", "h", "http", 1)
    assert headers_for("/", "h", "https", 1)["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("path", PAGES)
def test_every_response_carries_the_security_headers(site, path):
    base, rasa_port = site
    status, headers, body = get(base + path)
    assert status == 200, (path, status)
    assert headers["content-security-policy"].startswith("default-src 'none'; script-src 'self';")
    assert f"http://127.0.0.1:{rasa_port}" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in headers["permissions-policy"]
    assert body


def test_content_types_and_the_filled_in_script(site):
    base, rasa_port = site
    assert get(base + "/")[1]["content-type"].startswith("text/html")
    assert get(base + "/chat.css")[1]["content-type"].startswith("text/css")
    status, headers, body = get(base + "/embed.js")
    assert headers["content-type"].startswith("application/javascript")
    assert f'"rasaPort": {rasa_port}' in body.decode() and SCRIPT_CONFIG not in body.decode()
    assert b'data-open-in="#webchat"' in get(base + "/?open")[2] and b'data-open-in=""' in get(base + "/")[2]


@pytest.mark.parametrize("path", ["/node_modules/rasa-webchat/package.json", "/static/index.html", "/app.py",
                                  "/../app.py", "/webchat.js/../app.py", "/axe.min.js", "/index.html"])
def test_nothing_else_is_served(site, path):
    status, headers, _ = get(site[0] + path)
    assert status == 404, (path, status)
    assert headers["x-content-type-options"] == "nosniff", "errors carry the headers too"
