"""ListTransactions' rows without pydantic (zfsyncctl/rows.py) are what pydantic makes of
them: the same fields as TransactionSummary, and for every reply the same row and JSON, or
the same error; and `transaction list` runs without importing pydantic or rich."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import PydanticUndefined

from tests.unit.cli.daemon_double import DaemonDouble
from zfsyncctl.errors import InternalError
from zfsyncctl.rows import SummaryRow, summary_row
from zfsyncd.api.records import TransactionSummary
from zfsyncd.api.signatures import _bare

REPO = Path(__file__).resolve().parents[3]


def raw(**over: Any) -> dict[str, Any]:
    """A row as dbus-fast unpacks it: every key of the type its signature gives."""
    data: dict[str, Any] = {
        "id": "t1", "path": "/org/zfsync/Daemon1/Transaction/t1", "type": "snapshot",
        "state": "COMPLETED", "description": "snapshot tank/home", "uid": 0, "priority": 0,
        "created": 1.5, "updated": 2.5, "finished": 3.5, "error": "", "error_kind": "",
        "rollback_outcome": "", "rolls_back": "", "retry_of": "", "tags": ["nightly"],
        "datasets": ["tank/home"], "percent": 100.0, "bytes_done": 0, "bytes_total": 0,
        "rollback_pending": False, "datasets_count": 1, "cursor": "t1",
    }  # fmt: skip
    data.update(over)
    return data


def without(*keys: str, **over: Any) -> dict[str, Any]:
    data = raw(**over)
    for key in keys:
        del data[key]
    return data


def test_the_fields_are_transaction_summarys() -> None:
    declared = [f for f in dataclasses.fields(SummaryRow) if f.name != "extra"]
    model = TransactionSummary.model_fields
    assert [f.name for f in declared] == list(model)
    for f in declared:
        assert f.type == _bare(model[f.name].annotation), f.name
        default = model[f.name].default
        assert f.default == (dataclasses.MISSING if default is PydanticUndefined else default)


#: replies a row may be: plain ones (checked by hand) and every way of not being plain
#: (decided by pydantic)
REPLIES: list[dict[str, Any]] = [
    raw(),
    raw(state="EXECUTING", percent=42.0, uid=0xFFFFFFFF, tags=[], datasets=[]),
    without("rollback_pending", "datasets_count", "cursor"),  # older daemon: defaults
    dict(reversed(raw().items())),  # keys in another order
    raw(new_text="x", new_count=3, new_flag=True, new_ratio=0.5, new_names=["a"]),
    raw(created=7),  # an integer where a double is declared: pydantic makes it 7.0
    raw(uid=True),  # a boolean where an integer is declared
    raw(uid="0"),  # text pydantic reads as a number
    raw(created=math.inf, finished=math.nan),
    raw(new_bytes=b"ab", new_tuple=(1, 2), new_dict={"k": [1.0]}, new_inf=math.inf),
    raw(tags=("a", "b")),
]


@pytest.mark.parametrize("reply", REPLIES)
def test_a_row_is_what_pydantic_makes_of_it(reply: dict[str, Any]) -> None:
    model = TransactionSummary.model_validate(reply)
    row = summary_row(reply)
    for name in TransactionSummary.model_fields:
        assert repr(getattr(row, name)) == repr(getattr(model, name)), name
    # repr: NaN is not equal to itself, and 7 == 7.0 would hide a missed conversion
    assert repr(row.to_json()) == repr(model.model_dump(mode="json"))
    assert row.terminal == model.terminal
    assert row.uid_text == model.uid_text


@pytest.mark.parametrize(
    "reply", [without("rollback_outcome"), raw(uid="zero"), raw(tags=[1]), raw(percent=None)]
)
def test_a_row_that_is_not_one_is_pydantics_error(reply: dict[str, Any]) -> None:
    with pytest.raises(InternalError, match="reply to ListTransactions was not understood"):
        summary_row(reply)


CHECK_IMPORTS = """
import sys
from zfsyncctl.main import cli
try:
    cli(sys.argv[1:], prog_name="zfsyncctl")
except SystemExit as e:
    code = e.code
print(code, *sorted(m for m in ("pydantic", "rich", "zfsyncctl.replica") if m in sys.modules),
      file=sys.stderr)
"""


@pytest.mark.parametrize("json_output", [[], ["--json"]])
def test_transaction_list_imports_neither_pydantic_nor_rich(
    double: DaemonDouble, json_output: list[str]
) -> None:
    """Off a terminal (a pipe), for a person or as JSON: the point of rows.py; nor the
    `replica` group (main.py imports it when it is named)."""
    double.add_transaction("COMPLETED", id="tA")
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": double.address, "PYTHONPATH": str(REPO)}
    argv = ["transaction", "list", "--no-ask-password", *json_output]
    done = subprocess.run(
        [sys.executable, "-c", CHECK_IMPORTS, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert "tA" in done.stdout
    assert done.stderr.split() == ["0"], done.stderr


def test_a_filter_sends_what_is_set_and_bounds_its_limit() -> None:
    from zfsyncctl.listing import TransactionFilter
    from zfsyncd.api.limits import MAX_TRANSACTION_PAGE
    from zfsyncd.api.states import TxState

    assert TransactionFilter().to_dbus() == {}
    sent = TransactionFilter(states=[TxState.FAILED], active=False, limit=0).to_dbus()
    assert {k: (v.signature, v.value) for k, v in sent.items()} == {
        "states": ("as", ["FAILED"]),
        "limit": ("u", 0),
        "active": ("b", False),
    }
    TransactionFilter(limit=MAX_TRANSACTION_PAGE)
    for wrong in (-1, MAX_TRANSACTION_PAGE + 1):
        with pytest.raises(ValueError, match="limit"):
            TransactionFilter(limit=wrong)
