"""Which reading a step may take over from the step before it (lookup.take_handed): only
one of what a recursive command on the same names reaches, i.e. the same short names below
the same topmost datasets. Tables of examples; the steps that hand readings on are counted
in tests/engine/test_step_commands.py."""

from __future__ import annotations

from typing import Any

import pytest

from zfsyncd.tx.steps.lookup import hand_on_reading, take_handed
from zfsyncd.zfs.memory import MemoryBackend
from zfsyncd.zfs.models import ReachedSnapshot

READ = [
    ReachedSnapshot(name=name, guid=n, userrefs=0)
    for n, name in enumerate(["p/a@s", "p/a/b@s", "p/a/c@t", "p/a@t", "p/e@s"], start=1)
]


@pytest.mark.parametrize(
    ("given", "taken", "answer"),
    [
        # the same names
        (["p/a@s"], ["p/a@s"], ["p/a/b@s", "p/a@s"]),
        # the names below add nothing to what -r from p/a@s reaches
        (["p/a@s"], ["p/a@s", "p/a/b@s"], ["p/a/b@s", "p/a@s"]),
        # in another order
        (["p/a@s", "p/e@s"], ["p/e@s", "p/a@s"], ["p/a/b@s", "p/a@s", "p/e@s"]),
        # less is reached from below: not the same reading
        (["p/a@s"], ["p/a/b@s"], None),
        # another short name
        (["p/a@s"], ["p/a@t"], None),
        # the same datasets and short names, but @t from p/a/c only where p/a@t reaches
        # every @t below p/a: a key of datasets and names apart would mix these up
        (["p/a@s", "p/a/c@t"], ["p/a@s", "p/a@t"], None),
        (["p/a@s", "p/a@t"], ["p/a@t", "p/a@s"], ["p/a/b@s", "p/a/c@t", "p/a@s", "p/a@t"]),
    ],
)
def test_a_reading_is_taken_over_only_for_what_it_answers(
    given: list[str], taken: list[str], answer: list[str] | None
) -> None:
    zfs, handed = MemoryBackend(pools=("p",)), dict[object, Any]()
    hand_on_reading(handed, zfs, given, READ)
    found = take_handed(handed, zfs, taken)
    assert (sorted(found) if found is not None else None) == answer
    assert bool(handed) is (answer is None)  # taken once (the executor empties the rest)


def test_a_reading_of_another_backend_is_not_taken() -> None:
    handed, one, other = (
        dict[object, Any](),
        MemoryBackend(pools=("p",)),
        MemoryBackend(pools=("p",)),
    )
    hand_on_reading(handed, one, ["p/a@s"], READ)
    assert take_handed(handed, other, ["p/a@s"]) is None  # another host's pools
    assert take_handed(handed, one, ["p/a@s"]) is not None
