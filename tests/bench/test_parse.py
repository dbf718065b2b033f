"""The in-process parse bench's arithmetic."""
from __future__ import annotations

import pytest

from bench.parse import percentile, rss_mb


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
