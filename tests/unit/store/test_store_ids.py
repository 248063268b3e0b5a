"""Transaction ids: sortable, unique, and legal as a D-Bus object path element."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from zfsyncd.store.ids import id_microseconds, is_transaction_id, new_transaction_id

OBJECT_PATH_ELEMENT = re.compile(r"\A[A-Za-z0-9_]+\Z")


def test_the_format() -> None:
    tx_id = new_transaction_id(1_795_000_000.25)
    assert re.fullmatch(r"20261118T\d{6}_250000Z_[0-9a-f]{8}", tx_id)
    assert OBJECT_PATH_ELEMENT.match(tx_id)
    assert is_transaction_id(tx_id)
    assert id_microseconds(tx_id) == 1_795_000_000_250_000


@given(times=st.lists(st.floats(min_value=0, max_value=4_000_000_000), min_size=1, max_size=30))
def test_each_id_sorts_after_the_previous_whatever_the_clock(times: list[float]) -> None:
    ids: list[str] = []
    for now in times:
        ids.append(new_transaction_id(now, ids[-1] if ids else None))
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(OBJECT_PATH_ELEMENT.match(i) for i in ids)
