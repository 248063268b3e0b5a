"""Replica pairs made directly with the backend (zfs send|recv and zfs set of the zfsync:*
properties), as `replica init` and `replica sync` leave them, so the admin kinds' tests do
not depend on those transactions: a pair is whatever ZFS shows, whoever made it.

`make_pair` makes SRC with `snapshots` zfsync_ snapshots (data written by `write` before
each), all sent to DST (on `dst_zfs`, another host's model or the same backend), each
marked sent on the source, the newest one
held as the base on both sides; the destination read-only with role, peer and savecount
given by `zfs receive -o`, as init does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from zfsyncd.ops.replication.props import (
    BASE_HOLD,
    PEER,
    ROLE,
    SAVECOUNT,
    SENT,
    Peer,
    Role,
)
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.memory import MemoryBackend
from zfsyncd.zfs.models import RecvSpec, SendSpec

#: bytes written before each snapshot
DATA = 64 << 10


@dataclass(frozen=True)
class Pair:
    src: str
    dst: str
    #: the destination's host label (LOCAL when both pools are on this host)
    host: str
    src_zfs: ZfsBackend
    dst_zfs: ZfsBackend
    #: the source's host label
    src_host: str = LOCAL

    @property
    def peer(self) -> str:
        """The source's PEER: the destination."""
        return str(Peer(host=self.host, dataset=self.dst))

    @property
    def back(self) -> str:
        """The destination's PEER: the source."""
        return str(Peer(host=self.src_host, dataset=self.src))

    def src_snap(self, n: int) -> str:
        return f"{self.src}@zfsync_{n}"

    def dst_snap(self, n: int) -> str:
        return f"{self.dst}@zfsync_{n}"


#: writes new data into a dataset (World.write for the world's pools, `model_writer` for
#: another host's model)
Writer = Callable[[str], Awaitable[None]]


def model_writer(model: MemoryBackend) -> Writer:
    """A Writer for datasets of a model of its own (a second host in tests)."""

    async def write(dataset: str) -> None:
        model.write(dataset, DATA)

    return write


async def make_pair(
    src_zfs: ZfsBackend,
    src: str,
    dst_zfs: ZfsBackend,
    dst: str,
    *,
    write: Writer,
    host: str = LOCAL,
    src_host: str = LOCAL,
    snapshots: int = 2,
    savecount: int = 5,
    dst_savecount: int | None = None,
) -> Pair:
    pair = Pair(src, dst, host, src_zfs, dst_zfs, src_host)
    await src_zfs.create(
        src,
        properties={ROLE: Role.SOURCE, PEER: pair.peer, SAVECOUNT: str(savecount)},
    )
    for n in range(1, snapshots + 1):
        await write(src)
        await src_zfs.snapshot([pair.src_snap(n)])
        await send(pair, n, dst_savecount=dst_savecount or savecount)
    return pair


async def send(pair: Pair, n: int, *, dst_savecount: int | None = None) -> None:
    """Send SRC@zfsync_n (full when it is the first, else incremental from the base held),
    mark it sent and move the base hold to it, as a sync does."""
    snap = pair.src_snap(n)
    base = await held_base(pair.src_zfs, pair.src)
    if base is None:
        recv = RecvSpec(
            target=pair.dst,
            properties={
                ROLE: Role.DESTINATION,
                PEER: pair.back,
                SAVECOUNT: str(dst_savecount or 5),
                "readonly": "on",
            },
        )
        await pair.src_zfs.send_recv(SendSpec(snapshot=snap), pair.dst_zfs, recv)
    else:
        spec = SendSpec(snapshot=snap, base=base)
        await pair.src_zfs.send_recv(spec, pair.dst_zfs, RecvSpec(target=pair.dst))
    await pair.src_zfs.set_properties(snap, {SENT: "1700000000"})
    if base is not None:
        await pair.src_zfs.release(BASE_HOLD, [base])
        await pair.dst_zfs.release(BASE_HOLD, [f"{pair.dst}@{base.split('@')[1]}"])
    await pair.src_zfs.hold(BASE_HOLD, [snap])
    await pair.dst_zfs.hold(BASE_HOLD, [pair.dst_snap(n)])


async def held_base(zfs: ZfsBackend, dataset: str) -> str | None:
    """The snapshot of `dataset` that holds the base tag, if any."""
    snaps = [o.name for o in await zfs.list(dataset) if o.is_snapshot]
    for hold in await zfs.holds_many(snaps):
        if hold.tag == BASE_HOLD:
            return hold.snapshot
    return None


async def plain_copy(pair: Pair, zfs: ZfsBackend, target: str, upto: int) -> None:
    """A replica of SRC made by plain `zfs send | zfs recv` (no zfsync property, no hold):
    the full stream of its first snapshot, then -I to SRC@zfsync_<upto>."""
    await pair.src_zfs.send_recv(SendSpec(snapshot=pair.src_snap(1)), zfs, RecvSpec(target=target))
    if upto > 1:
        spec = SendSpec(snapshot=pair.src_snap(upto), base=pair.src_snap(1))
        await pair.src_zfs.send_recv(spec, zfs, RecvSpec(target=target))
