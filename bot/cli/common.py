"""What the staff and admin commands share: one-line argument errors, failures with an exit code."""
from __future__ import annotations

import argparse
from typing import Any, NoReturn

EXIT_FAILED, EXIT_USAGE = 1, 2


class OneLineParser(argparse.ArgumentParser):
    """An argument error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message}\n")


class Failure(Exception):
    """A command failed: its message (one line, or one per problem) and exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def group_parser(groups: Any, name: str, help_text: str, doc: str | None) -> argparse.ArgumentParser:
    """A command group whose own errors are one line too."""
    p = groups.add_parser(name, help=help_text, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if type(p) is argparse.ArgumentParser:
        p.__class__ = OneLineParser
    return p


def database_failure(error: BaseException) -> str:
    """The one line a command prints when the database fails: the driver's first line, no parameters."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"error: the database failed: {reason[0] if reason else type(error).__name__}"
