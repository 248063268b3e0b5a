"""What a send step knows it received before its streams run (transfers._carried): a table
of streams and readings, the answer for each (None: read the targets after the streams)."""

from __future__ import annotations

import pytest

from zfsyncd.tx.steps.transfers import Stream, Targets, _carried
from zfsyncd.zfs.models import ObjectType, RecvSpec, SendSpec, ZfsObject


def _point(name: str, guid: int, txg: int) -> ZfsObject:
    kind = ObjectType.BOOKMARK if "#" in name else ObjectType.SNAPSHOT
    return ZfsObject(
        name=name, type=kind, guid=guid, createtxg=txg, creation=0, used=0, referenced=0
    )


#: the source: its first snapshot (the base), its bookmark, two snapshots someone took, the
#: new one; and a later one the stream does not reach
POINTS = {
    "p/a": [
        _point("p/a@base", 1, 10),
        _point("p/a#base", 1, 10),
        _point("p/a@h1", 2, 20),
        _point("p/a@h2", 3, 30),
        _point("p/a@new", 4, 40),
        _point("p/a@later", 5, 50),
    ]
}
#: the target as read before: at the base
TARGETS: Targets = {"q/a": {"q/a": 100, "q/a@base": 1}}


def _stream(base: str | None, *, intermediates: bool = True, replicate: bool = False) -> Stream:
    return Stream(
        send=SendSpec(
            snapshot="p/a@new", base=base, intermediates=intermediates, replicate=replicate
        ),
        recv=RecvSpec(target="q/a"),
    )


@pytest.mark.parametrize(
    ("stream", "targets", "tokens", "carried"),
    [
        # -I: every snapshot after the base up to the one sent, by createtxg, no bookmark
        (_stream("p/a@base"), TARGETS, {}, {"q/a": {"q/a@h1": 2, "q/a@h2": 3, "q/a@new": 4}}),
        # -i: the one sent alone
        (_stream("p/a@h2", intermediates=False), TARGETS, {}, {"q/a": {"q/a@new": 4}}),
        # from the bookmark (-i, as zfs send -I takes no bookmark)
        (_stream("p/a#base", intermediates=False), TARGETS, {}, {"q/a": {"q/a@new": 4}}),
        # there already (by guid): nothing received
        (_stream("p/a@base"), {"q/a": {"q/a@base": 1, "q/a@new": 4}}, {}, {"q/a": {}}),
        # a resume token: what the resumed stream brings is read after
        (_stream("p/a@base"), TARGETS, {"q/a": "1-abc"}, None),
        (_stream("p/a@base"), {"q/a": {"q/a@base": 1, "q/a@new": 4}}, {"q/a": "1-abc"}, None),
        # -R may make datasets; a full stream makes its target; no target yet
        (_stream("p/a@base", replicate=True), TARGETS, {}, None),
        (_stream(None, intermediates=False), {}, {}, None),
        (_stream("p/a@base"), {}, {}, None),
        # a base the reading does not have: its send fails, read after
        (_stream("p/a@gone"), TARGETS, {}, None),
    ],
)
def test_what_a_stream_carries(
    stream: Stream, targets: Targets, tokens: dict[str, str], carried: Targets | None
) -> None:
    assert _carried((stream,), POINTS, targets, tokens) == carried


def test_one_stream_to_read_after_means_reading_after_for_all() -> None:
    """One reading of the targets serves every stream: when one needs it, all take it."""
    other = Stream(send=SendSpec(snapshot="p/b@new", base="p/b@base"), recv=RecvSpec(target="q/b"))
    points = {**POINTS, "p/b": [_point("p/b@base", 7, 10), _point("p/b@new", 8, 20)]}
    targets = {**TARGETS, "q/b": {"q/b": 101, "q/b@base": 7}}
    assert _carried((_stream("p/a@base"), other), points, targets, {}) == {
        "q/a": {"q/a@h1": 2, "q/a@h2": 3, "q/a@new": 4},
        "q/b": {"q/b@new": 8},
    }
    assert _carried((_stream("p/a@base"), other), points, targets, {"q/b": "1-x"}) is None
