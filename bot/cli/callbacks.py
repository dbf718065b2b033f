"""``python -m bot callbacks``: the queue of callback requests visitors left in the chat.

    python -m bot callbacks list [--status new] [--limit N] [--format table|json]
    python -m bot callbacks mark ID called|no_answer|done [--note TEXT] [--as NAME]
    python -m bot callbacks export --format csv|jsonl [--out FILE] [--status S]

The database is ``DATABASE_URL`` (``bot.settings``). These are the visitors' contact details:
the output is for staff only (an ``--out`` file is created readable by its owner only), and
marking is audited. Exit codes: 0 done, 1 not found or the database failed, 2 bad arguments.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from bot.store import callbacks


def register(groups: Any) -> None:
    """Adds the ``callbacks`` command group."""
    p = groups.add_parser("callbacks", help="the callback requests queue (list, mark, export)",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="requests, newest first")
    ls.add_argument("--status", choices=callbacks.STATUSES)
    ls.add_argument("--limit", type=_positive)
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.set_defaults(run=_guarded(run_list))
    mark = sub.add_parser("mark", help="set a request's status (and note)")
    mark.add_argument("id")
    mark.add_argument("status", choices=callbacks.STATUSES)
    mark.add_argument("--note")
    mark.add_argument("--as", dest="actor", default=None, help="who (default: the OS user)")
    mark.set_defaults(run=_guarded(run_mark))
    exp = sub.add_parser("export", help="every request as CSV or JSON lines")
    exp.add_argument("--format", choices=("csv", "jsonl"), required=True)
    exp.add_argument("--out", metavar="FILE")
    exp.add_argument("--status", choices=callbacks.STATUSES)
    exp.set_defaults(run=_guarded(run_export))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _engine() -> Any:
    from bot import settings as settings_module
    from bot.store import create_tables

    return create_tables(settings_module.load().database)


def _guarded(fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        from bot import settings as settings_module

        try:
            return int(fn(args))
        except settings_module.SettingsError as e:
            print(f"error: invalid setting: {e}", file=sys.stderr)
            return 2
        except KeyError as e:
            print(f"error: no callback request with id {e.args[0]}", file=sys.stderr)
            return 1
        except Exception as e:  # noqa: BLE001 - the database failed: one line, no traceback
            print(f"error: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}", file=sys.stderr)
            return 1
    return run


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def run_list(args: argparse.Namespace) -> int:
    """Prints the queue."""
    rows = callbacks.listing(_engine(), args.status, args.limit)
    for c in rows:
        if args.format == "json":
            print(json.dumps(c.as_dict()))
        else:
            about = "someone else" if c.about == "someone_else" else "self"
            print(f"{c.id}  {_when(c.created_at)}  [{c.status}]  {c.name}  {c.phone}  best time: {c.best_time}  "
                  f"about: {about}" + (f"  note: {c.note}" if c.note else ""))
    print(f"{len(rows)} callback request{'s' if len(rows) != 1 else ''}", file=sys.stderr)
    return 0


def run_mark(args: argparse.Namespace) -> int:
    """Sets a request's status."""
    actor = args.actor or getpass.getuser()
    callbacks.mark(_engine(), args.id, args.status, actor, args.note)
    print(f"callback request {args.id} marked {args.status}", file=sys.stderr)
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Writes the requests to a file (owner-only) or standard output."""
    eng = _engine()
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            count = callbacks.export(eng, args.format, out, args.status)
    else:
        stream: TextIO = sys.stdout
        count = callbacks.export(eng, args.format, stream, args.status)
    print(f"exported {count} callback request{'s' if count != 1 else ''}", file=sys.stderr)
    return 0
