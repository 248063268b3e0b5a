"""The send|recv step: undo removes what was received, or discards a partial receive."""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from zfsyncd.tx.hosts import LOCAL, HostName, located
from zfsyncd.tx.steps.base import JsonDict, Step, StepArgs, StepContext, register
from zfsyncd.tx.steps.datasets import DestroyDataset, DestroyDatasetArgs
from zfsyncd.tx.steps.lookup import guid_of
from zfsyncd.tx.steps.snapshots import DestroySnapshots, DestroySnapshotsArgs
from zfsyncd.zfs.backend import DestroyMode, ZfsBackend
from zfsyncd.zfs.errors import NotFoundError, StaleResumeTokenError
from zfsyncd.zfs.models import ObjectType, RecvSpec, SendSpec


class SendReceiveArgs(StepArgs):
    send: SendSpec
    recv: RecvSpec
    #: the hosts the stream comes from and goes to (names in the StepContext)
    source: HostName = LOCAL
    target: HostName = LOCAL

    @model_validator(mode="after")
    def _reversible(self) -> SendReceiveArgs:
        if self.send.snapshot is None:
            raise ValueError("a transfer step names its snapshot; resuming is its own business")
        if self.recv.force:
            # -F rolls the target back and may destroy its snapshots: no undo could restore them
            raise ValueError("a forced receive (-F) cannot be undone, so it is not a step")
        return self


@register
class SendReceive(Step[SendReceiveArgs]):
    kind = "send-receive"
    Args = SendReceiveArgs

    def describe(self) -> str:
        base = f" from {self.args.send.base}" if self.args.send.base else ""
        where = "" if self.args.target == LOCAL else f" on {self.args.target}"
        return f"send {self.args.send.snapshot}{base} to {self.args.recv.target}{where}"

    def datasets(self) -> set[str]:
        source = self.args.send.dataset or ""
        return {
            located(self.args.source, source),
            located(self.args.target, self.args.recv.target),
        }

    async def _on_target(self, dst: ZfsBackend) -> dict[str, int]:
        """Everything under the target now (datasets and snapshots), by name -> guid."""
        if await guid_of(dst, self.args.recv.target) is None:
            return {}
        objects = await dst.list(
            self.args.recv.target,
            types=[ObjectType.FILESYSTEM, ObjectType.VOLUME, ObjectType.SNAPSHOT],
        )
        return {o.name: o.guid for o in objects}

    async def check(self, ctx: StepContext) -> bool:
        src, dst = ctx.host(self.args.source).zfs, ctx.host(self.args.target).zfs
        snapshot = self.args.send.snapshot or ""
        wanted = await guid_of(src, snapshot)
        return wanted is not None and wanted in (await self._on_target(dst)).values()

    async def estimate(self, ctx: StepContext) -> int | None:
        try:
            return await ctx.host(self.args.source).zfs.send_estimate(self.args.send)
        except NotFoundError:
            return None  # an earlier step of the same transaction makes the snapshot

    async def capture(self, ctx: StepContext) -> JsonDict:
        return {"before": await self._on_target(ctx.host(self.args.target).zfs)}

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        src, dst = ctx.host(self.args.source).zfs, ctx.host(self.args.target).zfs
        if not await self.check(ctx) and not await self._resume(ctx, src, dst):
            await src.send_recv(self.args.send, dst, self.args.recv, progress=ctx.progress)
        now = await self._on_target(dst)
        return {"received": {n: g for n, g in now.items() if n not in before["before"]}}

    async def _resume(self, ctx: StepContext, src: ZfsBackend, dst: ZfsBackend) -> bool:
        """Finish an interrupted earlier attempt from its resume token, if there is one."""
        try:
            token = (await dst.get(self.args.recv.target)).receive_resume_token
        except NotFoundError:  # no target, no token: start from the beginning
            return False
        if token is None:
            return False
        try:
            await src.send_recv(
                SendSpec(resume_token=token), dst, self.args.recv, progress=ctx.progress
            )
        except StaleResumeTokenError:
            await dst.recv_abort(self.args.recv.target)
            return False
        return True

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        dst = ctx.host(self.args.target).zfs
        target = self.args.recv.target
        existing = await self._on_target(dst)
        if target in existing and (await dst.get(target)).receive_resume_token:
            await dst.recv_abort(target)
            existing = await self._on_target(dst)
        before: dict[str, int] = undo_data["before"]
        if not before:
            if target in existing:
                await dst.destroy(target, mode=DestroyMode.RECURSIVE)
            return
        received = [n for n in existing if n not in before]
        # snapshots first, then the datasets the stream made (-R), deepest first
        for snap in (n for n in received if "@" in n):
            await dst.destroy(snap)
        for dataset in sorted((n for n in received if "@" not in n), key=lambda n: -n.count("/")):
            await dst.destroy(dataset, mode=DestroyMode.RECURSIVE)

    def inverse(self, undo_data: JsonDict) -> Step[Any] | None:
        # what was received is taken back on the host that received it
        host = self.args.target
        received: dict[str, int] = undo_data.get("received", {})
        if not undo_data["before"]:
            guid = received.get(self.args.recv.target)
            return DestroyDataset(
                DestroyDatasetArgs(host=host, name=self.args.recv.target, guid=guid)
            )
        snapshots = {n: g for n, g in received.items() if "@" in n}
        if not snapshots:
            return None
        return DestroySnapshots(DestroySnapshotsArgs(host=host, snapshots=snapshots))

    def why_final(self) -> str:
        return f"{self.describe()}: nothing was received that a rollback could remove"
