"""The `zfsync:*` user properties that make a dataset part of a replica pair.

Set on both datasets of a pair (the destination gets them from `zfs receive -o`, so its
first snapshot arrives already marked). Reading them is one `zfs list -o` over the pools.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from zfsyncd.tx.hosts import LOCAL, HostName, check_host_name
from zfsyncd.zfs import names

#: `source` or `destination` (Role)
ROLE = "zfsync:role"
#: the other dataset of the pair, as `HOST:DATASET` (HOST a label of the daemon's
#: configuration, `local` for this machine)
PEER = "zfsync:peer"
#: how many zfsync_ snapshots this side keeps (each side reads its own)
SAVECOUNT = "zfsync:savecount"
#: `on` while `sync all` skips the pair (set on the source)
PAUSED = "zfsync:paused"
#: on a source snapshot: when it was sent (seconds since the epoch)
SENT = "zfsync:sent"

#: every dataset property of a pair, for `zfs list -o` and for `clear`
DATASET_PROPERTIES = (ROLE, PEER, SAVECOUNT, PAUSED)

#: the hold on the base (the newest snapshot both sides share), on both sides
BASE_HOLD = "zfsync_replica"
DEFAULT_SAVECOUNT = 5
MAX_SAVECOUNT = 10000


class Role(StrEnum):
    SOURCE = "source"
    DESTINATION = "destination"


def _peer(value: str) -> str:
    parse_peer(value)
    return value


def parse_peer(value: str) -> Peer:
    """`HOST:pool/fs`, or `pool/fs` on this host. The first ':' ends the host label, so a
    pool whose name holds a ':' is written with the label: `local:my:pool/fs`."""
    host, sep, dataset = value.partition(":")
    if not sep:
        host, dataset = LOCAL, value
    check_host_name(host)
    names.check_dataset(dataset)
    return Peer(host=host, dataset=dataset)


class Peer(BaseModel):
    """A dataset on a named host."""

    model_config = ConfigDict(frozen=True)

    host: HostName
    dataset: str

    def __str__(self) -> str:
        return f"{self.host}:{self.dataset}"


#: a request field holding `HOST:DATASET` (or a bare dataset on this host)
PeerAddress = Annotated[str, AfterValidator(_peer)]
