"""A retention policy: which snapshots it applies to, and the rules that keep them.

A pydantic model usable as a table of the TOML configuration (a job's `retention`), and as
the text of one line (`zfsyncctl prune --policy`, the `zfsync:retention` user property):
the same keys as an inline TOML table's body.

    [jobs.home.retention]
    grid = "1x1h(keep=all) | 24x1h | 14x1d | 12x30d"   # zrepl's grid (grid.py)
    hourly = 24                                         # sanoid's counts (periods.py)
    daily = 14
    last = 3                                            # the 3 newest, whatever their age
    prefix = "zfsync_"                                  # the snapshots it applies to
    keep = "^manual-"                                   # never destroyed by it

    zfsyncctl prune tank/home --policy 'grid = "24x1h | 14x1d", keep = "^manual-"'

A snapshot is kept when any rule keeps it (grid, last, each count); the policy applies only
to snapshots whose name begins with `prefix` (zfsyncd's own by default: DESIGN.md's "it never
touches snapshots without its prefix unless told to"; another prefix, or "" for all, is that
telling), and never to one whose name `keep` finds (re.search on the part after the @).
"""

from __future__ import annotations

import importlib
import re
import tomllib
from collections.abc import Mapping
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from zfsyncd.invalid import problems
from zfsyncd.retention.grid import GridInterval, format_grid, parse_grid
from zfsyncd.retention.periods import SANOID_SECONDS, CountRule, Period

#: zfsyncd's snapshots' prefix (zfsyncd/ops/snapshot.py's PREFIX; retention/ sits below
#: ops/ and repeats it, a test holds the two equal)
OWN_PREFIX = "zfsync_"
#: characters of the keep regex: it comes from a configuration or a caller
MAX_KEEP_CHARS = 256
#: a count above this is a mistake (a century of hours is 876,600)
MAX_COUNT = 1_000_000
#: characters of a policy's one-line text
MAX_POLICY_CHARS = 4096

_PREFIX_CHARS = re.compile(r"[A-Za-z0-9_\-.:]*")


def _grid(value: Any) -> Any:
    return parse_grid(value) if isinstance(value, str) else value


Grid = Annotated[
    tuple[GridInterval, ...],
    BeforeValidator(_grid),
    PlainSerializer(format_grid, return_type=str),
]


#: Python's own regex parser (re._parser: no stubs, no public name), to bound a pattern's cost
re_parser: Any = importlib.import_module("re._parser")
#: quantifiers a keep pattern may have: one unbounded (*, +, {m,n} with n > 1) and a few
#: optional parts at most
MAX_UNBOUNDED, MAX_QUANTIFIERS = 1, 3


def _bounded_cost(pattern: str) -> None:
    """Refuse a pattern Python's backtracking matcher could take exponential or high
    polynomial time on: the daemon matches it against every snapshot name (up to 255
    bytes, thousands of them) on its event loop, and the pattern may come from a caller of
    a read open to all, or from a user property a delegated user can set. So: no
    backreference, no quantifier or alternation inside a repeated part, at most
    MAX_UNBOUNDED unbounded quantifier and MAX_QUANTIFIERS in all (worst case about n^2
    steps a name). Plain prefixes, suffixes and alternatives (`^manual-`, `_keep$`,
    `^(daily|weekly)-\\d+$`) pass."""
    counts = {"unbounded": 0, "all": 0}

    def walk(items: Any, repeated: bool) -> None:
        for op, arg in items:
            name = str(op)
            if name in ("GROUPREF", "GROUPREF_EXISTS"):
                raise ValueError("a backreference is not allowed (it can take exponential time)")
            if name.endswith("REPEAT"):
                _, high, body = arg
                if repeated:
                    raise ValueError("a repeated part inside a repeated part is not allowed")
                counts["all"] += 1
                counts["unbounded"] += high > 1
                walk(body, repeated or high > 1)
            elif name == "BRANCH":
                if repeated:
                    raise ValueError("alternatives inside a repeated part are not allowed")
                for alternative in arg[1]:
                    walk(alternative, repeated)
            elif name == "SUBPATTERN":
                walk(arg[3], repeated)
            elif name in ("ASSERT", "ASSERT_NOT"):
                walk(arg[1], repeated)

    walk(re_parser.parse(pattern), repeated=False)
    if counts["unbounded"] > MAX_UNBOUNDED or counts["all"] > MAX_QUANTIFIERS:
        raise ValueError(
            f"at most {MAX_UNBOUNDED} unbounded quantifier (*, +, {{m,n}}) and "
            f"{MAX_QUANTIFIERS} quantifiers in all (the daemon matches it on every snapshot)"
        )


