"""The hosts a transaction's steps act on.

Every step names its host (`OnHost.host`, `local` unless told); the step context maps each
name to a `Host`: its ZFS backend and a runner for its other commands (rsync, btrfs, ssh),
both going through that host's transport. The local host is always there; others come from
the configuration (`[hosts.NAME]`), which is why a name is a short label and never an
address: the journal keeps the label, so a host can move without old rows going stale.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import AfterValidator

from zfsyncd.commands.runner import CommandRunner
from zfsyncd.tx.errors import TxError
from zfsyncd.zfs.backend import ZfsBackend

log = logging.getLogger(__name__)

#: the machine the daemon runs on
LOCAL = "local"
_HOST_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")


def check_host_name(name: str) -> str:
    """A host's label: what a [hosts.NAME] table may be called and a step's `host` holds."""
    if not _HOST_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a host name (a short label: a-z, 0-9, then also '_', '.', '-')"
        )
    return name


HostName = Annotated[str, AfterValidator(check_host_name)]


@dataclass(frozen=True)
class Host:
    """One machine, as the steps see it."""

    name: str
    #: ZFS on that host (the real zfs command through its transport, or the model in tests)
    zfs: ZfsBackend
    #: runs that host's other commands, through the same transport as its zfs commands
    commands: CommandRunner = field(default_factory=CommandRunner)


class UnknownHostError(TxError, LookupError):
    """A step names a host the daemon was not configured with (or no longer is)."""

    kind = "unknown-host"

    def __init__(self, name: str, tx_id: str, known: Mapping[str, Host]) -> None:
        self.name, self.tx_id = name, tx_id
        super().__init__(
            f"transaction {tx_id} acts on host {name!r}, which is not configured "
            f"(known: {', '.join(sorted(known))})"
        )


async def probe_local(hosts: Mapping[str, Host]) -> None:
    """Ask the local OpenZFS its version once, at start (the daemon's, the bench's engine),
    and log it: the backend keeps the answer, so a transaction's first command is never a
    `zfs version`. Other hosts are asked at their first command (ssh starts no sooner). A
    failure here is only logged: the transaction that needs the version asks again and
    fails with the reason."""
    try:
        found = await hosts[LOCAL].zfs.capabilities()
    except Exception as exc:  # a start that cannot tell goes on (see above)
        log.warning("cannot tell the local OpenZFS version: %s", exc)
        return
    log.info("local OpenZFS %s", found.text.replace("\n", ", "))


def local_hosts(zfs: ZfsBackend, commands: CommandRunner | None = None) -> dict[str, Host]:
    """The hosts of a daemon (or a test) that knows only the local one."""
    return {LOCAL: Host(LOCAL, zfs, commands or CommandRunner())}


def located(host: str, name: str) -> str:
    """The lock key of `name` on `host`: the local host's names as they are, another host's
    under '//host/', which no dataset name can begin with (so the same dataset name on two
    hosts is two locks)."""
    return name if host == LOCAL else f"//{host}/{name}"
