"""``python -m bot crisis``: try the crisis patterns on messages (for admins extending them)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(groups: Any) -> None:
    """Adds the ``crisis`` command group."""
    p = groups.add_parser("crisis", help="try the crisis patterns (bot/crisis/patterns.yml)")
    sub = p.add_subparsers(dest="command", required=True)
    explain = sub.add_parser("explain", help="show every rule that matches a message and why it counts or not")
    explain.add_argument("text", nargs="?", help="the message (default: read standard input)")
    explain.set_defaults(run=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    """Prints the detection and each raw match; exits 0 if it escalates, 1 if not."""
    from bot.crisis import shared_matcher

    text = args.text if args.text is not None else sys.stdin.read()
    matcher = shared_matcher()
    detection = matcher.detect(text)
    for match in matcher.explain(text):
        print(json.dumps(match, ensure_ascii=False))
    if detection:
        print(f"ESCALATES: kind={detection.kind} rule={detection.rule}")
        return 0
    print("does not escalate (the trained emergency intent may still do so)")
    return 1
