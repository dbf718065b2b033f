"""Cost of the crisis matcher's spelling correction per unknown word, before and after rapidfuzz.

    python -m bench.spelling [--words 3000] [--before cae6b12]

"Before" is the hand-written Damerau-Levenshtein loop of the matcher at commit ``--before``
(read from git, not kept in the tree); "after" is the current matcher's ``correct``. Both run
on the same random unknown words, and must give the same corrections.
"""
from __future__ import annotations

import argparse
import importlib.util
import random
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Callable, List

from bench.settings import ROOT


def matcher_at(commit: str) -> ModuleType:
    """bot/crisis/matcher.py as it was at ``commit`` (read from git, imported as ``old_matcher``)."""
    source = subprocess.run(["git", "show", f"{commit}:bot/crisis/matcher.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_matcher.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_matcher", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_matcher"] = module
    spec.loader.exec_module(module)
    return module


def old_distance(commit: str) -> Callable[[str, str, int], int]:
    """``damerau_levenshtein`` from bot/crisis/matcher.py at ``commit``."""
    return matcher_at(commit).damerau_levenshtein


def main(argv: List[str] | None = None) -> int:
    """Prints microseconds per unknown word for both implementations."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--words", type=int, default=3000)
    ap.add_argument("--before", default="cae6b12")
    args = ap.parse_args(argv)
    from bot.crisis import shared_matcher

    matcher = shared_matcher()
    distance = old_distance(args.before)
    rng = random.Random(1)
    words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 11))) for _ in range(args.words)]

    def before(word: str) -> str:
        limit = 1 if len(word) < 8 else 2
        scored = [(distance(word, w, limit), w) for w in matcher.fuzzy_words]
        scored = [s for s in scored if s[0] <= limit]
        return min(scored)[1] if scored else word

    def after(word: str) -> str:
        matcher._correction_cache.clear()  # measure the work, not the cache
        return matcher.correct(word)

    results = {}
    for name, correct in (("before (Python loop)", before), ("after (rapidfuzz)", after)):
        t0 = time.perf_counter()
        results[name] = [correct(w) for w in words]
        print(f"{name}: {(time.perf_counter() - t0) / len(words) * 1e6:.1f} us per unknown word")
    same = results["before (Python loop)"] == results["after (rapidfuzz)"]
    print(f"same corrections: {same} ({len(words)} words, {len(matcher.fuzzy_words)} crisis words)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
