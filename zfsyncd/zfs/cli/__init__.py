"""`CliBackend`: the ZfsBackend that runs the real zfs commands.

Each method checks its names (zfsyncd.zfs.names) before it builds an argv, so a bad name
never reaches a command line; then it runs one zfs command through its `CommandRunner`,
whose failures arrive as typed errors.

Where things are, each module a part of the backend (the base first, then the parts on it):
- command.py   `ZfsCommand`: the runner, running zfs, names in ARGV_BUDGET batches,
               capabilities
- reading.py   list, list_many, settle, get, exists, holds, holds_many, get_properties,
               local_properties
- changing.py  create, snapshot, destroy, destroy_snapshots, hold, release, bookmark,
               rename, clone, promote, rollback, set_properties, inherit, set_many,
               inherit_many
- channel.py   what a channel program does in one command: list_reached, snapshot_guids,
               bookmark_many (the plain commands where there are no programs)
- sending.py   send_estimate, send_recv, recv_abort
"""

from __future__ import annotations

from zfsyncd.zfs.cli.channel import ChannelPrograms
from zfsyncd.zfs.cli.sending import Sending

__all__ = ["CliBackend"]


class CliBackend(ChannelPrograms, Sending):
    """ZFS through the zfs command, locally or through the runner's transport (ssh)."""
