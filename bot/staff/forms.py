"""The conversation filter form: query string in, :class:`bot.store.review.Filter` and links out.

The same query string filters the list (``/conversations``) and the exports
(``/export.csv``, ``/export.jsonl``). Dates are whole days (``YYYY-MM-DD``, UTC, as the
overview's days); "to" includes its day.
"""
from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping
from urllib.parse import urlencode

PAGE_SIZE = 50
MAX_SEARCH = 200
REVIEWED_CHOICES = ("", "yes", "no")
DAY_S = 86400.0


def day_start(text: str) -> float | None:
    """The UTC timestamp of the start of day ``YYYY-MM-DD``; None if it is not such a date."""
    try:
        parsed = time.strptime(text, "%Y-%m-%d")
    except ValueError:
        return None
    return float(calendar.timegm(parsed))


def when(timestamp: float | None) -> str:
    """A timestamp as staff read it: ``2024-05-01 14:03:22 UTC``."""
    if timestamp is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


@dataclass
class FilterForm:
    """What the filter form says, validated; ``errors`` lists what was ignored and why."""

    flagged: bool = False
    fallback: bool = False
    low_confidence: bool = False
    date_from: str = ""
    date_to: str = ""
    q: str = ""
    reviewed: str = ""
    page: int = 1
    errors: List[str] = field(default_factory=list)

    def params(self, **changes: Any) -> Dict[str, str]:
        """The non-default fields as query parameters (``changes`` applied first)."""
        form = replace(self, **changes) if changes else self
        out: Dict[str, str] = {}
        for name in ("flagged", "fallback", "low_confidence"):
            if getattr(form, name):
                out[name] = "1"
        for name, value in (("from", form.date_from), ("to", form.date_to), ("q", form.q),
                            ("reviewed", form.reviewed)):
            if value:
                out[name] = value
        if form.page > 1:
            out["page"] = str(form.page)
        return out

    def query(self, **changes: Any) -> str:
        """``params`` as a query string (``""`` when empty, else starting with ``?``)."""
        params = self.params(**changes)
        return "?" + urlencode(params) if params else ""

    def to_filter(self, paged: bool = True) -> Any:
        """The review library's Filter (one page of it if ``paged``)."""
        from bot.store.review import Filter

        since = day_start(self.date_from) if self.date_from else None
        until_day = day_start(self.date_to) if self.date_to else None
        reviewed = {"yes": True, "no": False}.get(self.reviewed)
        return Filter(flagged=self.flagged, fallback=self.fallback, low_confidence=self.low_confidence,
                      since=since, until=until_day + DAY_S if until_day is not None else None,
                      search=self.q, reviewed=reviewed,
                      limit=PAGE_SIZE if paged else None, offset=(self.page - 1) * PAGE_SIZE if paged else 0)


def _flag(args: Mapping[str, Any], name: str) -> bool:
    return str(args.get(name) or "").lower() in ("1", "on", "yes", "true")


def parse(args: Mapping[str, Any]) -> FilterForm:
    """A FilterForm from query arguments (``request.args``: ``get`` returns the first value)."""
    form = FilterForm(flagged=_flag(args, "flagged"), fallback=_flag(args, "fallback"),
                      low_confidence=_flag(args, "low_confidence"))
    for name, attr in (("from", "date_from"), ("to", "date_to")):
        value = str(args.get(name) or "").strip()
        if value and day_start(value) is None:
            form.errors.append(f"'{name}' date {value!r} ignored: use YYYY-MM-DD")
        elif value:
            setattr(form, attr, value)
    if form.date_from and form.date_to and form.date_from > form.date_to:
        form.errors.append("the 'from' date is after the 'to' date: nothing can match")
    form.q = " ".join(str(args.get("q") or "").split())[:MAX_SEARCH]
    reviewed = str(args.get("reviewed") or "")
    form.reviewed = reviewed if reviewed in REVIEWED_CHOICES else ""
    try:
        form.page = max(1, min(int(str(args.get("page") or "1")), 100_000))
    except ValueError:
        form.page = 1
    return form


def pages(total: int) -> int:
    """How many pages ``total`` rows make (at least one)."""
    return max(1, -(-total // PAGE_SIZE))
