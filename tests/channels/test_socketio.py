"""The socket.io channel sends dialable phone buttons, crisis marks and only safe markdown to the web widget."""
from __future__ import annotations

import asyncio

import pytest
import yaml

from bot import names
from bot.channels.socketio import SafeSocketIOInput, SafeSocketIOOutput, safe_message, widget_button
from bot.settings import ROOT
from tests.channels.test_markdown import unsafe_constructs


def test_tel_payloads_become_link_buttons():
    link = {"type": "web_url", "title": "Call", "url": "tel:911"}
    assert widget_button({"title": "Call", "payload": "tel:911"}) == link
    assert widget_button({"title": "Q", "payload": "What is it?"})["payload"] == "What is it?"


class FakeSio:
    def __init__(self):
        self.sent = []

    async def emit(self, event, data, room=None):
        self.sent.append((event, data, room))


def test_buttons_go_on_the_last_paragraph():
    sio = FakeSio()
    out = SafeSocketIOOutput(sio, "bot_uttered")
    asyncio.run(out.send_text_with_buttons("r1", "one\n\ntwo", [{"title": "Call", "payload": "tel:911"}]))
    assert [d["text"] for _, d, _ in sio.sent] == ["one", "two"]
    assert sio.sent[-1][1]["quick_replies"][0]["url"] == "tel:911"
    assert "quick_replies" not in sio.sent[0][1]


def test_channel_keeps_rasas_name():
    assert SafeSocketIOInput.name() == "socketio"


# ------------------------------------------------------------------ crisis marks and safe messages

EMERGENCY_BUTTONS = [{"title": "Call 911", "payload": "tel:911"}, {"title": "Text 988", "payload": "sms:988"}]


def sent_by(response):
    """The messages the output emits for one of Rasa's response dicts (as Rasa's processor passes it)."""
    sio = FakeSio()
    asyncio.run(SafeSocketIOOutput(sio, "bot_uttered").send_response("r1", dict(response)))
    assert all(event == "bot_uttered" and room == "r1" for event, _, room in sio.sent)
    return [data for _, data, _ in sio.sent]


def test_an_emergency_reply_goes_line_by_line_each_marked_and_the_first_starts_it():
    sent = sent_by({"text": "Call 911 now.\nStay with them.\n\nCall us later.", "buttons": EMERGENCY_BUTTONS,
                    "utter_action": names.EMERGENCY_RESPONSE, "template_name": names.EMERGENCY_RESPONSE})
    assert [m["text"] for m in sent] == ["Call 911 now.", "Stay with them.", "Call us later."]
    assert all(m["metadata"]["crisis"] == "emergency" for m in sent)
    classes = [m["metadata"]["customCss"]["css"].split() for m in sent]
    assert all({"crisis-message", "crisis-emergency"} <= set(c) for c in classes)
    assert "crisis-start" in classes[0] and not any("crisis-start" in c for c in classes[1:])
    assert all(m["metadata"]["customCss"]["style"] == "class" for m in sent)
    assert [q["url"] for q in sent[-1]["quick_replies"]] == ["tel:911", "sms:988"]
    assert "utter_action" not in sent[0] and "template_name" not in sent[0]


def test_the_crisis_reminder_without_buttons_is_marked_as_a_reminder():
    sent = sent_by({"text": "If you are still in danger, call 911.", "utter_action": names.CRISIS_REMINDER_RESPONSE})
    assert sent == [{"text": "If you are still in danger, call 911.",
                     "metadata": {"crisis": "reminder",
                                  "customCss": {"style": "class",
                                                "css": "crisis-message crisis-reminder crisis-start"}}}]


@pytest.mark.parametrize("action", ["utter_faq/common_symptoms", "utter_greet", None, 3])
def test_other_replies_carry_no_metadata(action):
    sent = sent_by({"text": "An answer:\n- a list\nSource: a page\n\nMore.",
                    "buttons": [{"title": "Q", "payload": "A question?"}], "utter_action": action})
    assert [m["text"] for m in sent] == ["An answer:\n- a list\n\nSource: a page", "More."]
    assert all(set(m) <= {"text", "quick_replies"} for m in sent), sent
    assert sent[-1]["quick_replies"] == [{"content_type": "text", "title": "Q", "payload": "A question?"}]


def test_crisis_responses_are_responses_of_the_domain():
    responses = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
    assert names.EMERGENCY_RESPONSE in responses and names.CRISIS_REMINDER_RESPONSE in responses


@pytest.mark.parametrize("text", ["[click](javascript:alert(1))", "[x](JAVASCRIPT:alert(1))",
                                  "<a href=\"javascript:alert(1)\">x</a>", "[r][1]\n\n[1]: javascript:alert(1)",
                                  "<javascript:alert(1)>", "[e](&#106;avascript:alert(1))",
                                  "[d](data:text/html;base64,PHNjcmlwdD4=)", "![i](https://evil.example/p.png)"])
def test_a_bot_message_never_carries_an_unsafe_link(text):
    sent = sent_by({"text": text})
    assert sent and all(unsafe_constructs(m["text"]) == [] for m in sent), sent


def test_link_buttons_to_unsafe_addresses_are_dropped_and_safe_ones_kept():
    message = safe_message({"text": "t", "quick_replies": [
        {"type": "web_url", "title": "bad", "url": "javascript:alert(1)"},
        {"type": "web_url", "title": "bad2", "url": " javascript:alert(1)"},
        {"type": "web_url", "title": "call", "url": "tel:911"},
        {"type": "web_url", "title": "site", "url": "https://example.org/"},
        {"content_type": "text", "title": "Q", "payload": "A question?", "onclick": "x"}]})
    assert [q["title"] for q in message["quick_replies"]] == ["call", "site", "Q"]
    assert "onclick" not in message["quick_replies"][2]


def test_only_the_channels_own_metadata_reaches_the_widget():
    """rasa-webchat acts on metadata: page callbacks, link targets, hiding the input, opening the chat."""
    hostile = {"linkTarget": "_top", "userInput": "hide", "forceOpen": True, "domHighlight": {"selector": "body"},
               "pageEventCallbacks": {"pageEvents": [{"event": "click", "payload": "/x", "selector": "a"}]},
               "customCss": {"style": "custom", "css": "display:none"}}
    assert "metadata" not in safe_message({"text": "t", "metadata": hostile})
    mixed = safe_message({"text": "t", "metadata": {"crisis": "emergency", **hostile}})
    assert mixed["metadata"] == {"crisis": "emergency",
                                 "customCss": {"style": "class", "css": "crisis-message crisis-emergency"}}


def test_custom_json_cannot_choose_its_recipient_and_is_made_safe():
    sio = FakeSio()
    out = SafeSocketIOOutput(sio, "bot_uttered")
    asyncio.run(out.send_custom_json("r1", {"data": {"text": "[x](javascript:alert(1))"}, "room": "someone-else"}))
    asyncio.run(out.send_custom_json("r1", {"room": "someone-else", "text": "hi"}))
    assert [room for _, _, room in sio.sent] == ["r1", "r1"]
    assert unsafe_constructs(sio.sent[0][1]["text"]) == [] and sio.sent[1][1] == {"text": "hi"}


def test_images_only_from_http_addresses():
    assert safe_message({"attachment": {"type": "image", "payload": {"src": "javascript:alert(1)"}}}) == {}
    assert safe_message({"attachment": {"type": "video", "payload": {"src": "https://x.example/v"}}}) == {}
    good = {"attachment": {"type": "image", "payload": {"src": "https://x.example/i.png"}}}
    assert safe_message(good) == good
