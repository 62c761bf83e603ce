"""The served processes' GIL switch interval (app.switch_interval)."""

import sys

import pytest

from app import switch_interval


@pytest.fixture
def restored():
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, switch_interval.DEFAULT),
        ({"GIL_SWITCH_INTERVAL": ""}, switch_interval.DEFAULT),
        ({"GIL_SWITCH_INTERVAL": "0.002"}, 0.002),
        ({"GIL_SWITCH_INTERVAL": "0.005"}, 0.005),
    ],
)
def test_a_served_process_trades_the_gil_at_the_interval_asked_for(restored, env, expected):
    assert switch_interval.apply(env) == expected
    assert sys.getswitchinterval() == pytest.approx(expected)
