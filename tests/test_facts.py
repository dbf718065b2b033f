"""The center's facts are written down once: in domain.yml's slots."""
from __future__ import annotations

import re
import subprocess

from bot import facts
from bot.settings import ROOT


def test_facts_come_from_the_domain():
    f = facts.load()
    assert f.center_phone_dial.replace("-", "").endswith(f.phone_digits[-10:])
    assert f.emergency_number == "911" and f.crisis_line == "988"


def test_no_other_file_hard_codes_the_phone_line():
    f = facts.load()
    digits = f.phone_digits[-10:]
    pattern = re.compile(r"\D*".join(digits))  # the ten digits in any format
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    offenders = []
    for name in tracked:
        path = ROOT / name
        if name == "domain.yml" or not path.is_file() or path.suffix in {".png", ".gz"}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if pattern.search(text):
            offenders.append(name)
    assert not offenders, f"the phone line is hard-coded in {offenders}; use {{center_phone}} or bot.facts"
