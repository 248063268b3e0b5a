"""replica-sync's safety on the model: a cut stream resumed (in the same transaction, and
one left by an earlier run), a stale token cleared, a bookmark as base, a diverged
destination refused, a plain replica adopted, expiry on both sides (the replica-expire
that follows each sync), and failed syncs rolled back to exactly the state before (both
hosts compared as the fault harness does)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.faults import InjectedError
from zfsyncd.ops.replication import props
from zfsyncd.store import TxState
from zfsyncd.tx.errors import PlanError
from zfsyncd.tx.steps import StepContext
from zfsyncd.tx.steps.transfers import SendReceiveMany, SendReceiveManyArgs, Stream
from zfsyncd.zfs.models import RecvSpec, SendSpec, TransferProgress

from .replicas import KIB, MODEL_ONLY, Replicas, filesystem, guids, replicas

pytestmark = MODEL_ONLY

__all__ = ["replicas"]
MIB = 1 << 20


async def _pair(r: Replicas, name: str = "a", **init: Any) -> str:
    """src/NAME replicated to backup:bak/NAME; the short name of its first snapshot."""
    await filesystem(r.local, f"src/{name}")
    done = await r.done(
        "replica-init", {"source": f"src/{name}", "destination": f"backup:bak/{name}", **init}
    )
    return f"zfsync_{done.id}"


async def _refused(r: Replicas, params: dict[str, Any], words: str) -> None:
    record = await r.manager.create("replica-sync", params)
    with pytest.raises(PlanError, match=words):
        await r.manager.prepare(record.id)


async def _cut_by_hand(r: Replicas, snapshot: str, base: str, target: str) -> None:
    """A transfer cut mid-stream outside any transaction: the target keeps a token."""
    moving = asyncio.Event()

    def seen(progress: TransferProgress) -> None:
        if progress.bytes_done >= 256 * KIB:
            moving.set()

    transfer = asyncio.ensure_future(
        r.local.send_recv(
            SendSpec(snapshot=snapshot, base=base), r.backup, RecvSpec(target=target), progress=seen
        )
    )
    await moving.wait()
    transfer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await transfer
    assert (await r.backup.get(target)).receive_resume_token


async def test_a_stream_cut_mid_way_is_resumed_in_the_same_transaction(r: Replicas) -> None:
    await _pair(r)
    r.local.write("src/a", 4 * MIB)
    r.recorders["local"].cut_after = MIB
    done = await r.done("replica-sync", {"sources": ["src/a"]})
    assert f"zfsync_{done.id}" in await guids(r.backup, "bak/a")
    sends = r.recorders["local"].sends
    assert sends[-1].resume_token is not None  # the second attempt went on from the token
    assert (await r.backup.get("bak/a")).receive_resume_token is None


async def test_a_token_left_by_an_earlier_run_is_resumed_first(r: Replicas) -> None:
    base = await _pair(r)
    r.local.write("src/a", 4 * MIB)
    await r.local.snapshot(["src/a@manual"])
    await _cut_by_hand(r, "src/a@manual", f"src/a@{base}", "bak/a")
    r.local.write("src/a", 64 * KIB)
    r.forget_calls()
    done = await r.done("replica-sync", {"sources": ["src/a"]})
    assert list(await guids(r.backup, "bak/a")) == [base, "manual", f"zfsync_{done.id}"]
    sends = r.recorders["local"].sends
    assert sends[0].resume_token is not None
    assert (sends[1].base, sends[1].snapshot) == ("src/a@manual", f"src/a@zfsync_{done.id}")


async def test_a_stale_token_is_cleared(r: Replicas) -> None:
    base = await _pair(r)
    r.local.write("src/a", 4 * MIB)
    await r.local.snapshot(["src/a@manual"])
    await _cut_by_hand(r, "src/a@manual", f"src/a@{base}", "bak/a")
    await r.local.destroy("src/a@manual")  # what the token would finish is gone
    done = await r.done("replica-sync", {"sources": ["src/a"]})
    assert "recv_abort" in r.recorders["backup"].calls
    assert list(await guids(r.backup, "bak/a")) == [base, f"zfsync_{done.id}"]
    assert (await r.backup.get("bak/a")).receive_resume_token is None


async def test_a_token_with_nothing_else_to_send_is_cleared_too(r: Replicas) -> None:
    base = await _pair(r)
    r.local.write("src/a", 4 * MIB)
    await r.local.snapshot(["src/a@manual"])
    await _cut_by_hand(r, "src/a@manual", f"src/a@{base}", "bak/a")
    await r.local.destroy("src/a@manual")
    await r.local.rollback(f"src/a@{base}")  # written is 0 again: only the token is left
    await r.done("replica-sync", {"sources": ["src/a"]})
    assert (await r.backup.get("bak/a")).receive_resume_token is None
    assert list(await guids(r.backup, "bak/a")) == [base]


async def test_a_bookmark_is_the_base_when_the_source_lost_the_snapshot(r: Replicas) -> None:
    base = await _pair(r)
    await r.local.release(props.BASE_HOLD, [f"src/a@{base}"])
    await r.local.destroy(f"src/a@{base}")  # its bookmark src/a#base stays
    r.local.write("src/a", 64 * KIB)
    done = await r.done("replica-sync", {"sources": ["src/a"]})
    send = r.recorders["local"].sends[-1]
    assert (send.base, send.intermediates) == (f"src/a#{base}", False)
    assert list(await guids(r.backup, "bak/a")) == [base, f"zfsync_{done.id}"]
    assert [h.tag for h in await r.backup.holds(f"bak/a@{base}")] == []


async def _what_received(r: Replicas, situation: str) -> tuple[dict[str, int], dict[str, int]]:
    """A sync of src/a in `situation`: (what its send step recorded as received, what
    bak/a gained by the sync, read from the model), by snapshot name -> guid."""
    base = await _pair(r)
    r.local.write("src/a", 4 * MIB)
    if situation == "intermediates":
        await r.local.snapshot(["src/a@hourly1"])
        r.local.write("src/a", 64 * KIB)
        await r.local.snapshot(["src/a@hourly2"])
        r.local.write("src/a", 64 * KIB)
    elif situation == "cut":  # the first attempt of `do` cut mid-stream, a retry resumes
        r.recorders["local"].cut_after = MIB
    elif situation == "earlier token":
        await r.local.snapshot(["src/a@manual"])
        await _cut_by_hand(r, "src/a@manual", f"src/a@{base}", "bak/a")
        r.local.write("src/a", 64 * KIB)
    elif situation == "bookmark base":
        await r.local.release(props.BASE_HOLD, [f"src/a@{base}"])
        await r.local.destroy(f"src/a@{base}")
    had = await guids(r.backup, "bak/a")
    r.forget_calls()
    done = await r.done("replica-sync", {"sources": ["src/a"]})
    step = next(s for s in done.steps if s.kind == "send-receive-many")
    gained = {f"bak/a@{n}": g for n, g in (await guids(r.backup, "bak/a")).items() if n not in had}
    return (step.undo_data or {})["received"]["bak/a"], gained


@pytest.mark.parametrize(
    ("situation", "read_after"),
    [
        ("plain", False),
        ("intermediates", False),  # -I: the snapshots between come along
        ("bookmark base", False),  # -i from the bookmark: its snapshot alone
        # a retried `do` and a resumed stream read what the target holds after the streams
        ("cut", True),
        ("earlier token", True),
    ],
)
async def test_what_a_sync_received_is_what_the_destination_gained(
    r: Replicas, situation: str, read_after: bool
) -> None:
    """The send step's record of what it received (what the rollback of the sync takes
    back, by guid): known from the reading before the streams for a plain incremental (a
    received snapshot keeps its source's name and guid), read after them otherwise;
    either way exactly what the destination gained."""
    received, gained = await _what_received(r, situation)
    assert received == gained
    assert len(gained) == {"intermediates": 3, "earlier token": 2}.get(situation, 1)
    backup = r.calls()["backup"]
    # after the plan's reading (settle, list: no holds): the send's reading before the
    # streams, any reading after them, then the move of the base hold (its own reading)
    reads = backup[2 : backup.index("list_reached")]
    # (a retry reads both sides again, a resume the target's snapshots: at least two)
    assert (reads == ["list_many"]) is not read_after, reads


@pytest.mark.parametrize("again", ["restart", "retry"])
async def test_a_send_step_run_again_reads_what_it_received(r: Replicas, again: str) -> None:
    """The send step's `do` without the reading its `capture` made just before (a step
    rebuilt after a restart; a second attempt of the same one) reads the targets after
    the stream, and what it records as received is what the destination gained."""
    base = await _pair(r)
    r.local.write("src/a", 64 * KIB)
    await r.local.snapshot(["src/a@next"])
    step = SendReceiveMany(
        SendReceiveManyArgs(
            streams=(
                Stream(
                    send=SendSpec(snapshot="src/a@next", base=f"src/a@{base}", intermediates=True),
                    recv=RecvSpec(target="bak/a"),
                ),
            ),
            target="backup",
        )
    )
    ctx = StepContext("tx", r.manager.hosts)
    before = await step.capture(ctx)
    if again == "restart":  # the step as the journal rebuilds it: nothing kept in memory
        step = SendReceiveMany(step.args)
    else:  # a first attempt that failed before its stream: the reading is taken
        step._read_for_do.take()
    r.forget_calls()
    done = await step.do(ctx, before)
    # the targets read again before the stream, and after it
    assert r.calls() == {"local": ["list_many", "send_recv"], "backup": ["list_many"] * 2}
    assert done["received"] == {"bak/a": {"bak/a@next": (await r.local.get("src/a@next")).guid}}
    assert list(await guids(r.backup, "bak/a")) == [base, "next"]


async def test_a_diverged_destination_is_refused_with_a_report(r: Replicas) -> None:
    base = await _pair(r)
    r.local.write("src/a", 64 * KIB)
    r.backup.write("bak/a", 8 * KIB)  # someone wrote to the replica
    before = await r.everything()
    await _refused(r, {"sources": ["src/a"]}, "has diverged: 8192 bytes written")
    assert await r.everything() == before
    await r.backup.rollback(f"bak/a@{base}")
    await r.backup.snapshot(["bak/a@theirs"])
    before = await r.everything()
    await _refused(r, {"sources": ["src/a"]}, "snapshots the source does not have.*bak/a@theirs")
    assert await r.everything() == before
    await r.backup.destroy("bak/a@theirs")
    # `sync all` leaves the diverged one out and syncs the others
    await _pair(r, "b")
    r.local.write("src/b", 4 * KIB)
    r.backup.write("bak/a", 8 * KIB)
    done = await r.done("replica-sync", {})
    assert f"zfsync_{done.id}" in await guids(r.backup, "bak/b")
    assert f"zfsync_{done.id}" not in await guids(r.backup, "bak/a")


async def test_a_plain_replica_is_adopted(r: Replicas) -> None:
    await filesystem(r.local, "src/p")
    await r.local.snapshot(["src/p@by-hand"])
    await r.local.send_recv(
        SendSpec(snapshot="src/p@by-hand"), r.backup, RecvSpec(target="bak/p")
    )  # zfs send | zfs recv, no zfsyncd
    r.local.write("src/p", 64 * KIB)
    done = await r.done("replica-init", {"source": "src/p", "destination": "backup:bak/p"})
    assert list(await guids(r.backup, "bak/p")) == ["by-hand", f"zfsync_{done.id}"]
    assert r.recorders["local"].sends[-1].base == "src/p@by-hand"
    found = await r.backup.get_properties("bak/p", [props.ROLE, "readonly"])
    assert (found[props.ROLE].value, found["readonly"].value) == ("destination", "on")
    r.local.write("src/p", 4 * KIB)
    await r.done("replica-sync", {"sources": ["src/p"]})


async def test_expiry_keeps_each_sides_savecount(r: Replicas) -> None:
    await _pair(r, savecount=2, destination_savecount=3)
    await r.local.snapshot(["src/a@not-ours"])  # never counted, never destroyed
    made = []
    for _ in range(4):
        r.local.write("src/a", 4 * KIB)
        made.append(f"zfsync_{(await r.done('replica-sync', {'sources': ['src/a']})).id}")
    assert list(await guids(r.local, "src/a")) == ["not-ours", *made[-2:]]
    assert list(await guids(r.backup, "bak/a")) == ["not-ours", *made[-3:]]


# ------------------------------------------------------------------ failures undone


async def _fails_and_changes_nothing(r: Replicas, host: str, call: str) -> None:
    before = await r.everything()

    broken: list[str] = []

    def breaking(index: int, label: str) -> None:
        if label.startswith(call) and not broken:  # the first one only: undo must work
            broken.append(label)
            raise InjectedError([call], 1, f"injected failure of {label}")

    r.faults[host].on_call = breaking
    record = await r.run("replica-sync", {"sources": ["src/a", "src/b"], "parallel": 2})
    r.faults[host].on_call = None
    assert record.state is TxState.FAILED, (call, record.state)
    assert record.rollback_outcome is not None
    assert record.rollback_outcome.startswith("complete"), record.rollback_outcome
    assert broken, f"no {call} on {host}"
    assert await r.everything() == before, call


@pytest.mark.parametrize(
    ("host", "call"),
    [
        ("local", "snapshot_guids"),
        ("local", "send_recv"),
        ("backup", "hold"),
        ("local", "release"),
        ("local", "bookmark_many"),
        ("local", "set_many"),  # the sent marker of the intermediate snapshot
    ],
)
async def test_a_failed_sync_is_rolled_back(r: Replicas, host: str, call: str) -> None:
    await _pair(r, savecount=1)
    await _pair(r, "b", savecount=1)
    for name in ("a", "b"):
        r.local.write(f"src/{name}", 256 * KIB)
    await r.local.snapshot(["src/a@hourly"])
    r.local.write("src/a", 4 * KIB)
    await _fails_and_changes_nothing(r, host, call)
    # and the next sync works
    done = await r.done("replica-sync", {"sources": ["src/a", "src/b"]})
    assert f"zfsync_{done.id}" in await guids(r.backup, "bak/b")


@pytest.fixture
def r(replicas: Replicas) -> Replicas:
    return replicas
