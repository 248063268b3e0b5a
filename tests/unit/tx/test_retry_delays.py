"""RetryPolicy.delays: the waits between attempts, doubling up to max_delay (Backoff's)."""

from __future__ import annotations

import pytest

from zfsyncd.tx.retry import NO_RETRY, RetryPolicy


@pytest.mark.parametrize(
    ("policy", "delays"),
    [
        (RetryPolicy(), [0.5, 1.0]),
        (RetryPolicy(attempts=6, first_delay=1.0, max_delay=8.0), [1.0, 2.0, 4.0, 8.0, 8.0]),
        (RetryPolicy(attempts=3, first_delay=0.0), [0.0, 0.0]),
        (NO_RETRY, []),
        (RetryPolicy(attempts=0), []),
    ],
)
def test_delays(policy: RetryPolicy, delays: list[float]) -> None:
    assert policy.delays() == delays


def test_very_many_attempts_wait_at_most_max_delay() -> None:
    """The doubling stops at Backoff's exponent cap: 2000 attempts overflowed a float."""
    waits = RetryPolicy(attempts=2000, first_delay=0.5, max_delay=8.0).delays()
    assert len(waits) == 1999
    assert waits[-1] == 8.0
