"""Every CliBackend method refuses a bad name before any command runs.

The runner's observer records each command before it starts; for a refused name it must
record nothing. (On this host there is no zfs: a command that did start would fail with
CommandNotFoundError, not InvalidNameError.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import pytest

from zfsyncd.commands.runner import CommandRunner
from zfsyncd.zfs.cli import CliBackend
from zfsyncd.zfs.errors import InvalidNameError

BAD = ["pool/fs; rm -rf /", "-R", "pool//fs", "pool/fs@", "p/" + "x" * 300]
Call = Callable[[CliBackend, str], Awaitable[object]]

CALLS: dict[str, Call] = {
    "list": lambda z, n: z.list(n),
    "get": lambda z, n: z.get(n),
    "list_many": lambda z, n: z.list_many(["pool/fs", n]),
    "holds_many": lambda z, n: z.holds_many(["pool/fs@s", n]),
    "exists": lambda z, n: z.exists(n),
    "create": lambda z, n: z.create(n),
    "snapshot": lambda z, n: z.snapshot([n]),
    "destroy": lambda z, n: z.destroy(n),
    "hold": lambda z, n: z.hold("zfsync_t", [n]),
    "hold-tag": lambda z, n: z.hold(n, ["pool/fs@s"]),
    "release": lambda z, n: z.release("zfsync_t", [n]),
    "holds": lambda z, n: z.holds(n),
    "bookmark-source": lambda z, n: z.bookmark(n, "pool/fs#b"),
    "bookmark-target": lambda z, n: z.bookmark("pool/fs@s", n),
    "rename-old": lambda z, n: z.rename(n, "pool/new"),
    "rename-new": lambda z, n: z.rename("pool/old", n),
    "clone-source": lambda z, n: z.clone(n, "pool/c"),
    "clone-target": lambda z, n: z.clone("pool/fs@s", n),
    "promote": lambda z, n: z.promote(n),
    "rollback": lambda z, n: z.rollback(n),
    "get_properties": lambda z, n: z.get_properties(n, ["zfsync:role"]),
    "get_properties-prop": lambda z, n: z.get_properties("pool/fs", [n]),
    "set_properties": lambda z, n: z.set_properties(n, {"zfsync:role": "x"}),
    "set_properties-prop": lambda z, n: z.set_properties("pool/fs", {n: "x"}),
    "inherit": lambda z, n: z.inherit(n, "zfsync:role"),
    "recv_abort": lambda z, n: z.recv_abort(n),
}


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("call", sorted(CALLS))
async def test_bad_names_never_reach_a_command(call: str, bad: str) -> None:
    ran: list[Sequence[str]] = []
    zfs = CliBackend(CommandRunner(observers=[ran.append]))
    with pytest.raises(InvalidNameError) as info:
        await CALLS[call](zfs, bad)
    assert ran == []
    assert str(info.value).startswith("invalid ")  # a ZFS name, property name or hold tag
