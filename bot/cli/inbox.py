"""``python -m bot inbox``: turn what visitors asked and the assistant missed into training data.

    python -m bot inbox export [--out FILE] [--since DATE|AGE] [--force] [--as NAME]
    python -m bot inbox apply FILE [--dry-run]
    python -m bot inbox mark CONVERSATION_ID --text "exact visitor message" [--as NAME]

``export`` writes the training inbox (:mod:`bot.retrain.inbox`): messages not understood,
answered with low confidence or marked by staff, near-duplicates grouped, redacted, each with
the model's guess as its intent, for an admin to edit (default file: ``inbox-YYYY-MM-DD.yml``,
readable by its owner only; ``-`` for standard output). ``apply`` checks the edited file and
merges it into ``data/nlu`` (:mod:`bot.retrain.inbox_apply`); ``mark`` adds a visitor message
to the inbox, as the staff site's "Add to training inbox" button does. The database is
``DATABASE_URL``; exporting and marking are audited under ``--as NAME`` (default: the OS user).
``--project DIR`` works on another copy of the project (tests do).

Exit codes: 0 done; 1 not found, the database or a file failed; 2 bad input (arguments,
settings, an inbox file that cannot be applied: one line per problem, naming its line).
"""
from __future__ import annotations

import argparse
import getpass
import io
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from bot.cli.common import EXIT_FAILED, EXIT_USAGE, Failure, OneLineParser, database_failure, group_parser  # noqa: F401


def add_project(p: argparse.ArgumentParser) -> None:
    """``--project DIR``: the project's copy to work on."""
    p.add_argument("--project", metavar="DIR", type=Path, default=None,
                   help="the project directory (default: this one)")


def add_actor(p: argparse.ArgumentParser, required: bool = False) -> None:
    """``--as NAME``: who does this, for the audit log or the stamp."""
    p.add_argument("--as", dest="actor", metavar="NAME", required=required,
                   help="who does this" + ("" if required else " (default: the OS user)"))


def actor_name(args: argparse.Namespace) -> str:
    """``--as``, else the OS user."""
    if getattr(args, "actor", None):
        return str(args.actor)
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return f"uid-{os.getuid()}"


def project_of(args: argparse.Namespace) -> Any:
    """The Project of ``--project`` (checked: it must have domain.yml and data/nlu)."""
    from bot.retrain.training_data import Project

    project = Project(args.project.resolve()) if args.project else Project()
    if not project.domain.is_file() or not project.nlu_dir.is_dir():
        raise Failure(f"{project.root} is not a project directory (no domain.yml or data/nlu)", EXIT_USAGE)
    return project


