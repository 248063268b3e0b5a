"""received.changed_since: whether a destination is still as a send left it, so that the
rollback of a sync may take back what it received (a table of listings -> the reason it
is refused, or None), and the step's arguments refused when they cannot be taken back."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from zfsyncd.tx.steps.received import TakeBackArgs, changed_since
from zfsyncd.zfs.models import ObjectType, ZfsObject

ARGS = TakeBackArgs(
    host="backup",
    snapshots={"q/a@s2": 2, "q/a@s3": 3},
    bases={"q/a": "q/a@s1"},
)


def _obj(name: str, guid: int = 0, *, written: int = 0, token: str | None = None) -> ZfsObject:
    snapshot = "@" in name
    return ZfsObject(
        name=name,
        type=ObjectType.SNAPSHOT if snapshot else ObjectType.FILESYSTEM,
        guid=guid,
        createtxg=guid,
        creation=0,
        used=0,
        referenced=0,
        written=written,
        receive_resume_token=None if snapshot else token,
    )


def _listing(snapshots: str, **dataset: object) -> list[ZfsObject]:
    """`q/a` then its snapshots, oldest first: 'NAME:GUID ...'."""
    found = [_obj("q/a", 100, **dataset)]  # type: ignore[arg-type]
    for item in snapshots.split():
        name, guid = item.split(":")
        found.append(_obj(f"q/a@{name}", int(guid)))
    return found


CASES = [
    # snapshots after the dataset, its state -> the refusal's words (None: as the send left it)
    ("s0:9 s1:1 s2:2 s3:3", {}, None),
    ("s1:1 s2:2 s3:3", {"written": 4096}, "q/a was written to after its newest snapshot"),
    ("s1:1 s2:2 s3:3", {"token": "1-abc"}, "q/a has a partial receive"),
    ("s1:1 s2:2 s3:3 mine:7", {}, "q/a has snapshots the sync did not bring: q/a@mine"),
    ("s1:1 s2:2 s3:8", {}, "snapshots the sync did not bring: q/a@s3"),  # same name, not it
    ("s1:1 s2:2", {}, "q/a lost what the sync brought: q/a@s3"),
    ("s2:2 s3:3", {}, "q/a@s1 is gone"),
]


@pytest.mark.parametrize(("snapshots", "dataset", "words"), CASES)
def test_changed_since(snapshots: str, dataset: dict[str, object], words: str | None) -> None:
    found = changed_since(ARGS, _listing(snapshots, **dataset))
    if words is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith("the destination changed since: ")
        assert words in found


def test_a_snapshot_without_a_base_is_refused() -> None:
    with pytest.raises(ValidationError, match="no base to go back to"):
        TakeBackArgs(snapshots={"q/b@s2": 2}, bases={"q/a": "q/a@s1"})
    with pytest.raises(ValidationError, match="is not a snapshot of q/a"):
        TakeBackArgs(snapshots={"q/a@s2": 2}, bases={"q/a": "q/b@s1"})
