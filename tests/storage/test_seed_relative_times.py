"""Seed values relative to the moment the seed loads: ``@now-3h``, ``@today+30d``."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.seed import relative_time

NOW = dt.datetime(2027, 3, 1, 12, 30, 15, 999, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("@now", "2027-03-01T12:30:15+00:00"),
        ("@now-3h", "2027-03-01T09:30:15+00:00"),
        ("@now-6h50m", "2027-03-01T05:40:15+00:00"),
        ("@now-2d+20m", "2027-02-27T12:50:15+00:00"),
        ("@now+1w", "2027-03-08T12:30:15+00:00"),
        ("@today", "2027-03-01"),
        ("@today+30d", "2027-03-31"),
        ("@today-1w", "2027-02-22"),
    ],
)
def test_relative_values_are_instants_and_dates_from_now(value: str, expected: str) -> None:
    assert relative_time(value, NOW) == expected


@pytest.mark.parametrize(
    "value", ["@acc_001", "@user:now@x.dev", "@nowhere", "@now-3", "@now-3y", "now-3h", "@today*2"]
)
def test_other_values_are_not_relative_times(value: str) -> None:
    assert relative_time(value, NOW) is None
