"""Open-loop arrival offsets: rate, bounds and splitting over processes."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.loadtest.schedule import arrival_offsets


def test_constant_rate_is_evenly_spaced_and_bounded_by_duration():
    offsets = list(arrival_offsets(100, "constant", duration_s=2.0))
    assert len(offsets) == 200
    assert np.allclose(np.diff(offsets), 0.01)


def test_poisson_rate_is_right_on_average_with_exponential_gaps():
    offsets = np.array(list(arrival_offsets(1000, "poisson", duration_s=20.0, seed=3)))
    assert len(offsets) == pytest.approx(20_000, rel=0.03)
    gaps = np.diff(offsets)
    assert gaps.mean() == pytest.approx(0.001, rel=0.03)
    assert gaps.std() == pytest.approx(gaps.mean(), rel=0.05)  # exponential: std == mean


def test_count_bounds_the_schedule():
    assert len(list(arrival_offsets(50, "poisson", count=7))) == 7
    assert len(list(arrival_offsets(50, "constant", duration_s=100, count=7))) == 7


def test_constant_split_over_processes_interleaves_back_to_the_full_comb():
    parts = [list(arrival_offsets(300, "constant", duration_s=1.0, share=(k, 3))) for k in range(3)]
    union = np.sort(np.concatenate(parts))
    assert np.allclose(union, np.arange(300) / 300)


def test_poisson_split_over_processes_adds_up_to_the_total_rate():
    parts = [list(arrival_offsets(900, "poisson", duration_s=10.0, seed=1, share=(k, 3))) for k in range(3)]
    assert sum(map(len, parts)) == pytest.approx(9000, rel=0.04)
    assert parts[0][:5] != parts[1][:5]  # independent streams


@pytest.mark.parametrize("kwargs", [{"rate": 0, "duration_s": 1}, {"rate": 10}, {"rate": 10, "duration_s": 1, "share": (3, 3)}])
def test_bad_schedules_are_refused(kwargs):
    with pytest.raises(ValueError):
        list(arrival_offsets(**kwargs))