class PolicyError(ValueError):
    """A policy that cannot be used: the message names each problem, in one line."""


class RetentionPolicy(BaseModel):
    """What a prune keeps. At least one rule (grid, last or a count) is required: a policy
    without one would keep only the newest snapshot, which is never what was meant."""

    #: strict: "7" is not 7 (a TOML file gives numbers as numbers; a quoted one is a mistake)
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    #: zrepl's retention grid
    grid: Grid | None = None
    #: the N newest snapshots the policy applies to
    last: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    #: sanoid's counts: the first snapshot of each of the N newest periods (and of each
    #: period younger than N periods)
    frequently: int = Field(default=0, ge=0, le=MAX_COUNT)
    hourly: int = Field(default=0, ge=0, le=MAX_COUNT)
    daily: int = Field(default=0, ge=0, le=MAX_COUNT)
    weekly: int = Field(default=0, ge=0, le=MAX_COUNT)
    monthly: int = Field(default=0, ge=0, le=MAX_COUNT)
    yearly: int = Field(default=0, ge=0, le=MAX_COUNT)
    #: minutes of `frequently`'s period (sanoid's frequent_period); it divides the day
    frequent_period: int = Field(default=15, ge=1, le=1440)
    #: the zone whose calendar the counts' periods follow (an IANA name)
    timezone: str = "UTC"
    #: the snapshots the policy applies to: those whose name (after the @) begins with it
    prefix: str = Field(default=OWN_PREFIX, max_length=200)
    #: a regex: a snapshot whose name (after the @) it finds is kept, whatever the rules say
    keep: str | None = Field(default=None, min_length=1, max_length=MAX_KEEP_CHARS)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a known time zone (e.g. UTC, Europe/Berlin)"
            ) from None
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX_CHARS.fullmatch(value):
            raise ValueError(f"{value!r} has characters no snapshot name has")
        return value

    @field_validator("keep")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
            _bounded_cost(value)
        return value

    @field_validator("frequent_period")
    @classmethod
    def _divides_day(cls, value: int) -> int:
        if 1440 % value:
            raise ValueError(f"{value} minutes does not divide a day (1440 minutes)")
        return value

    @model_validator(mode="after")
    def _some_rule(self) -> RetentionPolicy:
        if self.grid is None and self.last is None and not self.count_rules():
            raise ValueError(
                "a policy needs a rule: grid, last, or one of frequently, hourly, daily, "
                "weekly, monthly, yearly (without one it would keep only the newest snapshot)"
            )
        return self

    def count_rules(self) -> tuple[CountRule, ...]:
        """sanoid's counts that are set, shortest period first."""
        rules = []
        for period in Period:
            count: int = getattr(self, period.value)
            if count:
                seconds = (
                    self.frequent_period * 60.0
                    if period is Period.FREQUENTLY
                    else SANOID_SECONDS[period]
                )
                rules.append(CountRule(period, count, seconds))
        return tuple(rules)

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def keep_pattern(self) -> re.Pattern[str] | None:
        return None if self.keep is None else re.compile(self.keep)

    def applies_to(self, short_name: str) -> bool:
        """Whether the rules decide a snapshot of this name (after the @)."""
        return short_name.startswith(self.prefix)

    def text(self) -> str:
        """The one-line form parse_policy_text reads back to this policy."""
        fields = self.model_dump(mode="json", exclude_defaults=True)
        return ", ".join(f"{key} = {_toml_value(value)}" for key, value in fields.items())


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def parse_policy(data: Mapping[str, Any], where: str = "retention") -> RetentionPolicy:
    """The policy a mapping (a TOML table) says; PolicyError naming every problem, each as
    `WHERE.KEY: problem`, in one line."""
    try:
        return _BY_PLACE.validate_python({where: data})[where]
    except ValidationError as exc:
        raise PolicyError(problems(exc)) from None


#: validating under the place's name puts it in front of each problem's location
_BY_PLACE: TypeAdapter[dict[str, RetentionPolicy]] = TypeAdapter(dict[str, RetentionPolicy])


def parse_policy_text(text: str, where: str = "policy") -> RetentionPolicy:
    """A policy from its one-line form: an inline TOML table's body, e.g.
    `grid = "24x1h | 14x1d", keep = "^manual-"`."""
    if len(text) > MAX_POLICY_CHARS:
        raise PolicyError(f"{where}: is limited to {MAX_POLICY_CHARS} characters")
    try:
        data = tomllib.loads(f"p = {{{text}}}")["p"]
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(
            f'{where}: not of the form key = value, key = "text", ... ({exc})'
        ) from None
    return parse_policy(data, where)
