"""``python -m bot staff``: accounts of the staff site (add, list, disable).

Passwords are never taken from the command line (they would show in ``ps`` and the shell's
history): ``add`` prompts twice, or reads one line from standard input with ``--password-stdin``.
"""
from __future__ import annotations

import argparse
import getpass
import sys
import time
from typing import Any

from bot import settings as settings_module


def register(groups: Any) -> None:
    """Adds the ``staff`` command group."""
    p = groups.add_parser("staff", help="staff site accounts: add, list, disable")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create a staff account (prompts for the password)")
    add.add_argument("name", help="1-64 letters, digits, '.', '_' or '-'")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input (for scripts)")
    add.add_argument("--replace", action="store_true",
                     help="set a new password for an existing account (and enable it again)")
    add.set_defaults(run=run_add)
    listing = sub.add_parser("list", help="list staff accounts")
    listing.set_defaults(run=run_list)
    disable = sub.add_parser("disable", help="disable an account and end its sessions")
    disable.add_argument("name")
    disable.set_defaults(run=run_disable)


def _engine() -> Any:
    from bot.store import create_tables

    return create_tables(settings_module.load().database)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    first = getpass.getpass("Password (12 characters or more): ")
    if getpass.getpass("Same password again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def run_add(args: argparse.Namespace) -> int:
    """Creates (or, with --replace, resets) an account."""
    from bot.store import staff

    try:
        staff.validate_name(args.name)
        password = _read_password(args.password_stdin)
        staff.add_user(_engine(), args.name, password, replace=args.replace)
    except settings_module.SettingsError as e:
        return _fail(f"invalid setting: {e}", 2)
    except (ValueError, EOFError, KeyboardInterrupt) as e:
        return _fail(str(e) or "no password given")
    print(f"Staff user {args.name!r} {'updated' if args.replace else 'added'}.")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Prints the accounts, one a line."""
    from bot.store import staff

    try:
        users = staff.list_users(_engine())
    except settings_module.SettingsError as e:
        return _fail(f"invalid setting: {e}", 2)
    for user in users:
        created = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(user.created_at))
        print(f"{user.name}\t{'disabled' if user.disabled else 'active'}\tcreated {created}")
    print(f"{len(users)} staff user{'s' if len(users) != 1 else ''}.")
    return 0


def run_disable(args: argparse.Namespace) -> int:
    """Disables an account."""
    from bot.store import staff

    try:
        found = staff.disable_user(_engine(), args.name)
    except settings_module.SettingsError as e:
        return _fail(f"invalid setting: {e}", 2)
    if not found:
        return _fail(f"no staff user {args.name!r}")
    print(f"Staff user {args.name!r} disabled; their sessions are ended.")
    return 0
