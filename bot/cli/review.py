"""``python -m bot review``: list, read, mark, export, purge and delete stored conversations.

The database is ``DATABASE_URL`` (``bot.settings``); tables are created if missing. Results go
to standard output, one summary line to standard error. Exit codes: 0 done, 1 not found or the
database failed, 2 bad arguments or settings. Reading a transcript, marking, exporting, purging
and deleting are audited under ``--as NAME`` (default: the OS user).
"""
from __future__ import annotations

import argparse
import csv
import getpass
import json
import os
import sys
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, List, TextIO

from bot.cli.common import Failure, OneLineParser, database_failure

EXIT_NOT_FOUND, EXIT_USAGE = 1, 2


_Parser, _Failure = OneLineParser, Failure  # one-line errors, as in every command group


def register(groups: Any) -> None:
    """Adds the ``review`` command group."""
    p = groups.add_parser("review", help="review stored conversations (list, show, mark, export, purge, delete)",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    if type(p) is argparse.ArgumentParser:
        p.__class__ = _Parser  # its errors (an unknown command) too are one line: _Parser only adds that
    p.set_defaults(run=_no_command)
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    ls = sub.add_parser("list", help="list conversations, flagged ones first")
    _filters(ls)
    ls.add_argument("--format", choices=("table", "json", "csv"), default="table",
                    help="table (default), json (one object per line) or csv")
    ls.set_defaults(run=_command(run_list))

    show = sub.add_parser("show", help="print a conversation's transcript (audited)")
    show.add_argument("id", help="conversation id")
    show.add_argument("--redact", action="store_true", help="hide the visitor's phone numbers, e-mail...")
    _actor(show)
    show.set_defaults(run=_command(run_show))

    mark = sub.add_parser("mark", help="mark a conversation reviewed, with a note")
    mark.add_argument("id", help="conversation id")
    mark.add_argument("--note", required=True, help="what was done (e.g. 'called back, safe')")
    _actor(mark)
    mark.set_defaults(run=_command(run_mark))

    exp = sub.add_parser("export", help="export messages as CSV or JSON lines (redacted unless --no-redact)")
    exp.add_argument("--format", choices=("csv", "jsonl"), required=True)
    exp.add_argument("--out", metavar="FILE", help="write here (created readable by its owner only); default stdout")
    exp.add_argument("--no-redact", dest="redact", action="store_false", help="keep visitors' details")
    _filters(exp)
    _actor(exp)
    exp.set_defaults(run=_command(run_export))

    purge = sub.add_parser("purge", help="delete conversations with no activity for a while (for cron)")
    purge.add_argument("--older-than", metavar="AGE", type=_age,
                       help="e.g. 90d, 12h, 2w (default: RETENTION_DAYS days)")
    _actor(purge)
    purge.set_defaults(run=_command(run_purge))

    delete = sub.add_parser("delete", help="delete one conversation (a visitor's request)")
    delete.add_argument("id", help="conversation id")
    _actor(delete)
    delete.set_defaults(run=_command(run_delete))

    log = sub.add_parser("audit", help="show the audit log, newest first")
    log.add_argument("--limit", type=_positive_int, default=100, help="entries to show (default 100)")
    log.add_argument("--target", help="only entries about this conversation id")
    log.add_argument("--format", choices=("table", "json"), default="table")
    log.set_defaults(run=_command(run_audit))


def _no_command(args: argparse.Namespace) -> int:
    print("error: python -m bot review: name a command: list, show, mark, export, purge, delete or audit "
          "(--help explains them)", file=sys.stderr)
    return EXIT_USAGE


# --- argument types ---------------------------------------------------------------------------

def _date(end_of_day: bool) -> Callable[[str], float]:
    """YYYY-MM-DD (UTC; the whole day for --until) or an ISO datetime (UTC unless it says)."""
    def parse(text: str) -> float:
        raw = text.strip()
        try:
            moment = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid date {text!r}: use YYYY-MM-DD or an ISO datetime") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        if end_of_day and len(raw) == 10:
            return (moment + timedelta(days=1)).timestamp() - 0.001
        return moment.timestamp()
    parse.__name__ = "date"
    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}: use a whole number of at least 1")
    return value


