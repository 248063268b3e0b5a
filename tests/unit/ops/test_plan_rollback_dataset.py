"""When a rollback by swap is refused (`refusal_of`), and the rollback-dataset plan's decision
(`zfsyncd.ops.rollback_dataset.decide`), from tables of examples: the pool as listed and the
dataset's properties -> the step, or the reason it is refused."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.unit.ops.listing import TX, guid, listing, properties
from zfsyncd.ops.rollback_dataset import RollbackRequest, decide
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.steps.zfs_rollback_refusal import RollbackFacts, refusal_of
from zfsyncd.zfs.models import PropertyValue

#: p/fs with an older held snapshot, the target, two newer ones, and a clone of the older;
#: a row given again (a case's extra rows) replaces the first in place
BASE = (
    "p", "p/fs", "p/fs@s1 held=1", "p/fs@target", "p/fs@n1", "p/fs@n2",
    "p/other origin=p/fs@s1", "p/fs2", "p/fs2@late held=1",
)  # fmt: skip
TARGET = "p/fs@target"
PLAIN = properties(encryption="off", mountpoint="/p/fs")


def facts(
    *extra: str,
    props: Mapping[str, PropertyValue] = PLAIN,
    received: Mapping[str, str] | None = None,
) -> RollbackFacts:
    return RollbackFacts(listing(*BASE, *extra), props, received or {})


def test_a_plain_filesystem_can_be_rolled_back_and_the_step_names_its_guid() -> None:
    made = decide(RollbackRequest(snapshot=TARGET), facts(), TX)
    assert [(s.kind, s.to_json()) for s in made.steps] == [
        ("rollback-dataset", {"snapshot": TARGET, "guid": guid("p/fs")})
    ]


ALLOWED = [
    pytest.param(facts(), id="older snapshots held or cloned"),
    pytest.param(facts(props=properties(encryption="off", mountpoint="legacy")),
                 id="an inherited legacy mountpoint"),
    pytest.param(facts(props=properties(encryption="off", mountpoint="local:/mnt")),
                 id="a local mountpoint"),
    pytest.param(facts("p/fs2/c", "p/fs2@n9 held=1", "p/c2 origin=p/fs2@late"),
                 id="what another dataset has"),
    pytest.param(facts("p/zfsync_trash_T0_fs", "p/zfsync_rollback_T0_fs"),
                 id="another transaction's names"),
]  # fmt: skip


@pytest.mark.parametrize("given", ALLOWED)
def test_allowed(given: RollbackFacts) -> None:
    assert refusal_of(TARGET, given, TX) is None


CHILDREN = "p/fs has child datasets ({}): a rollback by swap does not move them (yet)"
REFUSALS = [
    pytest.param("p/fs@nope", facts(), "snapshot p/fs@nope does not exist", id="no snapshot"),
    pytest.param("p/gone@s", facts(), "snapshot p/gone@s does not exist", id="no dataset"),
    pytest.param("r/fs@s", facts(), "snapshot r/fs@s does not exist", id="no pool"),
    pytest.param(
        "p/vol@1", facts("p/vol type=volume", "p/vol@1"),
        "p/vol is a volume: only a filesystem can be rolled back here", id="a volume",
    ),
    pytest.param(
        TARGET, facts("p/fs token=1-abc"),
        "p/fs has a partial receive (discard it with zfs receive -A first)", id="partial receive",
    ),
    pytest.param(
        "p@s", RollbackFacts(listing("p", "p@s")),
        "invalid ZFS name 'p': a pool's root dataset cannot be destroyed here", id="pool root",
    ),
    pytest.param(
        TARGET, facts("p/zfsync_trash_T1_fs"), "p/zfsync_trash_T1_fs exists already",
        id="the trash name is taken",
    ),
    pytest.param(
        TARGET, facts("p/zfsync_rollback_T1_fs"), "p/zfsync_rollback_T1_fs exists already",
        id="the clone name is taken",
    ),
    pytest.param(
        TARGET, facts("p/fs/c1", "p/fs/c2", "p/fs/c3", "p/fs/c4 type=volume"),
        CHILDREN.format("p/fs/c1, p/fs/c2, p/fs/c3"), id="children: the first three named",
    ),
    pytest.param(
        TARGET, facts("p/fs/c1", "p/fs/c1/g"), CHILDREN.format("p/fs/c1"),
        id="children: only those directly below",
    ),
    pytest.param(
        TARGET, facts("p/fs@n2 held=1"),
        "a newer snapshot is held, so zfs could not destroy it: p/fs@n2", id="newer held",
    ),
    pytest.param(
        TARGET, facts("p/fs@n1 held=1", "p/fs@n2 held=3"),
        "a newer snapshot is held, so zfs could not destroy it: p/fs@n1",
        id="newer held: the oldest named",
    ),
    pytest.param(
        TARGET, facts("p/late origin=p/fs@n1"),
        "p/late is a clone of a snapshot newer than p/fs@target", id="newer cloned",
    ),
    pytest.param(
        TARGET, facts(props=properties(encryption="aes-256-gcm", mountpoint="/p/fs")),
        "p/fs is encrypted: a rollback by swap does not handle encryption roots", id="encrypted",
    ),
    pytest.param(
        TARGET, facts(props=properties(encryption="off", mountpoint="local:legacy")),
        "p/fs has mountpoint=legacy: its mount is not zfs's to move", id="legacy mountpoint",
    ),
    pytest.param(
        TARGET, facts(received={"zfsync:role": "x", "compression": "lz4", "atime": "off",
                                "recordsize": "4096"}),
        "p/fs has received properties (atime, compression, recordsize): the new dataset could "
        "only get them as local ones", id="received properties: the first three by name",
    ),
    # when several are true, the first in the order above is the one given
    pytest.param(
        TARGET, facts("p/fs token=1-abc", "p/fs/c1"),
        "p/fs has a partial receive (discard it with zfs receive -A first)",
        id="partial receive before children",
    ),
    pytest.param(
        TARGET, facts("p/fs/c1", "p/fs@n2 held=1"), CHILDREN.format("p/fs/c1"),
        id="children before a hold",
    ),
    pytest.param(
        TARGET, facts("p/late origin=p/fs@n1", "p/fs@n2 held=1"),
        "a newer snapshot is held, so zfs could not destroy it: p/fs@n2",
        id="a hold before a clone",
    ),
    pytest.param(
        TARGET,
        facts(props=properties(encryption="aes-256-gcm", mountpoint="local:legacy"),
              received={"atime": "off"}),
        "p/fs is encrypted: a rollback by swap does not handle encryption roots",
        id="encryption before the mountpoint and received properties",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("snapshot", "given", "why"), REFUSALS)
def test_refusals(snapshot: str, given: RollbackFacts, why: str) -> None:
    assert refusal_of(snapshot, given, TX) == why
    with pytest.raises(PlanError) as refused:
        decide(RollbackRequest(snapshot=snapshot), given, TX)
    assert str(refused.value) == why


def test_a_name_too_long_for_the_clone_is_refused_with_the_name_s_problem() -> None:
    fs = "p/" + "f" * 236  # room for the trash's name, not for the clone's (3 bytes longer)
    why = refusal_of(f"{fs}@s", RollbackFacts(listing("p", fs, f"{fs}@s")), TX)
    clone = f"p/zfsync_rollback_T1_{fs[2:]}"
    assert why == f"invalid ZFS name {clone!r}: the name is 257 bytes long, over 255"
