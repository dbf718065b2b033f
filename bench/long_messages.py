"""Cost of the crisis matcher on long hostile messages (many rule anchors in one sentence), before and after.

    python -m bench.long_messages [--chars 4000] [--before 5b93ae6]

Every rule match asks about its sentence (urgent? history? reported speech before it?). Until
``--before``, each match rescanned its whole sentence, so a message repeating danger words
("help help help ...", "seizure fell seizure fell ...") cost time growing with the square of
its length. "Before" is the matcher at commit ``--before`` (read from git, not kept in the tree);
"after" is the current one. Both run on the same messages and must give the same decisions.
The channels cap a message at 4,000 characters (``bot.channels.sanitize.MAX_CHARS``).
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, List

from bench.spelling import matcher_at

#: Repeated to fill a message: anchors of several rules, with and without sentence breaks.
SHAPES = ("help ", "seizure fell ", "can't wake seizure fell ", "gun pills seizure fell help wake ",
          "all at once tonight pills ", "I fell and my seizure was bad. ")


def old_matcher(commit: str) -> Any:
    """A ``CrisisMatcher`` built from bot/crisis/matcher.py at ``commit``, with today's patterns."""
    from bot.crisis.matcher import PATTERNS_PATH

    return matcher_at(commit).CrisisMatcher(PATTERNS_PATH)


def main(argv: List[str] | None = None) -> int:
    """Prints milliseconds per message for each shape, before and after, and whether decisions agree."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chars", type=int, default=4000)
    ap.add_argument("--before", default="5b93ae6")
    args = ap.parse_args(argv)
    from bot.crisis.matcher import CrisisMatcher

    matchers = {"before": old_matcher(args.before), "after": CrisisMatcher()}
    same = True
    print(f"| message ({args.chars} characters) | before ({args.before}) ms | after ms |")
    print("|---|---|---|")
    for shape in SHAPES:
        text = shape * (args.chars // len(shape))
        row, decisions = [], []
        for matcher in matchers.values():
            matcher.assess("warm up")
            t0 = time.perf_counter()
            decisions.append(repr(matcher.assess(text)))
            row.append(f"{(time.perf_counter() - t0) * 1000:.0f}")
        same = same and decisions[0] == decisions[1]
        print(f"| {shape.strip()!r} repeated | {row[0]} | {row[1]} |")
    print(f"same decisions: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
