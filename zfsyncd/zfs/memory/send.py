"""`Sending`: the send side: what `zfs send` would send, and `send_estimate`.

A `SendSpec` becomes a `Plan` (streams.py): full or incremental, -i or -I, -R over the
subtree, -p properties, -w raw encrypted streams, or the rest of a cut stream from a
resume token; or the error real send gives (a base that is not earlier, an encrypted
dataset sent with properties but not raw, a key not loaded). The estimate is the plan's
size, which is exactly what `send_recv` (receive.py) then moves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from zfsyncd.zfs import names
from zfsyncd.zfs.memory.objects import Bookmark, Dataset, Snapshot, added, content_bytes
from zfsyncd.zfs.memory.rules import SENT_NATIVE
from zfsyncd.zfs.memory.streams import (
    FULL_STREAM_BYTES,
    INCREMENTAL_STREAM_BYTES,
    Plan,
    Stream,
    decode_token,
)
from zfsyncd.zfs.memory.tree import Tree, fail
from zfsyncd.zfs.models import SendSpec


class Sending(Tree):
    async def send_estimate(self, spec: SendSpec) -> int:
        return self._plan(spec).nbytes

    def _plan(self, spec: SendSpec) -> Plan:
        """What `zfs send` would send; raises what real send says when it cannot."""
        if spec.resume_token is not None:
            return self._plan_resume(spec.resume_token)
        if spec.snapshot is None:  # SendSpec's validator makes this unreachable
            raise ValueError("a send needs a snapshot or a resume token")
        argv = ["zfs", "send", spec.snapshot]
        snap = self._open_snapshot(argv, spec.snapshot)
        base: Snapshot | Bookmark | None = None
        if spec.base is not None:
            base = self._open_base(argv, spec.base)
            if base.createtxg >= snap.createtxg:
                # real: -I and -i find this in different places and say it differently
                if spec.intermediates:
                    raise fail(
                        argv,
                        f"WARNING: could not send {spec.snapshot}:\n"
                        f"incremental source ({spec.base}) does not exist",
                    )
                raise fail(
                    argv,
                    f"warning: cannot send '{spec.snapshot}': not an "
                    "earlier snapshot from the same fs",
                )
        top = snap.dataset
        sent = (
            [d for d in self._subtree(top) if snap.short in d.snapshots]
            if spec.replicate
            else [top]
        )
        plan = Plan(streams=[], replicate=spec.replicate)
        for ds in sent:
            self._check_sendable(argv, spec, ds)
            relative = ds.name[len(top.name) :]
            to = ds.snapshots[snap.short]
            plan.source_snapshots[relative] = {
                s.guid for s in ds.snapshots.values() if s.createtxg <= to.createtxg
            }
            plan.streams += self._dataset_streams(spec, top, ds, to, base)
        return plan

    @staticmethod
    def _check_sendable(argv: Sequence[str], spec: SendSpec, ds: Dataset) -> None:
        crypt = ds.crypt
        if crypt is None or spec.raw:
            return
        if spec.properties or spec.replicate:
            raise fail(
                argv,
                f"cannot send {spec.snapshot}: encrypted dataset {ds.name} "
                "may not be sent with properties without the raw flag",
            )
        if not crypt.key_loaded:
            raise fail(
                argv, f"cannot send {spec.snapshot}: encryption key for {ds.name} is not loaded"
            )

    def _dataset_streams(
        self,
        spec: SendSpec,
        top: Dataset,
        ds: Dataset,
        to: Snapshot,
        base: Snapshot | Bookmark | None,
    ) -> list[Stream]:
        """The streams for one dataset: a full one or incrementals, as -i/-I/-R say."""
        ordered = [s for s in ds.ordered_snapshots() if s.createtxg <= to.createtxg]
        own_base: Snapshot | Bookmark | None = base
        if spec.replicate and base is not None:
            # -R: each dataset's own snapshot of the base's name; none: a new dataset
            own_base = ds.snapshots.get(base.short) if isinstance(base, Snapshot) else None
        if own_base is None:
            chain: list[Snapshot | Bookmark | None] = [None]
            steps = ordered if spec.replicate and (spec.intermediates or base is None) else [to]
        else:
            chain = [own_base]
            steps = (
                [s for s in ordered if s.createtxg > own_base.createtxg]
                if spec.intermediates
                else [to]
            )
        streams = []
        previous = chain[0]
        for step in steps:
            streams.append(self._stream(spec, top, ds, step, previous))
            previous = step
        if streams and (spec.properties or spec.replicate):
            first = streams[0]
            streams[0] = dataclasses.replace(first, props=self._sent_props(ds, spec))
        return streams

    @staticmethod
    def _stream(
        spec: SendSpec,
        top: Dataset,
        ds: Dataset,
        to: Snapshot,
        base: Snapshot | Bookmark | None,
    ) -> Stream:
        carry = spec.properties or spec.replicate
        raw = spec.raw and ds.crypt is not None
        if base is None:
            nbytes = FULL_STREAM_BYTES + content_bytes(to.content)
        else:
            nbytes = INCREMENTAL_STREAM_BYTES + added(to.content, base.content)
        root = ds.crypt.root.name if raw and ds.crypt is not None else None
        return Stream(
            relative=ds.name[len(top.name) :],
            source_name=to.name,
            type=ds.type,
            to_short=to.short,
            to_guid=to.guid,
            creation=to.creation,
            content=to.content,
            from_guid=0 if base is None else base.guid,
            nbytes=nbytes,
            snap_props={**to.received, **to.local} if carry else {},
            volsize=ds.volsize,
            raw_cipher=(ds.crypt.cipher, ds.crypt.keyformat) if raw and ds.crypt else None,
            raw_root=root[len(top.name) :]
            if root is not None and names.is_descendant(root, top.name)
            else None,
            raw=spec.raw,
        )

    @staticmethod
    def _sent_props(ds: Dataset, spec: SendSpec) -> dict[str, str]:
        """-p sends what is set locally or was received (not inherited, not default)."""
        props = {
            p: v for p, v in {**ds.received, **ds.local}.items() if ":" in p or p in SENT_NATIVE
        }
        if spec.raw and ds.crypt is not None and ds.crypt.root is ds:
            props["keylocation"] = ds.local.get("keylocation", "prompt")
        return props

    def _plan_resume(self, token: str) -> Plan:
        argv = ["zfs", "send", "-t", token]
        fields = decode_token(token)
        if fields is None:
            raise fail(argv, "cannot resume send: resume token is corrupt (invalid format)", 255)
        toname, toguid = str(fields.get("toname")), fields.get("toguid")
        fromguid, offset = fields.get("fromguid", 0), fields.get("bytes", 0)
        snap = self._snapshot(toname) if "@" in toname else None
        if snap is None or snap.guid != toguid:
            raise fail(
                argv, f"cannot resume send: '{toname}' used in the initial send no longer exists"
            )
        base: Snapshot | Bookmark | None = None
        if fromguid:
            candidates: list[Snapshot | Bookmark] = [
                *snap.dataset.snapshots.values(),
                *snap.dataset.bookmarks.values(),
            ]
            base = next((o for o in candidates if o.guid == fromguid), None)
            if base is None:
                raise fail(
                    argv, f"cannot resume send: incremental source {fromguid:#x} no longer exists"
                )
        spec = SendSpec(snapshot=toname, raw=bool(fields.get("raw")))
        stream = self._stream(spec, snap.dataset, snap.dataset, snap, base)
        stream = dataclasses.replace(stream, offset=int(str(offset)))
        return Plan(streams=[stream])
