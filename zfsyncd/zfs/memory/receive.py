"""The receive side: `send_recv`, `recv_abort`, and `Receiver`, which applies streams.

`Receiving.send_recv` moves a plan (send.py) chunk by chunk into a target model, yielding
to the loop at every chunk so that a cancellation lands mid-stream, and reports progress.
`Receiver` does what `zfs receive` does with each stream: the checks before the first
byte (exists without -F, base mismatch, modified since the base, partial state, keys,
space), applying a complete stream, -F's rollback and -R -F's pruning, and keeping a cut
stream as partial state with a resume token when the receive is resumable.
"""

from __future__ import annotations

import asyncio
import time

from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ProgressCallback
from zfsyncd.zfs.errors import TransferDetails, ZfsCommandError
from zfsyncd.zfs.memory.objects import Crypt, Dataset, Partial, Snapshot
from zfsyncd.zfs.memory.rules import NATIVE, check_native_value
from zfsyncd.zfs.memory.send import Sending
from zfsyncd.zfs.memory.streams import Plan, Stream, encode_token
from zfsyncd.zfs.memory.tree import Tree, fail
from zfsyncd.zfs.models import RecvSpec, SendSpec, TransferProgress, TransferResult

#: bytes moved between two progress reports (and two chances to cancel)
CHUNK_BYTES = 128 * 1024


