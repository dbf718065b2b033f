"""Bot messages reach the widget's markdown with links only to http, https, tel and sms addresses."""
from __future__ import annotations

import re
from typing import List

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.channels.markdown import close_lists, safe_markdown, safe_url
from bot.settings import ROOT

SAFE_LINK = re.compile(r"\[([^\[\]\n]+)\]\(([^\s()<>\\]+)\)")
HOSTILE = [
    "[click](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x]( javascript:alert(1) )",
    "[x](<javascript:alert(1)>)", "[x](java\nscript:alert(1))", "[x](javascript&colon;alert(1))",
    "[e](&#106;avascript:alert(1))", "&#91;x&#93;(javascript:alert(1))", "[d](data:text/html,<script>x</script>)",
    "[v](vbscript:msgbox(1))", "[f](file:///etc/passwd)", "[r][1]\n\n[1]: javascript:alert(1)",
    "[r]\n\n[r]: javascript:alert(1)", "<javascript:alert(1)>", "<a href=\"javascript:alert(1)\">x</a>",
    "<img src=x onerror=alert(1)>", "![i](https://evil.example/pixel.png)", "![i](javascript:alert(1))",
    "\\[x\\](javascript:alert(1))", "\\\\[x\\\\](javascript:alert(1))", "[[x]](javascript:alert(1))",
    "[a](https://ok.example) ![b](https://evil.example/p.png)", "![[a](https://ok.example)",
    "[x](https://ok.example\\) [y](javascript:alert(1))", "mailto:someone@example.org", "MAILTO:x@y.z",
    "[^1]\n\n[^1]: javascript:alert(1)",
]


def unsafe_constructs(markdown: str) -> List[str]:
    """Whatever in ``markdown`` could open a link, image, HTML or reference other than a safe
    inline link: unescaped ``[`` not starting one, ``<``, ``&``, ``!`` before ``[``, a bare mailto."""
    found, i = [], 0
    while i < len(markdown):
        c = markdown[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            m = SAFE_LINK.match(markdown, i)
            if m and safe_url(m.group(2)) and not unsafe_constructs(m.group(1)):
                i = m.end()
                continue
            found.append(markdown[i:i + 40])
        elif c in "<&" or (c == "!" and markdown[i + 1:i + 2] == "["):
            found.append(markdown[i:i + 40])
        elif markdown[i:i + 7].lower() == "mailto:":
            found.append(markdown[i:i + 40])
        i += 1
    return found


def shown(markdown: str) -> str:
    """The characters a reader sees where there is no link: backslash escapes removed."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_links_are_escaped_and_still_read_as_typed(text):
    safe = safe_markdown(text)
    assert unsafe_constructs(safe) == [], safe
    if "https://ok.example" not in text:
        assert shown(safe) == text


@pytest.mark.parametrize("link", ["[Call us](tel:+1-800-555-0100)", "[Text 988](sms:988)",
                                  "[our page](https://example.org/a_b?c=d#e)", "[page](http://example.org)"])
def test_safe_links_are_kept_as_they_are(link):
    assert safe_markdown(f"See {link}.") == f"See {link}."


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "vbscript:x", " https://x", "https:",
                                 "//evil.example", "tel", "", "https://x y", "jav\tascript:x", "file:///etc"])
def test_unsafe_or_odd_urls(url):
    assert not safe_url(url) or url == "https:"


def test_every_response_of_the_domain_reads_the_same():
    responses = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
    for name, variations in responses.items():
        for variation in variations:
            text = variation.get("text", "")
            assert shown(safe_markdown(text)) == text, name


TOKENS = list("[]()<>!&\\:; \nxjavscript/hp.tel") + ["javascript:", "https://a", "tel:1", "mailto:"]


@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_any_text_is_made_safe_and_reads_the_same_outside_links(text):
    safe = safe_markdown(text)
    assert unsafe_constructs(safe) == [], (text, safe)
    if not SAFE_LINK.search(safe):
        assert shown(safe) == text


def test_a_line_after_a_list_is_not_run_into_its_last_item():
    text = "Symptoms include:\n- tremors\n- sweating\nThe list is not complete.\nSource: a page"
    assert close_lists(text) == "Symptoms include:\n- tremors\n- sweating\n\nThe list is not complete.\nSource: a page"
    assert close_lists("no list\nhere") == "no list\nhere"
    assert close_lists("- a\n- b") == "- a\n- b"
