"""Hosts in every step: each step acts on the host its arguments name, through ctx.host(name);
its lock keys say which host; its inverse stays on that host; local steps journal as before."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from zfsyncd.commands.runner import CommandRunner
from zfsyncd.store import Database, TxState
from zfsyncd.tx.hosts import LOCAL, Host, UnknownHostError, local_hosts, located, probe_local
from zfsyncd.tx.kinds import Plan
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.tx.rollback import ROLLBACK, ROLLBACK_KIND
from zfsyncd.tx.steps import STEP_KINDS, OnHost, StepContext, build_step
from zfsyncd.tx.steps.base import JsonDict
from zfsyncd.tx.steps.datasets import CreateDataset, CreateDatasetArgs
from zfsyncd.tx.steps.snapshots import CreateSnapshots, CreateSnapshotsArgs, DestroySnapshots
from zfsyncd.tx.steps.transfer import SendReceive, SendReceiveArgs
from zfsyncd.zfs.cli import CliBackend
from zfsyncd.zfs.memory import MemoryBackend
from zfsyncd.zfs.models import RecvSpec, SendSpec

PEER = "peer"


@pytest.fixture
def hosts() -> dict[str, Host]:
    """Two machines with the same pool names: only the host tells them apart."""
    return {**local_hosts(MemoryBackend(["tank"])), PEER: Host(PEER, MemoryBackend(["tank"]))}


def test_every_step_kind_names_its_hosts() -> None:
    for kind, cls in STEP_KINDS.items():
        fields = cls.Args.model_fields
        if kind in ("send-receive", "send-receive-many"):  # two hosts: from and to
            assert {"source", "target"} <= set(fields)
        elif not kind.startswith("test-"):  # steps the engine tests register for themselves
            assert issubclass(cls.Args, OnHost), kind
            assert fields["host"].default == LOCAL


async def test_a_step_acts_on_the_host_it_names(hosts: dict[str, Host]) -> None:
    ctx = StepContext(tx_id="t1", hosts=hosts)
    step = CreateDataset(CreateDatasetArgs(host=PEER, name="tank/fs"))
    done = await step.do(ctx, await step.capture(ctx))
    assert await hosts[PEER].zfs.exists("tank/fs")
    assert not await hosts[LOCAL].zfs.exists("tank/fs")
    assert await step.check(ctx)
    await step.undo(ctx, done)
    assert not await hosts[PEER].zfs.exists("tank/fs")


async def test_an_unknown_host_is_named_with_the_transaction(hosts: dict[str, Host]) -> None:
    ctx = StepContext(tx_id="t7", hosts=hosts)
    with pytest.raises(UnknownHostError, match=r"transaction t7 acts on host 'gone'") as info:
        await CreateDataset(CreateDatasetArgs(host="gone", name="tank/fs")).check(ctx)
    assert "known: local, peer" in str(info.value)
    assert info.value.kind == "unknown-host"


def test_lock_keys_name_the_host() -> None:
    assert located(LOCAL, "tank/fs") == "tank/fs"
    assert located(PEER, "tank/fs") == "//peer/tank/fs"
    here = CreateSnapshots(CreateSnapshotsArgs(snapshots=("tank/fs@s",)))
    there = CreateSnapshots(CreateSnapshotsArgs(host=PEER, snapshots=("tank/fs@s",)))
    assert here.datasets() == {"tank/fs"}
    assert there.datasets() == {"//peer/tank/fs"}
    transfer = SendReceive(
        SendReceiveArgs(
            send=SendSpec(snapshot="tank/fs@s"), recv=RecvSpec(target="tank/copy"), target=PEER
        )
    )
    assert transfer.datasets() == {"tank/fs", "//peer/tank/copy"}


def test_a_local_step_journals_as_it_did_before_hosts() -> None:
    local = CreateDataset(CreateDatasetArgs(name="tank/fs"))
    assert local.to_json() == {"name": "tank/fs", "properties": {}}
    # a row written before hosts existed loads as a local step
    assert build_step("create-dataset", {"name": "tank/fs"}).args.host == LOCAL
    remote = CreateDataset(CreateDatasetArgs(host=PEER, name="tank/fs"))
    assert remote.to_json() == {"host": PEER, "name": "tank/fs", "properties": {}}
    assert build_step("create-dataset", remote.to_json()).args == remote.args


def test_a_host_name_is_a_label() -> None:
    for bad in ("Peer", "-x", "a b", "", "x" * 64, "user@host"):
        with pytest.raises(ValueError, match="is not a host name"):
            CreateDatasetArgs(host=bad, name="tank/fs")


def test_an_inverse_stays_on_its_host() -> None:
    made = {"made": {"tank/fs@s": 1}}
    there = CreateSnapshots(CreateSnapshotsArgs(host=PEER, snapshots=("tank/fs@s",)))
    inverse = there.inverse(made)
    assert isinstance(inverse, DestroySnapshots)
    assert inverse.args.host == PEER
    transfer = SendReceive(
        SendReceiveArgs(
            send=SendSpec(snapshot="tank/fs@s"), recv=RecvSpec(target="tank/copy"), target=PEER
        )
    )
    undo = transfer.inverse({"before": {}, "received": {"tank/copy": 5}})
    assert undo is not None
    assert undo.args.host == PEER


class PeerSnapshot:
    """A transaction kind whose one step acts on the peer."""

    name = "test-peer-snapshot"

    def describe(self, params: JsonDict) -> str:
        return "snapshot on the peer"

    def datasets(self, params: JsonDict) -> set[str]:
        return {located(PEER, params["snapshot"].split("@")[0])}

    async def plan(self, ctx: StepContext, params: JsonDict) -> Plan:
        step: Any = CreateSnapshots(CreateSnapshotsArgs(host=PEER, snapshots=(params["snapshot"],)))
        return Plan(steps=[step], description=self.describe(params))


async def test_a_transaction_on_another_host_and_its_rollback(
    hosts: dict[str, Host], tmp_path: Path
) -> None:
    db = await Database.open(tmp_path / "zfsyncd.db")
    manager = TransactionManager(
        db, hosts, kinds={PeerSnapshot.name: PeerSnapshot(), ROLLBACK: ROLLBACK_KIND}
    )
    try:
        record = await manager.submit(PeerSnapshot.name, {"snapshot": "tank@s"})
        done = await manager.wait(record.id)
        assert done.state is TxState.COMPLETED, done.error
        assert await hosts[PEER].zfs.exists("tank@s")
        assert not await hosts[LOCAL].zfs.exists("tank@s")
        revert = await manager.rollback(record.id)
        await manager.prepare(revert.id)
        await manager.execute(revert.id)
        reverted = await manager.wait(revert.id)
        assert reverted.state is TxState.COMPLETED, reverted.error
        assert not await hosts[PEER].zfs.exists("tank@s")
    finally:
        await manager.shutdown()
        await db.close()


async def test_the_manager_needs_the_local_host(hosts: dict[str, Host], tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "zfsyncd.db")
    try:
        with pytest.raises(ValueError, match="needs the local host"):
            TransactionManager(db, {PEER: hosts[PEER]})
    finally:
        await db.close()


def _zfs_printing(tmp_path: Path, text: str, status: int) -> Path:
    script = tmp_path / "zfs"
    script.write_text(f"#!/bin/sh\nprintf '{text}'\nexit {status}\n")
    script.chmod(0o755)
    return script


async def test_the_local_version_is_asked_once_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """probe_local (the daemon's start): one `zfs version`, logged; a transaction's first
    command is then never one (the backend keeps the answer)."""
    ran: list[Sequence[str]] = []
    zfs = _zfs_printing(tmp_path, "zfs-2.3.2-2\\nzfs-kmod-2.3.2-2\\n", 0)
    hosts = local_hosts(CliBackend(CommandRunner(observers=[ran.append]), zfs=str(zfs)))
    with caplog.at_level(logging.INFO, logger="zfsyncd.tx.hosts"):
        await probe_local(hosts)
    assert [list(argv)[1:] for argv in ran] == [["version"]]
    assert "local OpenZFS zfs-2.3.2-2, zfs-kmod-2.3.2-2" in caplog.text
    assert (await hosts[LOCAL].zfs.capabilities()).version == (2, 3, 2)
    assert len(ran) == 1


async def test_a_start_that_cannot_tell_the_version_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    zfs = _zfs_printing(tmp_path, "", 1)
    with caplog.at_level(logging.WARNING, logger="zfsyncd.tx.hosts"):
        await probe_local(local_hosts(CliBackend(zfs=str(zfs))))
    assert "cannot tell the local OpenZFS version" in caplog.text
