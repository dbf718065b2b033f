"""The web widget end to end in a real browser: headless Chromium, the page, the widget, Rasa.

Drives Chromium over the DevTools protocol (the `websockets` package Rasa already installs):
opens the page with the chat embedded, waits for the greeting, types an FAQ and an emergency
into the widget and reads the replies from the page.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from typing import Any, Dict, Iterator, List

import pytest
import websockets

from bot import facts
from bot.launch import Process, free_port, web_app

pytestmark = pytest.mark.model
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

TYPE_AND_SEND = """(() => {
  const box = document.querySelector('.rw-new-message');
  if (!box) return false;
  const setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(box), 'value').set;
  setter.call(box, %s);
  box.dispatchEvent(new Event('input', {bubbles: true}));
  document.querySelector('.rw-send').click();
  return true;
})()"""
REPLIES = "JSON.stringify([...document.querySelectorAll('.rw-response')].map(e => e.innerText))"
LINKS = "JSON.stringify([...document.querySelectorAll('.rw-replies a, .rw-message a')].map(a => a.href))"


@pytest.fixture(scope="module")
def web_page(assistant) -> Iterator[str]:
    """The demo page (bot/web) on a free port, pointing its widget at the test's Rasa server."""
    web = Process(web_app(assistant.settings)).start()
    web.wait_healthy(60)
    try:
        yield f"http://127.0.0.1:{assistant.settings.web_port}/?open"
    finally:
        web.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[str]:
    """Headless Chromium with the DevTools protocol on a free port; yields the page's websocket URL."""
    assert CHROMIUM, "chromium is not installed: `make browser` installs it (apt-get install chromium)"
    port = free_port()
    profile = tempfile.mkdtemp(prefix="chromium-test-")
    proc = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                pytest.fail("headless chromium did not start its DevTools endpoint")
            time.sleep(0.3)
        yield pages[0]["webSocketDebuggerUrl"]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


class Page:
    """A minimal DevTools protocol client: navigate and evaluate JavaScript."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.ids = ws, itertools.count(1)
        self.errors: List[str] = []  # console errors and uncaught exceptions, for failure messages

    async def call(self, method: str, **params: Any) -> Dict[str, Any]:
        n = next(self.ids)
        await self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if msg.get("id") == n:
                return msg
            if msg.get("method") == "Runtime.exceptionThrown":
                self.errors.append(json.dumps(msg["params"].get("exceptionDetails", {}))[:500])
            elif msg.get("method") == "Runtime.consoleAPICalled" and msg["params"].get("type") == "error":
                self.errors.append(json.dumps(msg["params"].get("args", []))[:500])

    async def js(self, expression: str) -> Any:
        reply = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return reply.get("result", {}).get("result", {}).get("value")

    async def wait_for(self, expression: str, seconds: float = 30) -> Any:
        deadline = time.time() + seconds
        while time.time() < deadline:
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.25)
        return None

    async def replies(self) -> List[str]:
        return json.loads(await self.js(REPLIES) or "[]")


async def conversation(ws_url: str, url: str) -> Dict[str, Any]:
    f = facts.load()
    async with websockets.connect(ws_url, max_size=2**24) as ws:
        page = Page(ws)
        await page.call("Page.enable")
        await page.call("Runtime.enable")
        await page.call("Page.navigate", url=url)
        greeting = await page.wait_for(f"{REPLIES} !== '[]' && {REPLIES}", 45)
        out: Dict[str, Any] = {"greeting": json.loads(greeting or "[]")}
        if not greeting:
            body = await page.js("document.body.innerHTML.slice(0, 1500)")
            pytest.fail(f"no greeting in the widget; errors: {page.errors}; page: {body}")
        for name, text, expect in (("faq", "do you take insurance?", "insurance"),
                                   ("emergency", "i took all my pills and i cant stay awake", f.emergency_number)):
            before = len(await page.replies())
            assert await page.js(TYPE_AND_SEND % json.dumps(text)), "the widget has no input box"
            await page.wait_for(f"[...document.querySelectorAll('.rw-response')].length > {before} && "
                                f"[...document.querySelectorAll('.rw-response')].slice({before})"
                                f".some(e => e.innerText.toLowerCase().includes({json.dumps(expect.lower())}))", 30)
            out[name] = (await page.replies())[before:]
        out["links"] = json.loads(await page.js(LINKS) or "[]")
        return out


def test_the_widget_greets_answers_and_escalates_in_a_real_browser(web_page, chromium):
    f = facts.load()
    result = asyncio.run(conversation(chromium, web_page))
    assert result["greeting"], "the widget showed no greeting (initPayload) in the browser"
    assert any("insurance" in r.lower() for r in result["faq"]), result
    first = result["emergency"][0] if result["emergency"] else ""
    assert f.emergency_number in first, result
    assert any(f.center_phone in r for r in result["emergency"]), result
    assert any(link.startswith("tel:") for link in result["links"]), result