class Receiving(Sending):
    async def send_recv(
        self,
        spec: SendSpec,
        target: Tree,
        recv: RecvSpec,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransferResult:
        """Send from this model into `target` (this one or another MemoryBackend).

        An error of the send side found before anything moved comes bare (CliBackend's
        carries the receive's complaint of an empty stream beside it); an error of the
        receive side carries `transfer` details. Every chunk yields to the loop, so a
        cancellation lands mid-stream: with `recv.resumable` the target keeps the part it
        got and a token.
        """
        if not isinstance(target, Tree):
            raise TypeError("a MemoryBackend sends only into a MemoryBackend")
        started = time.monotonic()
        plan = self._plan(spec)
        total = plan.nbytes
        receiver = Receiver(target, recv, plan)
        done = 0
        try:
            receiver.check_properties()
            if plan.replicate and recv.force:
                receiver.prune()
            for stream in plan.streams:
                receiver.begin(stream)
                # space that runs out mid-stream ends it there, as a cut does (real: with
                # -s the part received is kept, seen for a quota in the lab)
                room = min(stream.remaining, receiver.room(stream))
                moved = 0
                while moved < room:
                    try:
                        await asyncio.sleep(0)
                    except asyncio.CancelledError:
                        receiver.cut(stream, moved)
                        raise
                    step = min(CHUNK_BYTES, room - moved)
                    moved += step
                    done += step
                    if progress is not None:
                        progress(TransferProgress(bytes_done=done, bytes_total=total))
                if moved < stream.remaining:
                    error = receiver.out_of_space(stream)
                    receiver.cut(stream, moved)
                    raise error
                receiver.commit(stream)
        except ZfsCommandError as exc:
            exc.transfer = TransferDetails(send_error=None, recv_error=exc, bytes_done=done)
            raise
        return TransferResult(
            bytes_done=done, bytes_estimated=total, seconds=time.monotonic() - started
        )

    async def recv_abort(self, dataset: str) -> None:
        names.check_dataset(dataset)
        argv = ["zfs", "receive", "-A", dataset]
        ds = self._open_dataset(argv, dataset)
        if ds.partial is None:
            raise fail(argv, f"'{dataset}' does not have any resumable receive state to abort")
        if ds.partial.new_fs:
            self._remove_datasets([ds])  # real: the half-made dataset goes entirely
        else:
            ds.partial = None
        self._txg(ds.pool)


class Receiver:
    """The receive side of one transfer into a MemoryBackend: per stream, checks before
    the first byte (`begin`), applies it (`commit`), or keeps a cut one (`cut`)."""

    def __init__(self, model: Tree, recv: RecvSpec, plan: Plan) -> None:
        self.m = model
        self.recv = recv
        self.plan = plan
        flags = [f for f, on in (("-F", recv.force), ("-s", recv.resumable)) if on]
        self.argv = ["zfs", "receive", *flags, recv.target]

    def fail(self, message: str) -> ZfsCommandError:
        return fail(self.argv, message)

    def target_of(self, stream: Stream) -> str:
        return self.recv.target + stream.relative

    def check_properties(self) -> None:
        """-o/-x name real properties (RecvSpec checked the syntax already)."""
        for prop in [*self.recv.properties, *self.recv.exclude_properties]:
            if ":" not in prop and (prop not in NATIVE or not NATIVE[prop].editable):
                raise self.fail(f"cannot receive: cannot receive: invalid property '{prop}'")
        for prop, value in self.recv.properties.items():
            if ":" not in prop:
                _, problem = check_native_value(prop, value)
                if problem is not None:
                    raise self.fail(f"cannot receive: {problem}")

    def prune(self) -> None:
        """-R -F: before receiving, destroy what the target has that the source no longer
        has: snapshots and whole datasets (real, checked in the lab)."""
        top = self.m._dataset(self.recv.target)
        if top is None:
            return
        for ds in reversed(self.m._subtree(top)):
            relative = ds.name[len(top.name) :]
            keep = self.plan.source_snapshots.get(relative)
            if keep is None:
                if not any(s.holds for s in ds.snapshots.values()):
                    self.m._remove_datasets(self.m._dependents_closure([ds]))
                continue
            for snap in ds.ordered_snapshots():
                if snap.guid not in keep and not snap.holds and not self.m._clones_of(snap):
                    del ds.snapshots[snap.short]

    # ------------------------------------------------------------------- checks

    def begin(self, stream: Stream) -> None:
        """Check that the stream can apply at all; raise as real receive does."""
        name = self.target_of(stream)
        ds = self.m._dataset(name)
        if stream.offset:
            self._begin_resume(stream, name, ds)
        elif stream.from_guid == 0:
            self._begin_full(stream, name, ds)
        else:
            self._begin_incremental(stream, name, ds)
        if self.room(stream) == 0:
            raise self.out_of_space(stream)

    def room(self, stream: Stream) -> int:
        """How many of the stream's bytes the target has space for (pool, quotas)."""
        name = self.target_of(stream)
        free = self.m.pool_free(names.pool_of(name))
        holder = self.m._dataset(name) or self.m._dataset(names.parent_of(name) or "")
        quota = self.m._quota_room(holder)
        return min(free, free if quota is None else quota)

    def out_of_space(self, stream: Stream) -> ZfsCommandError:
        name = self.target_of(stream)
        what = "new filesystem" if stream.from_guid == 0 else "incremental"
        free = self.m.pool_free(names.pool_of(name))
        if self.room(stream) < free:
            return self.fail(
                f"cannot receive {what} stream: destination {name} space quota exceeded."
            )
        return self.fail(f"cannot receive {what} stream: out of space")

    def _begin_resume(self, stream: Stream, name: str, ds: Dataset | None) -> None:
        partial = None if ds is None else ds.partial
        if (
            partial is None
            or partial.to_guid != stream.to_guid
            or partial.bytes_done != stream.offset
        ):
            raise self.fail(
                f"cannot receive resume stream: destination '{name}' has no "
                "matching partially-complete state"
            )

    def _begin_full(self, stream: Stream, name: str, ds: Dataset | None) -> None:
        prefix = "cannot receive new filesystem stream"
        if ds is not None:
            if not self.recv.force:
                raise self.fail(
                    f"{prefix}: destination '{name}' exists\nmust specify -F to overwrite it"
                )
            self._check_no_partial(prefix, name, ds)
            latest = ds.latest()
            if latest is not None:
                raise self.fail(
                    f"{prefix}: destination has snapshots (eg. {latest.name})\n"
                    "must destroy them to overwrite it"
                )
            return
        parent = self.m._dataset(names.parent_of(name) or "")
        if parent is None:
            missing = names.parent_of(name) or name
            raise self.fail(
                f"cannot open '{missing}': dataset does not exist\n{prefix}: "
                "unable to restore to destination"
            )
        self._check_key(prefix, stream, parent)

    def _begin_incremental(self, stream: Stream, name: str, ds: Dataset | None) -> None:
        prefix = "cannot receive incremental stream"
        if ds is None:
            raise self.fail(f"{prefix}: destination '{name}' does not exist")
        self._check_no_partial(prefix, name, ds)
        existing = ds.snapshots.get(stream.to_short)
        if existing is not None:
            if existing.guid == stream.to_guid:
                return  # real: a snapshot it already has is skipped, quietly
            raise self.fail(f"cannot restore to {existing.name}: destination already exists")
        base = self._base(ds, stream)
        if base is None:
            raise self.fail(
                f"{prefix}: most recent snapshot of {name} does not\nmatch incremental source"
            )
        if not self.recv.force and ds.birth > base.createtxg:
            # real asks whether the head changed since the *base*, not since the latest:
            # newer untouched snapshots on the target do not stop an incremental
            raise self.fail(
                f"{prefix}: destination {name} has been modified\nsince most recent snapshot"
            )
        self._check_key(prefix, stream, ds)
        if self.recv.force:
            for snap in ds.ordered_snapshots():
                if snap.createtxg > base.createtxg and (snap.holds or self.m._clones_of(snap)):
                    raise self.fail(f"{prefix}: dataset is busy")

    def _check_no_partial(self, prefix: str, name: str, ds: Dataset) -> None:
        """Only a resume stream may go where a cut receive left partial state."""
        if ds.partial is not None:
            raise self.fail(
                f"{prefix}: destination {name} contains partially-complete state "
                'from "zfs receive -s".'
            )

    def _check_key(self, prefix: str, stream: Stream, holder: Dataset) -> None:
        """A stream that is not raw is written under the key `holder` is encrypted with:
        that key must be loaded."""
        if stream.raw_cipher is None and holder.crypt is not None and not holder.crypt.key_loaded:
            raise self.fail(f"{prefix}: inherited key must be loaded")

    @staticmethod
    def _base(ds: Dataset, stream: Stream) -> Snapshot | None:
        return next((s for s in ds.snapshots.values() if s.guid == stream.from_guid), None)

    # ------------------------------------------------------------------- apply

    def commit(self, stream: Stream) -> None:
        name = self.target_of(stream)
        pool = names.pool_of(name)
        ds = self.m._dataset(name)
        if (
            ds is not None
            and ds.snapshots.get(stream.to_short) is not None
            and ds.snapshots[stream.to_short].guid == stream.to_guid
        ):
            return  # skipped: the target had it
        txg = self.m._txg(pool)
        if ds is None or (stream.from_guid == 0 and not ds.half_made):
            ds = self._fresh_dataset(stream, name, ds, txg)
        elif stream.from_guid and not stream.offset:
            self._roll_back_to_base(ds, stream)
        ds.partial = None
        ds.content = stream.content
        ds.birth = txg
        ds.snapshots[stream.to_short] = Snapshot(
            ds,
            stream.to_short,
            stream.to_guid,
            txg,
            stream.creation,
            stream.content,
            txg,
            received=dict(stream.snap_props),
        )
        if stream.props is not None:
            excluded = set(self.recv.exclude_properties)
            ds.received = {
                p: v for p, v in stream.props.items() if p not in excluded and p != "keylocation"
            }
            if "keylocation" in stream.props and ds.crypt is not None and ds.crypt.root is ds:
                ds.local["keylocation"] = stream.props["keylocation"]
        if stream.relative == "" and not stream.offset:
            ds.local.update(self.recv.properties)

    def _fresh_dataset(self, stream: Stream, name: str, old: Dataset | None, txg: int) -> Dataset:
        """The dataset a full stream makes (or, with -F, replaces an empty one with)."""
        if old is not None:
            old.content = ()
            return old
        ds = self.m._add_dataset(name, stream.type, txg)
        ds.volsize = stream.volsize
        if stream.raw_cipher is not None:
            # raw: still encrypted, key not loaded; its encryption root is the received
            # copy of the source's root when that came in the same stream, else itself
            cipher, keyformat = stream.raw_cipher
            root = None
            if stream.raw_root is not None and stream.raw_root != stream.relative:
                root = self.m._dataset(self.recv.target + stream.raw_root)
            ds.crypt = Crypt(cipher, keyformat, root or ds, loaded=False)
            if root is None:
                # a raw stream without -p cannot say where the key is: real sets 'prompt'
                ds.local["keylocation"] = "prompt"
        return ds

    def _roll_back_to_base(self, ds: Dataset, stream: Stream) -> None:
        """-F: forget what the target did after the base (newer snapshots, writes)."""
        base = self._base(ds, stream)
        if base is None or not self.recv.force:
            return
        for snap in ds.ordered_snapshots():
            if snap.createtxg > base.createtxg:
                del ds.snapshots[snap.short]

    def cut(self, stream: Stream, moved: int) -> None:
        """The stream stopped after `moved` bytes: keep it when the receive is resumable
        and got anything at all (real: nothing to keep before the begin record)."""
        if not self.recv.resumable or moved == 0:
            return
        name = self.target_of(stream)
        ds = self.m._dataset(name)
        done = stream.offset + moved
        token = encode_token(
            {
                "toname": stream.source_name,
                "toguid": stream.to_guid,
                "fromguid": stream.from_guid,
                "bytes": done,
                "raw": stream.raw,
            }
        )
        if ds is None:
            ds = self.m._add_dataset(name, stream.type, self.m._txg(names.pool_of(name)))
            if stream.raw_cipher is not None:
                ds.crypt = Crypt(*stream.raw_cipher, root=ds, loaded=False)
            ds.partial = Partial(token, True, stream.to_guid, 0, done)
            return
        new_fs = ds.half_made or stream.from_guid == 0
        ds.partial = Partial(token, new_fs, stream.to_guid, stream.from_guid, done)