def _age(text: str) -> float:
    from bot.store.review import parse_age

    try:
        return parse_age(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--flagged", action="store_true", help="only emergency-flagged conversations")
    p.add_argument("--fallback", action="store_true", help="only those with a message not understood")
    p.add_argument("--low-confidence", action="store_true", help="only those with a low-confidence message")
    p.add_argument("--since", type=_date(False), metavar="DATE", help="last activity on or after (UTC)")
    p.add_argument("--until", type=_date(True), metavar="DATE", help="started on or before (UTC)")
    p.add_argument("--search", default="", metavar="TEXT", help="any message contains TEXT (any case)")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--unreviewed", dest="reviewed", action="store_false", default=None,
                       help="only those not yet reviewed")
    state.add_argument("--reviewed", dest="reviewed", action="store_true", default=None, help="only reviewed ones")
    p.add_argument("--limit", type=_positive_int, metavar="N", help="at most N conversations")


def _actor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as", dest="actor", metavar="NAME", help="who does this, for the audit log (default: OS user)")


def _filter_of(args: argparse.Namespace) -> Any:
    from bot.store.review import Filter

    return Filter(flagged=args.flagged, fallback=args.fallback, low_confidence=args.low_confidence,
                  since=args.since, until=args.until, search=args.search, reviewed=args.reviewed, limit=args.limit)


def _who(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)
    try:
        return getpass.getuser()
    except Exception:  # no login name (e.g. a container without a passwd entry)
        return f"uid-{os.getuid()}"


def _done(message: str) -> None:
    print(message, file=sys.stderr)


# --- running ----------------------------------------------------------------------------------

def _command(body: Callable[[argparse.Namespace, Any], int]) -> Callable[[argparse.Namespace], int]:
    """Settings, the database, and errors as one line with an exit code, around a command."""
    def run(args: argparse.Namespace) -> int:
        import sqlalchemy as sa

        from bot import settings as settings_module
        from bot.store import create_tables

        try:
            config = settings_module.load()
        except settings_module.SettingsError as e:
            print(f"error: invalid setting: {e}", file=sys.stderr)
            return EXIT_USAGE
        args.retention_days = config.retention_days
        try:
            return body(args, create_tables(config.database))
        except BrokenPipeError:  # the reader stopped early (e.g. `| head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_NOT_FOUND
        except _Failure as e:
            print(f"error: {e}", file=sys.stderr)
            return e.code
        except sa.exc.SQLAlchemyError as e:
            print(database_failure(e), file=sys.stderr)
            return EXIT_NOT_FOUND
        except OSError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_NOT_FOUND
    return run


def _list_record(row: Any) -> dict:
    from bot.store.review import iso

    record = row.as_dict()
    record["started_at"], record["last_at"] = iso(row.started_at), iso(row.last_at)
    return record


def _table(rows: List[Any], out: TextIO) -> None:
    from bot.store.review import iso

    print(f"{'':12} {'ID':36} {'LAST ACTIVITY':20} {'TURNS':>5} {'NOT-UND':>7} {'LOW':>3} "
          f"{'REVIEWED':8}  FIRST MESSAGE", file=out)
    for r in rows:
        mark = f"!! {(r.danger_kind or 'flag').upper()}" if r.flagged else ""
        print(f"{mark:12} {r.id:36} {iso(r.last_at):20} {r.turns:>5} {r.fallbacks:>7} {r.low_confidence:>3} "
              f"{'yes' if r.reviewed else 'no':8}  {r.preview[:60]}", file=out)


