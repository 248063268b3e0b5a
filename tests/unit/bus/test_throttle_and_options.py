"""Throttled emissions and the checking of a{sv} options."""

from __future__ import annotations

import asyncio
import time

import pytest
from dbus_fast import Variant

import zfsyncd.ops  # noqa: F401 - registers the kinds
from zfsyncd.api.names import ErrorName
from zfsyncd.bus.errors import BusCallError
from zfsyncd.bus.kind_methods import option_keys
from zfsyncd.bus.options import TxOptions, WaitOptions, checked, parse
from zfsyncd.bus.throttle import Throttle
from zfsyncd.tx.kinds import TX_KINDS


async def test_a_thousand_pokes_a_second_become_a_few_emissions_of_the_newest_state() -> None:
    seen: list[int] = []
    value = 0
    throttle = Throttle(4.0, lambda: seen.append(value))
    began = time.monotonic()
    for value in range(1, 1001):  # noqa: B007 - the emission reads the newest value
        throttle.poke()
        await asyncio.sleep(0.001)
    throttle.flush()
    elapsed = time.monotonic() - began
    # the first at once, then at most one per quarter second however long the pokes took
    # (a loaded machine stretches them), then the flush
    assert 1 <= len(seen) <= 2 + elapsed * 4, (seen, elapsed)
    assert seen[0] == 1
    assert seen[-1] == 1000  # the last emission carries the newest state
    assert seen == sorted(seen)


async def test_flush_emits_only_what_is_pending() -> None:
    seen: list[str] = []
    throttle = Throttle(1.0, lambda: seen.append("x"))
    throttle.poke()
    throttle.flush()  # nothing pending: the first poke went out at once
    assert seen == ["x"]
    throttle.poke()
    throttle.flush()
    assert seen == ["x", "x"]
    throttle.close()


def test_options_are_checked_key_by_key() -> None:
    snapshot = TX_KINDS["snapshot"]
    assert snapshot.method is not None
    keys = option_keys(snapshot, snapshot.method)
    given = checked(
        keys,
        {
            "recursive": Variant("b", True),
            "properties": Variant("a{ss}", {"zfsync:note": "x"}),
            "priority": Variant("u", 5),
            "timeout": Variant("i", 30),
        },
        "Snapshot",
    )
    assert given["recursive"]
    opts = TxOptions.model_validate({k: given[k] for k in ("priority", "timeout")})
    assert opts.priority == 5
    assert opts.timeout == 30.0
    assert opts.wait_for_locks
    with pytest.raises(BusCallError, match="Snapshot: unknown option 'recursve'") as unknown:
        checked(keys, {"recursve": Variant("b", True)}, "Snapshot")
    assert unknown.value.type == ErrorName.INVALID_ARGUMENT
    with pytest.raises(BusCallError, match="option 'recursive' must be of D-Bus type b, not s"):
        checked(keys, {"recursive": Variant("s", "yes")}, "Snapshot")
    # the bus only converts: the engine's create checks the bounds (tests/unit/tx/test_bounds.py)
    assert parse(TxOptions, {"timeout": Variant("d", -1.0)}, "Snapshot").timeout == -1.0
    wanted = parse(WaitOptions, {"wait_for_locks": Variant("b", False)}, "Retry")
    assert not wanted.wait_for_locks
