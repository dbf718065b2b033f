"""``python -m bot answers``: who approved each answer's text, and when (``data/approvals.yml``).

    python -m bot answers list                       every answer: approved (by whom, when) or pending
    python -m bot answers pending                    only those nobody approved in their current text
    python -m bot answers approve NAME... --as WHO   stamp these answers' current text as approved
    python -m bot answers approve --all --as WHO     stamp every pending answer (none may be empty)

NAME is a response (``utter_faq/insurance``, ``utter_emergency``) or an FAQ topic
(``insurance``). Retraining refuses to promote a model while an answer is pending
(:mod:`bot.retrain.approvals`). ``--project DIR`` works on another copy of the project.
Exit codes: 0 done; 1 a file could not be read or written; 2 bad input (an unknown answer,
an empty answer, a missing ``--as``).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.cli.inbox import (
    EXIT_FAILED,
    EXIT_USAGE,
    Failure,
    OneLineParser,
    add_actor,
    add_project,
    group_parser,
    project_of,
)


def register(groups: Any) -> None:
    """Adds the ``answers`` command group."""
    p = group_parser(groups, "answers", "who approved each answer's text (list, pending, approve)", __doc__)
    p.set_defaults(run=_no_command)
    sub = p.add_subparsers(dest="command", parser_class=OneLineParser)
    ls = sub.add_parser("list", help="every answer and its stamp")
    add_project(ls)
    ls.set_defaults(run=_guarded(run_list))
    pending = sub.add_parser("pending", help="answers whose current text nobody approved")
    add_project(pending)
    pending.set_defaults(run=_guarded(run_pending))
    approve = sub.add_parser("approve", help="stamp answers as approved by you, today")
    approve.add_argument("names", nargs="*", metavar="NAME", help="utter_faq/<topic>, <topic>, utter_emergency...")
    approve.add_argument("--all", action="store_true", help="every pending answer")
    add_actor(approve, required=True)
    add_project(approve)
    approve.set_defaults(run=_guarded(run_approve))


def _no_command(args: argparse.Namespace) -> int:
    print("error: python -m bot answers: name a command: list, pending or approve (--help explains them)",
          file=sys.stderr)
    return EXIT_USAGE


def _guarded(body: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        from bot.retrain.approvals import ApprovalError

        try:
            return int(body(args))
        except Failure as e:
            print(f"error: {e}", file=sys.stderr)
            return e.code
        except ApprovalError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_USAGE
        except OSError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_FAILED
    return run


def _print(statuses: Any) -> None:
    width = max((len(s.name) for s in statuses), default=0)
    for s in statuses:
        print(f"{s.name:{width}}  {'ok' if not s.pending else 'PENDING':7}  {s.reason}")


def run_list(args: argparse.Namespace) -> int:
    """Prints every stamped answer; a count on stderr."""
    from bot.retrain.approvals import status

    project = project_of(args)
    found = status(project.domain, project.approvals)
    _print(found)
    waiting = sum(s.pending for s in found)
    print(f"{len(found)} answers: {len(found) - waiting} approved, {waiting} pending", file=sys.stderr)
    return 0


def run_pending(args: argparse.Namespace) -> int:
    """Prints the pending answers (exit 0 either way); a count on stderr."""
    from bot.retrain.approvals import status

    project = project_of(args)
    waiting = [s for s in status(project.domain, project.approvals) if s.pending]
    _print(waiting)
    print(f"{len(waiting)} answer{'s' if len(waiting) != 1 else ''} pending"
          + (": approve with python -m bot answers approve NAME --as YOUR_NAME" if waiting else ""), file=sys.stderr)
    return 0


def run_approve(args: argparse.Namespace) -> int:
    """Stamps answers; one line saying which."""
    from bot.retrain.approvals import EMPTY, approve, status

    project = project_of(args)
    if bool(args.names) == bool(args.all):
        raise Failure("name the answers to approve, or --all (not both)", EXIT_USAGE)
    names = list(args.names)
    if args.all:
        found = [s for s in status(project.domain, project.approvals) if s.pending]
        empty = [s.name for s in found if s.state == EMPTY]
        if empty:
            raise Failure(f"{', '.join(empty)} ha{'ve' if len(empty) > 1 else 's'} no answer text yet: write "
                          f"{'them' if len(empty) > 1 else 'it'} in domain.yml first", EXIT_USAGE)
        names = [s.name for s in found]
        if not names:
            print("nothing to approve: every answer is approved", file=sys.stderr)
            return 0
    done = approve(names, args.actor, project.domain, project.approvals)
    shown = ", ".join(done) if len(done) <= 5 else ", ".join(done[:5]) + f" and {len(done) - 5} more"
    print(f"approved {len(done)} answer{'s' if len(done) != 1 else ''} as {' '.join(args.actor.split())}: {shown}",
          file=sys.stderr)
    return 0
