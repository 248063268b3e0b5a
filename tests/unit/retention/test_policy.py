"""Reading a retention policy (zfsyncd.retention.policy, grid.py): tables of texts and
mappings -> the policy, or the one line that names each problem."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from zfsyncd.ops.snapshot import PREFIX
from zfsyncd.retention import (
    OWN_PREFIX,
    GridError,
    GridInterval,
    PolicyError,
    RetentionPolicy,
    format_grid,
    parse_grid,
    parse_policy,
    parse_policy_text,
)

H, D, W = 3600, 86400, 7 * 86400


@pytest.mark.parametrize(
    ("text", "grid"),
    [
        ("1x1h", (GridInterval(1, H),)),
        (
            "1x1h(keep=all) | 24x1h | 14x1d | 12x30d",
            (
                GridInterval(1, H, None),
                GridInterval(24, H),
                GridInterval(14, D),
                GridInterval(12, 30 * D),
            ),
        ),
        (" 3 x 15m ( keep = 4 ) |2x1w", (GridInterval(3, 900, 4), GridInterval(2, W))),
        ("10x30s|1x1d", (GridInterval(10, 30), GridInterval(1, D))),
        # after intervals that all keep everything, a shorter one is allowed (zrepl's rule)
        ("1x1d(keep=all) | 24x1h", (GridInterval(1, D, None), GridInterval(24, H))),
        ("1X1H", (GridInterval(1, H),)),
    ],
)
def test_grids_read(text: str, grid: tuple[GridInterval, ...]) -> None:
    assert parse_grid(text) == grid
    assert parse_grid(format_grid(grid)) == grid


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "interval 1 of 1 (empty): not of the form COUNTxLENGTH"),
        ("24x1h |", "interval 2 of 2 (empty): not of the form"),
        ("24h", "interval 1 of 1 (24h): not of the form"),
        ("0x1h", "interval 1 of 1 (0x1h): the count must be 1 or more"),
        ("1x0h", "interval 1 of 1 (1x0h): the length must be more than 0"),
        ("1x1", "interval 1 of 1 (1x1): no unit (one of s, m, h, d, w)"),
        ("1x1y", "interval 1 of 1 (1x1y): 'y' is not a unit"),
        ("1x1h(keep=0)", "keep=0: keep is a whole number of 1 or more, or all"),
        ("1x1h(keep=some)", "keep=some: keep is a whole number"),
        ("1x1h(count=1)", "(count=1) is not (keep=N) or (keep=all)"),
        ("-1x1h", "interval 1 of 1 (-1x1h): not of the form"),
        ("24x1d | 2x1h", "interval 2 (2x1h) is shorter than one before it"),
        ("1x1h(keep=all) | 2x1d | 2x1h", "interval 3 (2x1h) is shorter"),
        ("10001x1s", "expands to 10001 intervals, more than 10000"),
        ("1x1h|" * 300, "is limited to 1000 characters"),
    ],
)
def test_grids_refused(text: str, problem: str) -> None:
    with pytest.raises(GridError) as caught:
        parse_grid(text)
    assert problem in str(caught.value)


def test_every_bad_interval_is_named_once() -> None:
    with pytest.raises(GridError) as caught:
        parse_grid("1x1q | 24x1h | 0x1d | 2x1w(x)")
    text = str(caught.value)
    assert text.count("interval ") == 3
    assert "interval 1 of 4 (1x1q)" in text
    assert "interval 3 of 4 (0x1d)" in text
    assert "interval 4 of 4 (2x1w(x))" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hourly = 24, daily = 14", {"hourly": 24, "daily": 14}),
        ('grid = "24x1h | 14x1d"', {"grid": (GridInterval(24, H), GridInterval(14, D))}),
        ("last = 3", {"last": 3}),
        (
            'weekly = 4, monthly = 12, yearly = 2, keep = "^manual-", prefix = ""',
            {"weekly": 4, "monthly": 12, "yearly": 2, "keep": "^manual-", "prefix": ""},
        ),
        (
            'frequently = 4, frequent_period = 15, timezone = "Europe/Berlin"',
            {"frequently": 4, "frequent_period": 15, "timezone": "Europe/Berlin"},
        ),
    ],
)
def test_policies_read(text: str, expected: dict[str, Any]) -> None:
    policy = parse_policy_text(text)
    for key, value in expected.items():
        assert getattr(policy, key) == value
    assert parse_policy_text(policy.text()) == policy  # the one-line form reads back


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "retention: a policy needs a rule: grid, last, or one of frequently"),
        ({"daily": 0}, "retention: a policy needs a rule"),
        ({"daily": -1}, "retention.daily: must be 0 or more"),
        ({"daily": "7"}, "retention.daily: must be a whole number"),
        ({"last": 0}, "retention.last: must be 1 or more"),
        ({"hourly": 1, "dialy": 7}, "retention.dialy: is not a known key"),
        ({"grid": "24x1q"}, "retention.grid: interval 1 of 1 (24x1q): 'q' is not a unit"),
        ({"daily": 1, "keep": "(("}, "retention.keep: not a valid regular expression"),
        ({"daily": 1, "keep": ""}, "retention.keep: must have at least 1 character"),
        ({"daily": 1, "prefix": "a/b"}, "retention.prefix: 'a/b' has characters no snapshot"),
        ({"daily": 1, "timezone": "Mars/Olympus"}, "retention.timezone: 'Mars/Olympus' is not"),
        ({"frequently": 1, "frequent_period": 7}, "7 minutes does not divide a day"),
    ],
)
def test_policies_refused(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_each_problem_is_named_with_its_place() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy({"daily": -1, "grid": "1x1q", "bogus": 1}, "jobs.home.retention")
    text = str(caught.value)
    assert "jobs.home.retention.daily: must be 0 or more" in text
    assert "jobs.home.retention.grid: interval 1 of 1 (1x1q)" in text
    assert "jobs.home.retention.bogus: is not a known key" in text


def test_a_policy_is_a_table_of_a_toml_configuration() -> None:
    """The jobs' configuration embeds the model: a TOML table validates to it."""
    table = tomllib.loads(
        """
        [retention]
        grid = "1x1h(keep=all) | 24x1h | 14x1d | 12x30d"
        daily = 7
        keep = "^manual-"
        """
    )["retention"]
    policy = RetentionPolicy.model_validate(table)
    assert policy.grid is not None
    assert policy.grid[3] == GridInterval(12, 30 * D)
    assert policy.model_dump(mode="json")["grid"] == "1x1h(keep=all) | 24x1h | 14x1d | 12x30d"
    assert RetentionPolicy.model_validate(policy.model_dump(mode="json")) == policy


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("hourly = ", "policy: not of the form key = value"),
        ("hourly = 1 daily = 2", "policy: not of the form key = value"),
        ("x" * 5000, "policy: is limited to 4096 characters"),
    ],
)
def test_bad_policy_text(text: str, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy_text(text)
    assert problem in str(caught.value)


def test_the_default_prefix_is_zfsyncds() -> None:
    assert OWN_PREFIX == PREFIX
    assert RetentionPolicy(daily=1).prefix == PREFIX


@pytest.mark.parametrize(
    "pattern", ["^manual-", "_keep$", r"^(daily|weekly)-\d+$", "^x.*y$", "(?:ab)?c", "x{1,300}"]
)
def test_plain_keep_patterns_pass(pattern: str) -> None:
    assert RetentionPolicy(last=1, keep=pattern).keep == pattern


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("(a+)+$", "a repeated part inside a repeated part"),
        ("(a|aa)*b", "alternatives inside a repeated part"),
        (r"(\w)\1", "a backreference"),
        (".*.*x", "at most 1 unbounded quantifier"),
        ("a?b?c?d?", "3 quantifiers in all"),
        ("(?=a+)b+", "at most 1 unbounded quantifier"),
    ],
)
def test_keep_patterns_that_could_take_too_long_are_refused(pattern: str, problem: str) -> None:
    """The daemon matches the pattern against every snapshot name on its event loop, and a
    caller of the dry run (open to all) may give it: no catastrophic backtracking."""
    with pytest.raises(PolicyError) as caught:
        parse_policy({"last": 1, "keep": pattern})
    assert problem in str(caught.value)
