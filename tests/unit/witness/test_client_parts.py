"""The witness client's pure parts, as tables: an instruction as a request or a refusal,
the hosts it may name, the backoff, the key file, the outbox's bound; and the inventory's
zfs commands, the same for 1 snapshot and for 200."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.engine.replicas import Recorder
from zfsyncd.ops.replication.receive import ReceiveRequest
from zfsyncd.store import Database
from zfsyncd.store.witness_state import WitnessBackoff, WitnessOutcomes
from zfsyncd.tx.retry import Backoff
from zfsyncd.witness.backoff import HeldBack, instruction_key
from zfsyncd.witness.client import retry_delay
from zfsyncd.witness.http import read_key
from zfsyncd.witness.instructions import as_request, host_labels
from zfsyncd.witness.inventory import read_inventory
from zfsyncd.witness.outbox import Outbox, Outcome
from zfsyncd.witness.wire import Instruction
from zfsyncd.zfs.memory import MemoryBackend

ME, A, B = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
LABELS = host_labels({"nas": "nas.lan", "backup": "10.0.0.5"})


def instruction(**change: Any) -> Instruction:
    fields: dict[str, Any] = {
        "group_id": uuid.UUID(int=9), "group": "g", "dataset": "data",
        "source_system_id": A, "source_hostname": "nas.lan", "source_pool": "tank",
        "target_system_id": ME, "target_pool": "backup", "base": "s1", "newest": "s2",
        "force": False, "source_snapshot": "tank/data@s2", "target_dataset": "backup/data",
    }  # fmt: skip
    return Instruction(**(fields | change))


def test_host_labels_answer_to_address_and_name_never_local() -> None:
    assert LABELS == {"nas": "nas", "nas.lan": "nas", "backup": "backup", "10.0.0.5": "backup"}
    assert host_labels({"local": "x"}) == {}


#: instruction fields changed -> the request's (source_host, base, force), or words the
#: refusal holds
CASES: list[tuple[dict[str, Any], tuple[str, str | None, bool] | str]] = [
    ({}, ("nas", "s1", False)),
    ({"source_hostname": "nas"}, ("nas", "s1", False)),
    ({"source_hostname": "10.0.0.5", "base": None, "force": True}, ("backup", None, True)),
    ({"source_hostname": "evil.example.org"}, "'evil.example.org' is not configured here"),
    ({"source_hostname": "local"}, "'local' is not configured here"),
    ({"target_system_id": B}, "not this one"),
    ({"source_system_id": ME}, "this system as its own source"),
    ({"target_dataset": "backup/data@s2"}, "not a valid receive"),
    ({"source_snapshot": "tank/data"}, "not a valid receive"),
]


@pytest.mark.parametrize(("change", "expected"), CASES)
def test_as_request(change: dict[str, Any], expected: tuple[str, str | None, bool] | str) -> None:
    got = as_request(instruction(**change), ME, LABELS)
    if isinstance(expected, str):
        assert isinstance(got, str)
        assert expected in got
    else:
        assert isinstance(got, ReceiveRequest)
        assert (got.source_host, got.base, got.force) == expected


@pytest.mark.parametrize(
    ("failures", "cap", "delay"),
    [(0, 300, 0.0), (1, 300, 2.0), (2, 300, 4.0), (5, 300, 32.0), (9, 300, 300.0),
     (10_000, 300, 300.0), (3, 5, 5.0)],
)  # fmt: skip
def test_retry_delay(failures: int, cap: float, delay: float) -> None:
    assert retry_delay(failures, cap) == delay


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (1, 60.0), (2, 120.0), (3, 240.0), (4, 480.0), (5, 500.0), (10_000, 500.0)],
)
def test_an_instructions_backoff_doubles_up_to_its_cap(failures: int, delay: float) -> None:
    assert Backoff(first=60, cap=500).delay(failures) == delay


#: a change to the instruction -> whether it is the same instruction (the same backoff)
KEYS = {
    "nothing": ({}, True),
    "the source's hostname (same system)": ({"source_hostname": "nas2.lan"}, True),
    "a newer snapshot": ({"newest": "s3", "source_snapshot": "tank/data@s3"}, False),
    "another base": ({"base": None}, False),
    "force": ({"force": True}, False),
    "another source": ({"source_system_id": B}, False),
    "another dataset": ({"dataset": "other"}, False),
    "another group": ({"group_id": uuid.UUID(int=10)}, False),
}


@pytest.mark.parametrize("what", sorted(KEYS))
def test_an_instruction_key_names_what_it_asks_for(what: str) -> None:
    change, same = KEYS[what]
    assert (instruction_key(instruction(**change)) == instruction_key(instruction())) is same


async def test_held_back_instructions_go_when_no_longer_handed_out(tmp_path: Path) -> None:
    """What is kept is bounded by what the witness hands out; success forgets too."""
    one, two, three = instruction(), instruction(dataset="b"), instruction(dataset="c")
    async with Database.open(tmp_path / "z.db") as db:
        held = HeldBack(WitnessBackoff(db), Backoff(first=60, cap=500))
        await held.fetched([one, two, three])
        for i in (one, two, three):
            await held.ran(i, False, "no", now=1000.0)
        await held.ran(one, False, "no", now=1100.0)
        assert held.waiting(one, 1100.0 + 119) is not None
        assert held.waiting(one, 1100.0 + 120) is None
        await held.ran(three, True, None, now=1100.0)
        await held.fetched([one, three])  # two is not handed out any more
        stored = await WitnessBackoff(db).all()
        assert {k: (h.failures, h.retry_at) for k, h in stored.items()} == {
            instruction_key(one): (2, 1220.0)
        }
        assert held.waiting(two, 1000.0) is None


def test_the_key_is_read_and_never_shown(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("zfsw_s_abc_s3cret\n")
    key = read_key(path)
    assert key.header() == {"X-API-Key": "zfsw_s_abc_s3cret"}
    assert "s3cret" not in repr(key)
    assert "s3cret" not in str(key)


@pytest.mark.parametrize("text", ["", "\n\n", "two words\n", "a\x01b"])
def test_a_key_file_without_a_key_is_refused_without_its_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "key"
    path.write_text(text)
    with pytest.raises(ValueError, match="holds no API key") as caught:
        read_key(path)
    assert text.strip() == "" or text.strip() not in str(caught.value)


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be read"):
        read_key(tmp_path / "none")


async def test_the_outbox_keeps_the_newest_outcomes_up_to_its_bound(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Bounded, the oldest dropped with a warning; in the database: another process
    state on the same file sees what is queued, in order, and a sent one is gone."""
    async with Database.open(tmp_path / "z.db") as db:
        box = Outbox(WitnessOutcomes(db), limit=2)
        assert box.report_owed
        assert not await box.empty()
        for n in range(3):
            await box.add(Outcome(uuid.UUID(int=n), f"d{n}", n != 1, f"e{n}", f"t{n}"))
        assert box.dropped == 1
        assert "dropped the oldest 1" in caplog.text
    async with Database.open(tmp_path / "z.db") as db:
        box = Outbox(WitnessOutcomes(db), limit=2)
        queued = await box.oldest()
        assert [o for _, o in queued] == [
            Outcome(uuid.UUID(int=1), "d1", False, "e1", "t1"),
            Outcome(uuid.UUID(int=2), "d2", True, "e2", "t2"),
        ]
        await box.sent(queued[0][0])
        await box.sent(queued[0][0])  # twice: nothing more goes
        assert [o.dataset for _, o in await box.oldest()] == ["d2"]
        box.report_owed = False
        assert not await box.empty()
        await box.sent(queued[1][0])
        assert await box.empty()
        assert await box.queued() == 0


async def test_the_inventory_is_one_listing_however_many_snapshots() -> None:
    calls = []
    for count in (1, 200):
        model = MemoryBackend(pools=("tank", "other"), seed=count)
        await model.create("tank/data")
        for n in range(count):
            await model.snapshot([f"tank/data@s{n}"])
        await model.snapshot(["tank/data@zfsync_trash_t1_old"])  # on its way out: not reported
        recorder = Recorder(model)
        found = await read_inventory(recorder, ["tank"])  # type: ignore[arg-type]
        assert len(found) == count
        assert found[0] == {
            "name": "tank/data@s0", "created": found[0]["created"], "guid": found[0]["guid"],
            "txg": found[0]["txg"], "size": found[0]["size"],
        }  # fmt: skip
        every = await read_inventory(recorder)  # type: ignore[arg-type]
        assert len(every) == count
        calls.append(recorder.calls)
    assert calls[0] == calls[1] == ["list_many", "list"]
