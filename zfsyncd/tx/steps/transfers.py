"""Several send|recv streams from one host to another, up to `parallel` at a time.

One step for all the datasets of a replica sync (rather than one SendReceive step each):
its readings are one `zfs list` per side whatever the number of streams, and the streams
run side by side (the executor runs one step at a time). Its zfs commands: one `zfs list`
of each side before, the two at once (one of both when they are on one host; capture, which
the first attempt of `do` reuses), and the streams. What was received (for the inverse) is
known from that reading when every stream is a plain incremental (a received snapshot keeps
its source's name and guid: _carried); a retry, a resumed stream, a -R or a full one reads
the targets once more after the streams. What one stream needs beyond a plain send:

- a resume token left on its target (a stream cut earlier, in this transaction or a
  previous one) is resumed first with `zfs send -t`; a stale one (its snapshot gone) is
  discarded with `zfs receive -A`, so nothing wedges a dataset;
- after a resume the target's newest snapshot may be newer than the planned base, so the
  base is taken again from what both sides hold now (by guid);
- a stream cut in the middle fails the step with a transient error, and the engine's retry
  of `do` resumes it from the token the receive (-s) kept.

`undo` discards partial receives, destroys what the step received (what was not in the
listing taken before), and rolls each dataset that received something back to its newest
snapshot from before: an incremental receive moves the head, which destroying the
snapshot alone would leave "written since its newest snapshot" (the next sync would see a
diverged destination).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from pydantic import Field, model_validator

from zfsyncd.tx.hosts import LOCAL, HostName, located
from zfsyncd.tx.steps.base import JsonDict, ReadForDo, Step, StepArgs, StepContext, register
from zfsyncd.tx.steps.received import TakeBackArgs, TakeBackReceived
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import DestroyMode, ZfsBackend
from zfsyncd.zfs.errors import StaleResumeTokenError
from zfsyncd.zfs.models import ObjectType, RecvSpec, SendSpec, TransferProgress, ZfsObject

#: streams one step runs at once at most (SyncRequest.parallel's bound)
MAX_PARALLEL = 16
_DATASETS = (ObjectType.FILESYSTEM, ObjectType.VOLUME)


class Stream(StepArgs):
    """One send|recv of the step."""

    send: SendSpec
    recv: RecvSpec

    @model_validator(mode="after")
    def _reversible(self) -> Stream:
        if self.send.snapshot is None:
            raise ValueError("a stream names its snapshot; resuming is the step's business")
        if self.recv.force:
            raise ValueError("a forced receive (-F) cannot be undone, so it is not a step")
        return self

    @property
    def snapshot(self) -> str:
        return self.send.snapshot or ""

    @property
    def dataset(self) -> str:
        return self.send.dataset or ""


class SendReceiveManyArgs(StepArgs):
    streams: tuple[Stream, ...] = Field(min_length=1)
    source: HostName = LOCAL
    target: HostName = LOCAL
    parallel: int = Field(default=1, ge=1, le=MAX_PARALLEL)

    @model_validator(mode="after")
    def _distinct(self) -> SendReceiveManyArgs:
        targets = [s.recv.target for s in self.streams]
        if len(set(targets)) != len(targets):
            raise ValueError("two streams of one step go to the same target")
        return self


#: per target: everything under it now (datasets and snapshots), name -> guid
Targets = dict[str, dict[str, int]]


#: what `capture` read, for the first attempt of `do` right after it
_Reading = tuple[dict[str, list[ZfsObject]], Targets, dict[str, str]]


@register
class SendReceiveMany(Step[SendReceiveManyArgs]):
    kind = "send-receive-many"
    Args = SendReceiveManyArgs

    def __init__(self, args: SendReceiveManyArgs) -> None:
        super().__init__(args)
        self._read_for_do: ReadForDo[_Reading] = ReadForDo()

    def describe(self) -> str:
        where = "" if self.args.target == LOCAL else f" on {self.args.target}"
        shown = ", ".join(
            f"{s.snapshot}{f' from {s.send.base}' if s.send.base else ''} to {s.recv.target}"
            for s in self.args.streams
        )
        many = f" ({self.args.parallel} at a time)" if self.args.parallel > 1 else ""
        return f"send {shown}{where}{many}"

    def datasets(self) -> set[str]:
        found = {located(self.args.source, s.dataset) for s in self.args.streams}
        return found | {located(self.args.target, s.recv.target) for s in self.args.streams}

    def _zfs(self, ctx: StepContext) -> tuple[ZfsBackend, ZfsBackend]:
        return ctx.host(self.args.source).zfs, ctx.host(self.args.target).zfs

    # ------------------------------------------------------------------ readings

    async def _targets(self, dst: ZfsBackend) -> tuple[Targets, dict[str, str]]:
        """Every target's datasets and snapshots (name -> guid), and the resume tokens
        found on them: one `zfs list -r`."""
        wanted = [s.recv.target for s in self.args.streams]
        listed = await dst.list_many(
            wanted, types=[*_DATASETS, ObjectType.SNAPSHOT], recursive=True
        )
        return self._targets_in(listed)

    def _targets_in(self, listed: Iterable[ZfsObject]) -> tuple[Targets, dict[str, str]]:
        """_targets from a listing that covers the targets (and maybe more)."""
        wanted = [s.recv.target for s in self.args.streams]
        found: Targets = {}
        tokens: dict[str, str] = {}
        for obj in listed:
            if obj.type not in (*_DATASETS, ObjectType.SNAPSHOT):
                continue
            for target in wanted:
                if names.is_descendant(obj.dataset, target):
                    found.setdefault(target, {})[obj.name] = obj.guid
            if obj.receive_resume_token and obj.name in wanted:
                tokens[obj.name] = obj.receive_resume_token
        return found, tokens

    def _sources(self) -> list[str]:
        return sorted({s.dataset for s in self.args.streams})

    async def _points(self, src: ZfsBackend) -> dict[str, list[ZfsObject]]:
        """The source datasets' snapshots and bookmarks, by dataset: one `zfs list`."""
        listed = await src.list_many(
            self._sources(), types=[ObjectType.SNAPSHOT, ObjectType.BOOKMARK], recursive=True
        )
        return self._points_in(listed)

    def _points_in(self, listed: Iterable[ZfsObject]) -> dict[str, list[ZfsObject]]:
        """_points from a listing that covers the source datasets (and maybe more)."""
        sources = self._sources()
        found: dict[str, list[ZfsObject]] = {}
        for obj in listed:
            if obj.type not in (ObjectType.SNAPSHOT, ObjectType.BOOKMARK):
                continue
            if any(names.is_descendant(obj.dataset, d) for d in sources):
                found.setdefault(obj.dataset, []).append(obj)
        return found

    async def _both(
        self, ctx: StepContext
    ) -> tuple[dict[str, list[ZfsObject]], tuple[Targets, dict[str, str]]]:
        """The sources' points and the targets, read at the same time: two commands that
        do not depend on each other (two hosts), so the step waits for the slower one
        rather than for both in turn; one `zfs list` of both when they are on one host
        (two pools of it: each object listed once, sorted out by where it lies)."""
        src, dst = self._zfs(ctx)
        if self.args.source != self.args.target:
            return await asyncio.gather(self._points(src), self._targets(dst))
        roots = sorted({*self._sources(), *(s.recv.target for s in self.args.streams)})
        listed = await src.list_many(roots, recursive=True)
        return self._points_in(listed), self._targets_in(listed)

    async def check(self, ctx: StepContext) -> bool:
        points, (targets, _) = await self._both(ctx)
        return all(_received(s, points, targets) for s in self.args.streams)

    async def capture(self, ctx: StepContext) -> JsonDict:
        """The targets as they are before (for undo), read with the sources' points: the
        first attempt of `do`, which the executor runs right after (nothing between but
        the journal's commit of this reading; the step's datasets are locked), starts
        from this reading instead of reading both sides again."""
        points, (targets, tokens) = await self._both(ctx)
        self._read_for_do.keep((points, targets, tokens))
        return {
            "before": {s.recv.target: targets.get(s.recv.target, {}) for s in self.args.streams}
        }

    # ------------------------------------------------------------------ doing

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        src, dst = self._zfs(ctx)
        captured = self._read_for_do.take()
        if captured is not None:
            points, targets, tokens = captured
        else:  # a retry (a stream cut: the target has a token now) reads again
            points, (targets, tokens) = await self._both(ctx)
        moved: dict[str, int] = {}
        totals: dict[str, int] = {}
        # a stream is shown by the dataset it sends (what `replica sync` names)
        shown = {s.recv.target: s.dataset for s in self.args.streams}

        def report(target: str, progress: TransferProgress) -> None:
            ctx.stream(shown[target], progress)
            moved[target] = progress.bytes_done
            if progress.bytes_total is not None:
                totals[target] = progress.bytes_total
            known = len(totals) == len(self.args.streams)
            ctx.progress(
                TransferProgress(
                    bytes_done=sum(moved.values()),
                    bytes_total=sum(totals.values()) if known else None,
                )
            )

        gate = asyncio.Semaphore(self.args.parallel)

        async def one(stream: Stream) -> None:
            token = tokens.get(stream.recv.target)
            async with gate:
                # a token is resumed or discarded even when the snapshot is there already
                if token is not None or not _received(stream, points, targets):
                    # shown as running from now on, before its first byte (a slow start)
                    ctx.stream(stream.dataset, TransferProgress(bytes_done=0, bytes_total=None))
                    try:
                        await self._send(stream, src, dst, points, token, report)
                    finally:
                        ctx.stream_ended(stream.dataset)

        # what each stream is to bring, decided before any runs (by the reading it ran from)
        carried = _carried(self.args.streams, points, targets, tokens) if captured else None
        results = await asyncio.gather(*(one(s) for s in self.args.streams), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            # the others ran to their end; a retry of `do` skips what they received
            raise failed[0]
        if carried is None:
            now, _ = await self._targets(dst)
            carried = {
                target: {n: g for n, g in now.get(target, {}).items() if n not in had}
                for target, had in before["before"].items()
            }
        return {
            "received": carried,
            # bytes each target's stream moved in this attempt (none: nothing to send), kept
            # with the step for the metrics' bytes sent per dataset and target
            "sent": {target: moved.get(target, 0) for target in before["before"]},
        }

    async def _send(
        self,
        stream: Stream,
        src: ZfsBackend,
        dst: ZfsBackend,
        points: dict[str, list[ZfsObject]],
        token: str | None,
        report: Any,
    ) -> None:
        target = stream.recv.target

        def progress(p: TransferProgress) -> None:
            report(target, p)

        spec = stream.send
        if token is not None:
            try:
                await src.send_recv(
                    SendSpec(resume_token=token), dst, stream.recv, progress=progress
                )
            except StaleResumeTokenError:
                await dst.recv_abort(target)  # its snapshot is gone: nothing can finish it
            # what the target holds now decides the base (the resumed stream moved it on)
            listed = await dst.list_many([target], types=[ObjectType.SNAPSHOT], recursive=True)
            held = {o.guid: o for o in listed if o.dataset == target}
            wanted = _guid(points, stream.snapshot)
            if wanted is not None and wanted in held:
                return
            spec = _rebased(stream, points, held)
        await src.send_recv(spec, dst, stream.recv, progress=progress)

    # ------------------------------------------------------------------ undoing

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        dst = self._zfs(ctx)[1]
        targets, tokens = await self._targets(dst)
        for target in tokens:
            await dst.recv_abort(target)
        if tokens:
            targets, _ = await self._targets(dst)
        before: dict[str, dict[str, int]] = undo_data["before"]
        for stream in self.args.streams:
            target = stream.recv.target
            had, now = before.get(target, {}), targets.get(target, {})
            if not had:
                if target in now:
                    await dst.destroy(target, mode=DestroyMode.RECURSIVE)
                continue
            received = [n for n in now if n not in had]
            for snap in reversed([n for n in received if "@" in n]):
                await dst.destroy(snap)
            # the datasets a -R stream made, deepest first
            for dataset in sorted(
                (n for n in received if "@" not in n), key=lambda n: -n.count("/")
            ):
                await dst.destroy(dataset, mode=DestroyMode.RECURSIVE)
            # an incremental moved the head on: without its snapshot, the dataset would
            # count as written since its newest one, and the next receive would refuse it
            for snapshot in _newest_before(had, {names.dataset_of(n) for n in received}):
                await dst.rollback(snapshot)

    def inverse(self, undo_data: JsonDict) -> Step[Any] | None:
        """The received snapshots taken back and each target's head back at its base
        (received.py), when the streams only added snapshots to targets that had one."""
        received: dict[str, dict[str, int]] = undo_data.get("received", {})
        before: dict[str, dict[str, int]] = undo_data["before"]
        if any(not had for had in before.values()):
            return None  # a stream made its target: not this inverse's to destroy
        snapshots = {n: g for got in received.values() for n, g in got.items() if "@" in n}
        if not snapshots or len(snapshots) != sum(len(g) for g in received.values()):
            return None  # a -R stream made a dataset
        bases: dict[str, str] = {}
        for target, got in received.items():
            for base in _newest_before(before.get(target, {}), {names.dataset_of(n) for n in got}):
                bases[names.dataset_of(base)] = base
        if any(names.dataset_of(n) not in bases for n in snapshots):
            return None  # a dataset that had no snapshot before received one
        return TakeBackReceived(
            TakeBackArgs(host=self.args.target, snapshots=snapshots, bases=bases)
        )

    def why_final(self) -> str:
        return (
            f"{self.describe()}: it made a dataset (a full stream, or a -R stream's new "
            "child), which a rollback does not destroy"
        )


def _newest_before(had: dict[str, int], datasets: set[str]) -> list[str]:
    """The newest snapshot each of `datasets` had before (a listing keeps each dataset's
    snapshots oldest first), for those that had one."""
    newest: dict[str, str] = {}
    for name in had:
        if "@" in name and names.dataset_of(name) in datasets:
            newest[names.dataset_of(name)] = name
    return [newest[d] for d in sorted(newest)]


def _carried(
    streams: tuple[Stream, ...],
    points: dict[str, list[ZfsObject]],
    targets: Targets,
    tokens: dict[str, str],
) -> Targets | None:
    """What each target receives, by name -> guid, known before the streams run, or None
    when a reading after them must tell: a received snapshot keeps its source's guid and
    name, and an incremental of one dataset brings its snapshot (-i), or every snapshot of
    the source after the base up to it (-I: zfs send's intermediates, by createtxg), and
    nothing else. So the reading of the targets after the streams is left out when each
    stream is such an incremental, started from the reading `capture` made (the first
    attempt of `do`: a retry or a resumed stream may find part of it there already) with
    no resume token, or finds its snapshot there already (nothing received). A -R stream
    may make datasets, and a full one makes its target: those read after."""
    carried: Targets = {}
    for stream in streams:
        target = stream.recv.target
        if _received(stream, points, targets) and target not in tokens:
            carried[target] = {}
            continue
        spec = stream.send
        if target in tokens or spec.replicate or spec.base is None or not targets.get(target):
            return None
        mine = points.get(stream.dataset, [])
        base = next((o for o in mine if o.name == spec.base), None)
        top = next((o for o in mine if o.name == stream.snapshot), None)
        if base is None or top is None:
            return None  # (its send fails: nothing is received)
        brought = [top]
        if spec.intermediates:
            brought = [
                o
                for o in mine
                if o.type is ObjectType.SNAPSHOT and base.createtxg < o.createtxg <= top.createtxg
            ]
        # oldest first, as a listing of the target would give them (TakeBackArgs)
        brought.sort(key=lambda o: o.createtxg)
        carried[target] = {f"{target}@{o.short_name}": o.guid for o in brought}
    return carried


def _guid(points: dict[str, list[ZfsObject]], name: str) -> int | None:
    found = next((o for o in points.get(names.dataset_of(name), []) if o.name == name), None)
    return None if found is None else found.guid


def _received(stream: Stream, points: dict[str, list[ZfsObject]], targets: Targets) -> bool:
    """Is the stream's snapshot on its target (by guid)?"""
    wanted = _guid(points, stream.snapshot)
    return wanted is not None and wanted in targets.get(stream.recv.target, {}).values()


def _rebased(
    stream: Stream, points: dict[str, list[ZfsObject]], held: dict[int, ZfsObject]
) -> SendSpec:
    """The stream's send from the newest point both sides hold now (a snapshot rather than
    its bookmark), by the target's order; the planned send when nothing is shared (a
    full stream, or one whose receive will say what is wrong)."""
    shared = [o for o in points.get(stream.dataset, []) if o.guid in held]
    if not shared:
        return stream.send
    newest = max(
        shared,
        key=lambda o: (held[o.guid].createtxg, o.type is ObjectType.SNAPSHOT),
    )
    bookmark = newest.type is ObjectType.BOOKMARK
    return stream.send.model_copy(update={"base": newest.name, "intermediates": not bookmark})