def guarded(body: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Errors as one line each with an exit code, never a traceback."""
    def run(args: argparse.Namespace) -> int:
        import sqlalchemy as sa

        from bot import settings as settings_module
        from bot.retrain.training_data import DataError

        try:
            return body(args)
        except Failure as e:
            for line in str(e).splitlines():
                print(f"error: {line}", file=sys.stderr)
            return e.code
        except settings_module.SettingsError as e:
            print(f"error: invalid setting: {e}", file=sys.stderr)
            return EXIT_USAGE
        except DataError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_USAGE
        except sa.exc.SQLAlchemyError as e:
            print(database_failure(e), file=sys.stderr)
            return EXIT_FAILED
        except OSError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_FAILED
    return run


def register(groups: Any) -> None:
    """Adds the ``inbox`` command group."""
    p = group_parser(groups, "inbox", "the training inbox: export missed questions, apply the labels, mark one",
                     __doc__)
    p.set_defaults(run=_no_command)
    sub = p.add_subparsers(dest="command", parser_class=OneLineParser)

    exp = sub.add_parser("export", help="write the inbox to a YAML file to label")
    exp.add_argument("--out", metavar="FILE", help="where (default inbox-YYYY-MM-DD.yml; - for standard output)")
    exp.add_argument("--since", metavar="DATE|AGE", type=_since,
                     help="only messages since this day (YYYY-MM-DD, UTC) or this long ago (30d, 2w)")
    exp.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    add_actor(exp)
    add_project(exp)
    exp.set_defaults(run=guarded(run_export))

    app = sub.add_parser("apply", help="merge a labelled inbox file into data/nlu")
    app.add_argument("file", type=Path, help="the inbox file, labelled")
    app.add_argument("--dry-run", action="store_true", help="check and report, change nothing")
    add_project(app)
    app.set_defaults(run=guarded(run_apply))

    mark = sub.add_parser("mark", help="add a visitor message of a conversation to the inbox")
    mark.add_argument("conversation_id", metavar="CONVERSATION_ID")
    mark.add_argument("--text", required=True, help="the visitor's message, exactly")
    add_actor(mark)
    mark.set_defaults(run=guarded(run_mark))


def _no_command(args: argparse.Namespace) -> int:
    print("error: python -m bot inbox: name a command: export, apply or mark (--help explains them)", file=sys.stderr)
    return EXIT_USAGE


def _since(text: str) -> float:
    from bot.store.review import parse_age

    raw = text.strip()
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        pass
    try:
        return time.time() - parse_age(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid --since {text!r}: use YYYY-MM-DD or an age such as 30d") from None


def _engine() -> Any:
    from bot import settings as settings_module
    from bot.store import create_tables

    return create_tables(settings_module.load().database)


def crisis_screen() -> Callable[[str], bool]:
    """The crisis rules (``bot/crisis``): True when they read a text as an emergency."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # spaCy's import wakes TensorFlow: no info lines
    try:
        from bot.crisis import shared_matcher

        matcher = shared_matcher()
    except Exception as e:  # noqa: BLE001 - a missing spaCy build, a bad patterns file: one line
        reason = f"{type(e).__name__}: {str(e)[:200]}"
        raise Failure(f"the crisis rules could not be loaded ({reason}): run `make spacy`") from None
    return lambda text: matcher.detect(text) is not None


def _private_file(path: Path, force: bool) -> Any:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise Failure(f"{path} exists (you may be labelling it): choose another --out, or --force") from None
    return open(fd, "w", encoding="utf-8")


def run_export(args: argparse.Namespace) -> int:
    """Writes the inbox file (audited)."""
    from bot.retrain import inbox
    from bot.retrain.training_data import TrainingData, domain_intents, load_yaml, norm, read_held_out

    project = project_of(args)
    target = args.out or time.strftime("inbox-%Y-%m-%d.yml", time.gmtime())
    if target != "-" and Path(target).exists() and not args.force:
        raise Failure(f"{target} exists (you may be labelling it): choose another --out, or --force")
    engine = _engine()
    intents = domain_intents(load_yaml(project.domain))
    known = {norm(e.text) for e in TrainingData.read(project).examples()}
    print("reading the crisis rules and the conversations...", file=sys.stderr)
    buffer = io.StringIO()
    found = inbox.export(engine, buffer, intents, actor_name(args), "stdout" if target == "-" else target,
                         since=args.since, screen=crisis_screen(), known=known,
                         held_out=read_held_out(project.held_out()))
    if target == "-":
        sys.stdout.write(buffer.getvalue())
        sys.stdout.flush()
    else:
        with _private_file(Path(target), args.force) as out:
            out.write(buffer.getvalue())
    left = ", ".join(f"{n} {why}" for why, n in sorted(found.left_out.items()))
    print(f"exported {len(found.groups)} entries ({found.messages} messages) to {target}"
          + (f"; left out: {left}" if left else "")
          + (f"; next: edit each entry's intent, then python -m bot inbox apply {target}" if target != "-" else ""),
          file=sys.stderr)
    return 0


def run_apply(args: argparse.Namespace) -> int:
    """Checks the labelled file and merges it into data/nlu."""
    from bot.retrain.inbox_apply import InboxError, apply, describe, next_steps

    project = project_of(args)
    if not args.file.is_file():
        raise Failure(f"{args.file}: no such file", EXIT_USAGE)
    print("checking the examples against the crisis rules and the training data...", file=sys.stderr)
    try:
        report = apply(args.file, project, screen=crisis_screen(), dry_run=args.dry_run)
    except InboxError as e:
        count = len(e.problems)
        raise Failure("\n".join(e.problems + [f"{args.file}: {count} problem{'s' if count != 1 else ''}; "
                                              f"nothing was changed"]), EXIT_USAGE) from None
    for step in next_steps(report):
        print(step, file=sys.stderr)
    print(("dry run, nothing changed: would have " if args.dry_run else "") + describe(report, project),
          file=sys.stderr)
    return 0


def run_mark(args: argparse.Namespace) -> int:
    """Marks a visitor message for the inbox (audited)."""
    from bot.retrain.inbox import MarkRefused, mark_text

    try:
        added, before = mark_text(_engine(), args.conversation_id, args.text, actor_name(args))
    except KeyError:
        raise Failure(f"conversation {args.conversation_id!r} has no visitor message with exactly this text") from None
    except MarkRefused as e:
        raise Failure(f"not marked: {e}", EXIT_USAGE) from None
    if added:
        print(f"added {len(added)} message{'s' if len(added) != 1 else ''} of {args.conversation_id} to the training "
              f"inbox", file=sys.stderr)
    else:
        print(f"already in the training inbox ({args.conversation_id})", file=sys.stderr)
    return 0
