"""Validation errors in the project's words (zfsyncd/invalid.py): no pydantic phrasing, no
consequence appended to the real problem, and a bounded message however many problems."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import zfsyncd.ops  # noqa: F401 - registers the kinds
from zfsyncd.invalid import MAX_PROBLEMS, problems
from zfsyncd.ops.snapshot import SnapshotRequest
from zfsyncd.ops.snapshot_destroy import DestroySnapshotsRequest


def _words(model: type[SnapshotRequest | DestroySnapshotsRequest], values: object) -> str:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(values)
    return problems(refused.value)


@pytest.mark.parametrize(
    ("model", "values", "words"),
    [
        (SnapshotRequest, {"datasets": []}, "datasets: needs at least 1 item(s), has 0"),
        (
            SnapshotRequest,
            {"datasets": ["bad!"]},
            "datasets.0: invalid ZFS name 'bad!': invalid character '!' in pool name 'bad!'",
        ),
        (SnapshotRequest, {"datasets": ["a", "a"]}, "datasets: a dataset is named twice"),
        (
            DestroySnapshotsRequest,
            {"snapshots": ["tank"]},
            "snapshots.0: invalid ZFS name 'tank': a snapshot name has exactly one '@' "
            "(pool/fs@snap); it has none",
        ),
        (
            SnapshotRequest,
            {"datasets": ["tank"], "properties": {"a:b": "x\ny"}},
            "properties: invalid value of property 'a:b': a property value may not contain "
            "a tab, newline or NUL",
        ),
        (SnapshotRequest, {"datasets": ["tank"], "hold": "x"}, "hold: must be true or false"),
        (SnapshotRequest, {"datasets": ["tank"], "colour": 1}, "colour: is not a known key"),
    ],
)  # fmt: skip
def test_problems_are_worded_by_us(model: type, values: object, words: str) -> None:
    assert _words(model, values) == words


def test_many_problems_make_a_short_message() -> None:
    text = _words(SnapshotRequest, {"datasets": [f"bad{'!' * 1000}{n}" for n in range(100)]})
    assert text.endswith(f"and {100 - MAX_PROBLEMS} more problem(s)")
    assert len(text) < 3000