def run_list(args: argparse.Namespace, engine: Any) -> int:
    """Prints the matching conversations; a count on stderr."""
    from bot.store.review import ConversationRow, count_conversations, list_conversations, plural

    flt = _filter_of(args)
    rows = list_conversations(engine, flt)
    if args.format == "json":
        for row in rows:
            print(json.dumps(_list_record(row), ensure_ascii=False))
    elif args.format == "csv":
        writer = csv.DictWriter(sys.stdout, [f.name for f in fields(ConversationRow)], lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(_list_record(row))
    else:
        _table(rows, sys.stdout)
    total = count_conversations(engine, flt) if args.limit is not None else len(rows)
    flagged = sum(r.flagged for r in rows)
    shown = f"{len(rows)} of {total} conversations" if total != len(rows) else plural(total, "conversation")
    _done(f"{shown} ({flagged} flagged)" if flagged else shown)
    return 0


def run_show(args: argparse.Namespace, engine: Any) -> int:
    """Prints a transcript (audited)."""
    from bot.store.review import VISITOR, iso, open_transcript, plural

    actor = _who(args)
    t = open_transcript(engine, args.id, actor, redact=args.redact)
    if t is None:
        raise _Failure(f"no conversation {args.id!r}")
    c = t.conversation
    flag = f"FLAGGED ({c.danger_kind or 'emergency'})" if c.flagged else "not flagged"
    print(f"conversation {c.id}: {flag}; started {iso(c.started_at)}, last activity {iso(c.last_at)}; "
          f"{plural(c.turns, 'visitor message')}, {c.fallbacks} not understood, {c.low_confidence} low confidence")
    for turn in t.turns:
        if turn.speaker == VISITOR:
            confidence = f" {turn.confidence:.2f}" if turn.confidence is not None else ""
            about = f"[{turn.intent or '?'}{confidence}]"
        else:
            about = f"[{turn.action or '?'}]"
        lines = (turn.text or "").splitlines() or [""]
        print(f"{iso(turn.time)}  {turn.speaker:9}  {about}")
        for line in lines:
            print(f"    {line}")
    for review in t.reviews:
        print(f"reviewed {iso(review.reviewed_at)} by {review.reviewed_by}: {review.note}")
    if not t.reviews:
        print("not reviewed yet")
    _done(f"{plural(len(t.turns), 'message')}{' (redacted)' if args.redact else ''}; opened as {actor} (audited)")
    return 0


def run_mark(args: argparse.Namespace, engine: Any) -> int:
    """Adds a review note."""
    from bot.store.review import mark_reviewed

    actor = _who(args)
    try:
        mark_reviewed(engine, args.id, actor, args.note)
    except KeyError:
        raise _Failure(f"no conversation {args.id!r}") from None
    _done(f"marked {args.id} reviewed by {actor}")
    return 0


def _private_file(path: str) -> TextIO:
    """A file for the export, readable by its owner only (it holds conversations)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
    return open(fd, "w", encoding="utf-8", newline="")


def run_export(args: argparse.Namespace, engine: Any) -> int:
    """Writes the messages of the matching conversations (audited)."""
    from bot.store import audit
    from bot.store.review import export, plural

    flt = _filter_of(args)
    how = "redacted" if args.redact else "NOT redacted"
    with engine.begin() as conn:  # audited before any data leaves, completed after
        entry = audit.record(conn, _who(args), "export", args.out or "stdout", f"{args.format}, {how}, started")
    if args.out:
        with _private_file(args.out) as out:
            written = export(engine, flt, args.format, out, redact=args.redact)
    else:
        written = export(engine, flt, args.format, sys.stdout, redact=args.redact)
        sys.stdout.flush()
    with engine.begin() as conn:
        audit.amend(conn, entry, f"{args.format}, {how}, {plural(written, 'message')}")
    _done(f"exported {plural(written, 'message')} ({how}) to {args.out or 'stdout'}")
    return 0


def run_purge(args: argparse.Namespace, engine: Any) -> int:
    """Deletes old conversations; one line, exit 0 (for cron)."""
    from bot.store.review import describe_age, plural, purge

    age = args.older_than if args.older_than is not None else args.retention_days * 86400.0
    deleted = purge(engine, age, _who(args))
    _done(f"deleted {plural(deleted, 'conversation')} older than {describe_age(age)}")
    return 0


def run_delete(args: argparse.Namespace, engine: Any) -> int:
    """Deletes one conversation with everything about it."""
    from bot.store.review import delete_conversation

    if not delete_conversation(engine, args.id, _who(args)):
        raise _Failure(f"no conversation {args.id!r}")
    _done(f"deleted conversation {args.id} (events, reviews, alerts)")
    return 0


def run_audit(args: argparse.Namespace, engine: Any) -> int:
    """Prints the audit log, newest first."""
    from bot.store import audit
    from bot.store.review import iso

    entries = audit.entries(engine, limit=args.limit, target=args.target)
    for e in entries:
        if args.format == "json":
            print(json.dumps({**e.as_dict(), "at": iso(e.at)}, ensure_ascii=False))
        else:
            print(f"{iso(e.at)}  {e.actor:16} {e.action:20} {e.target:36} {e.detail}")
    _done(f"{len(entries)} audit {'entry' if len(entries) == 1 else 'entries'}")
    return 0
