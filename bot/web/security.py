"""HTTP security of the demo page: its Content-Security-Policy and the usual security headers.

* Scripts only from the page's own origin (no inline script, no ``eval``): a ``javascript:``
  link that reached the page could not run. Styles also allow ``'unsafe-inline'``: the widget's
  bundle injects its stylesheets as ``<style>`` elements at run time (webpack's style-loader,
  no nonce support) and sets ``style`` attributes. Images from the page and ``data:`` (the
  widget's icons); connections only to the page and to Rasa's socket.io (the page's host on
  ``PORT``, as the widget computes it); no framing, plugins, ``<base>`` or form posts.
* ``nosniff``, no referrer, no framing, no powerful features, its own browsing context group.
* The widget's files (``/embed.js``, ``/webchat.js``, ``/chat.css``) may be loaded by other sites
  (``Cross-Origin-Resource-Policy: cross-origin``): that is how a site embeds the widget.
* Over https (as the server sees the request), Strict-Transport-Security.
"""
from __future__ import annotations

import re
from typing import Dict, List, Sequence

EMBEDDABLE = ("/embed.js", "/webchat.js", "/chat.css")
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])$")

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def hostname(host_header: str) -> str | None:
    """The host name of a ``Host`` header (without its port), or None if it is not a plain one."""
    host = host_header.strip()
    if host.startswith("["):
        name = host[: host.find("]") + 1]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name if _HOST.match(name) else None


def socket_origins(host_header: str, scheme: str, rasa_port: int) -> List[str]:
    """The origins the widget connects to from a page served as ``host_header``: Rasa's socket.io
    on the same host name at ``rasa_port``, over http(s) (polling) and ws(s) (websocket)."""
    name = hostname(host_header)
    if name is None:
        return []
    secure = scheme in ("https", "wss")
    return [f"{'https' if secure else 'http'}://{name}:{rasa_port}", f"{'wss' if secure else 'ws'}://{name}:{rasa_port}"]


def content_security_policy(connect: Sequence[str]) -> str:
    """The page's policy; ``connect`` lists the origins it may connect to besides its own."""
    return "; ".join([
        "default-src 'none'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
        "font-src 'self' data:", "connect-src " + " ".join(["'self'", *connect]), "base-uri 'none'",
        "form-action 'none'", "frame-ancestors 'none'", "object-src 'none'",
    ])


def headers_for(path: str, host_header: str, scheme: str, rasa_port: int) -> Dict[str, str]:
    """Every security header of a response to ``path``."""
    headers = dict(HEADERS)
    headers["Content-Security-Policy"] = content_security_policy(socket_origins(host_header, scheme, rasa_port))
    headers["Cross-Origin-Resource-Policy"] = "cross-origin" if path in EMBEDDABLE else "same-origin"
    headers["Cache-Control"] = "no-cache"
    if scheme == "https":
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers
