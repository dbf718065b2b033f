"""The in-process parse bench's arithmetic."""
from __future__ import annotations

import pytest

from bench.parse import context_pairs, latency_figures, percentile, rss_mb


def test_percentile_interpolates_between_ranks():
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile([7.0], 95) == 7.0


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        percentile([], 50)


def test_rss_is_a_positive_number_of_mib():
    assert 1 < rss_mb() < 1024 * 1024


def test_context_pairs_are_short_messages_after_another():
    texts = ["first question here", "short one", "a message of four", "one two three four five", " ",
             "after a blank"]
    assert context_pairs(texts, max_words=4) == [("first question here", "short one"),
                                                 ("short one", "a message of four")]
    assert context_pairs(texts[:1]) == [] and context_pairs([]) == []


def test_latency_figures_are_keyed_by_their_prefix():
    assert latency_figures("context_parse", [1.0, 2.0, 3.0]) == {
        "context_parse_p50_ms": 2.0, "context_parse_p95_ms": 2.9, "context_parse_mean_ms": 2.0}
    with pytest.raises(ValueError):
        latency_figures("parse", [])
