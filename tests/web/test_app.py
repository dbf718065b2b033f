"""The demo page points the widget at Rasa and shows the emergency numbers from the domain."""
from __future__ import annotations

from bot import facts
from bot.web.app import WIDGET_JS, create_app, render_page


def test_page_has_the_rasa_port_and_the_numbers():
    page = render_page(5123)
    f = facts.load()
    assert '"5123"' in page and "__" not in page
    assert f.emergency_number in page and f.crisis_line in page
    assert "WebChat.default" in page and 'initPayload: "hello"' in page


def test_app_serves_the_installed_widget():
    assert WIDGET_JS.exists(), "make web installs rasa-webchat"
    app = create_app(5005)
    paths = {route.path.strip("/") for route in app.router.routes}
    assert {"", "webchat.js", "health", "privacy"} <= paths


def test_page_links_a_privacy_notice_that_states_the_facts():
    f = facts.load()
    page = render_page(5123)
    assert 'href="/privacy"' in page and f"for {f.retention_days} days" in page
    privacy = render_page(5123, "privacy.html")
    assert "__" not in privacy
    for fact in ("stored", "read only by the center's staff", f"kept for {f.retention_days} days",
                 "deleted sooner", f.center_phone, "share no more than you need", f.emergency_number):
        assert fact in privacy
