"""`MemoryBackend`: an in-memory model of OpenZFS 2.3 that honours the `ZfsBackend` protocol.

It exists so that everything above zfs/ can be tested in milliseconds, including failures
half-way through a transaction. It is only worth that if it behaves like the real thing, so
tests/contract/ runs one suite against both this model and real pools in the OpenZFS lab;
where they disagree, the model is wrong. The rules below were read off a real OpenZFS 2.3.2
pool (each non-obvious one says so), not guessed from the manual.

How it models ZFS:
- Data is a sequence of `Write`s (test helper `write()`); a snapshot keeps the sequence
  the dataset had, so a stream's size is what the writes between its two ends add up to,
  and `send_estimate` predicts exactly the bytes `send_recv` then moves.
- Every change takes a new txg of its pool; several snapshots in one call share one.
- A dataset is "modified since" a snapshot when its head changed in a later txg (what
  `dsl_dataset_modified_since_snap` asks).
- Errors are made the way the real backend makes them: the model composes the stderr that
  real zfs prints for the case and passes it through `errors.classify`, so a failure gets
  the same class from both backends, and a fix to the patterns fixes both.

Test-only helpers (never used by production code) are public and say so: `write`,
`fill_pool`, `add_pool`, `pool_free`, `unload_key`.

Where things are, each module a part of the model (the state first, then mixins on it):
- objects.py     the records: pools, datasets, snapshots, bookmarks, writes, encryption
- tree.py        `Tree`: the state, lookups and walks, txgs, space, `fail`; test helpers
- rules.py       the native properties the model knows and what values each accepts
- values.py      what an object shows: its `zfs list` row, each property's value and source
- listing.py     capabilities, list, get, exists
- properties.py  get_properties, local_properties, set_properties, inherit
- snapshots.py   snapshot, hold, release, holds, bookmark
- datasets.py    create, rename, clone, promote, rollback
- destroy.py     destroy (snapshots, bookmarks, datasets; -r and -R)
- streams.py     streams, send plans and resume tokens
- send.py        what a send would send; send_estimate
- receive.py     send_recv, recv_abort and the receiving side of a stream
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from zfsyncd.zfs import names, programs
from zfsyncd.zfs.memory.datasets import Datasets
from zfsyncd.zfs.memory.destroy import Destroying
from zfsyncd.zfs.memory.listing import Listing
from zfsyncd.zfs.memory.objects import EMPTY_DATASET_BYTES
from zfsyncd.zfs.memory.properties import Properties
from zfsyncd.zfs.memory.receive import CHUNK_BYTES, Receiving
from zfsyncd.zfs.memory.snapshots import Snapshots
from zfsyncd.zfs.memory.streams import FULL_STREAM_BYTES, INCREMENTAL_STREAM_BYTES
from zfsyncd.zfs.memory.tree import DEFAULT_POOL_SIZE
from zfsyncd.zfs.models import Hold, ReachedSnapshot

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_POOL_SIZE",
    "EMPTY_DATASET_BYTES",
    "FULL_STREAM_BYTES",
    "INCREMENTAL_STREAM_BYTES",
    "MemoryBackend",
]


class MemoryBackend(Listing, Properties, Snapshots, Datasets, Destroying, Receiving):
    """An in-memory model of the pools of one host; see the package docstring.

    `MemoryBackend(pools=("src", "dst"), *, pool_size=1 TiB, seed=None, clock=time.time)`
    (the constructor is `tree.Tree`'s): `pools` exist from the start, each with its root
    dataset, `pool_size` bytes large. `seed` makes guids reproducible; `clock` gives the
    creation times.
    """

    async def snapshot_guids(
        self,
        snapshots: Sequence[str],
        *,
        recursive: bool = False,
        properties: Mapping[str, str] | None = None,
    ) -> dict[str, int]:
        """Real zfs answers from the channel program that made them (programs.py); the
        model reads them back as an OpenZFS without programs does."""
        await self.snapshot(snapshots, recursive=recursive, properties=properties)
        made = await programs.listed_after(self, snapshots, recursive)
        return {o.name: o.guid for o in made}

    async def list_reached(
        self, snapshots: Sequence[str], *, holds: bool = False
    ) -> tuple[list[ReachedSnapshot], list[Hold]]:
        """Real zfs answers with a read-only channel program; the model as an OpenZFS
        without programs does."""
        for snap in snapshots:
            names.check_snapshot(snap)
        if not snapshots:
            return [], []
        return await programs.reached_by_listing(self, snapshots, holds=holds)
