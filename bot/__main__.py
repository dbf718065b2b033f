"""Staff and admin commands: ``python -m bot <command> ...`` (``python -m bot --help``)."""
from __future__ import annotations

import argparse
import sys
from typing import List

from bot.cli import answers, callbacks, cluster, crisis, inbox, retrain, review, run, staff


def main(argv: List[str] | None = None) -> int:
    """Dispatches to one module per command group."""
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    groups = parser.add_subparsers(dest="group", required=True)
    answers.register(groups)
    callbacks.register(groups)
    cluster.register(groups)
    crisis.register(groups)
    inbox.register(groups)
    retrain.register(groups)
    review.register(groups)
    run.register(groups)
    staff.register(groups)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
