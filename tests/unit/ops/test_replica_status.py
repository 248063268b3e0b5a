"""The read side of replication (zfsyncd/ops/replication/status.py): which datasets are
pairs, the newest common snapshot by guid, lag and errors (tables of examples), and the
reading itself on the model: constant commands whatever the number of pairs, a peer host
that cannot be reached gives an error field, the newest failure from the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.test_plan_reads import Counting
from tests.unit.ops.listing import guid
from zfsyncd.api.records import ReplicaRow
from zfsyncd.ops.replication import props
from zfsyncd.ops.replication.inventory import DatasetState, build_side
from zfsyncd.ops.replication.props import Peer, Role
from zfsyncd.ops.replication.status import (
    LastError,
    Pair,
    Readings,
    ReplicaQuery,
    list_replicas,
    loopback_candidates,
    loopbacks,
    newest_failures,
    pairs,
    row,
    select,
    written_since,
)
from zfsyncd.store import Database, TransactionRecord, TransactionStore, TxState
from zfsyncd.tx.hosts import LOCAL, Host
from zfsyncd.zfs.errors import ConnectionLostError
from zfsyncd.zfs.memory import MemoryBackend
from zfsyncd.zfs.models import ObjectType, RecvSpec, SendSpec, ZfsObject

NOW = 1_800_000_000.0


def obj(
    name: str, txg: int = 1, *, creation: int = 0, g: int | None = None, written: int = 0,
    token: str | None = None, **user: str,
) -> ZfsObject:  # fmt: skip
    """A listing row: `@` a snapshot, `#` a bookmark, else a filesystem; user properties
    by their zfsync name without the prefix (role=..., peer=...)."""
    kind = (
        ObjectType.SNAPSHOT
        if "@" in name
        else ObjectType.BOOKMARK
        if "#" in name
        else ObjectType.FILESYSTEM
    )
    return ZfsObject(
        name=name, type=kind, guid=guid(name.replace("#", "@")) if g is None else g, createtxg=txg,
        creation=creation, used=0, referenced=0, written=written, receive_resume_token=token,
        user_properties={f"zfsync:{k}": v for k, v in user.items()},
    )  # fmt: skip


# --------------------------------------------------------------------------- pairs


PAIRS: list[tuple[str, list[ZfsObject], list[tuple[str, str, str, str]]]] = [
    ("no role, no pair", [obj("tank"), obj("tank/a")], []),
    (
        "a source names its destination",
        [obj("tank/a", role="source", peer="local:backup/a")],
        [("tank/a", "source", "local:tank/a", "local:backup/a")],
    ),
    (
        "a bare dataset as peer is on this host",
        [obj("tank/a", role="source", peer="backup/a")],
        [("tank/a", "source", "local:tank/a", "local:backup/a")],
    ),
    (
        "a destination of a local source is the source's pair, shown once",
        [
            obj("backup/a", role="destination", peer="local:tank/a"),
            obj("tank/a", role="source", peer="local:backup/a"),
        ],
        [("tank/a", "source", "local:tank/a", "local:backup/a")],
    ),
    (
        "a destination of another host's source is a pair of its own",
        [obj("backup/a", role="destination", peer="far:tank/a")],
        [("backup/a", "destination", "far:tank/a", "local:backup/a")],
    ),
    (
        "children of a -R pair inherit role and peer: part of the parent's pair",
        [
            obj("tank/a", role="source", peer="far:vault/a"),
            obj("tank/a/b", role="source", peer="far:vault/a"),
        ],
        [("tank/a", "source", "local:tank/a", "far:vault/a")],
    ),
    (
        "a child with its own peer is a pair of its own",
        [
            obj("tank/a", role="source", peer="far:vault/a"),
            obj("tank/a/b", role="source", peer="far:vault/b"),
        ],
        [
            ("tank/a", "source", "local:tank/a", "far:vault/a"),
            ("tank/a/b", "source", "local:tank/a/b", "far:vault/b"),
        ],
    ),
    ("another tool's role value is not a pair", [obj("tank/a", role="primary")], []),
    (
        "a peer that is no address: a pair without that side",
        [obj("tank/a", role="source", peer="Far Host:tank/a")],
        [("tank/a", "source", "local:tank/a", "")],
    ),
]


@pytest.mark.parametrize(("case", "listing", "expected"), PAIRS, ids=[c[0] for c in PAIRS])
def test_pairs(case: str, listing: list[ZfsObject], expected: list[tuple[str, ...]]) -> None:
    found = [
        (p.local, p.role.value, str(p.source or ""), str(p.destination or ""))
        for p in pairs(listing)
    ]
    assert found == expected


#: both ends on this host, the source naming its destination through the label `loop`
LOOP_LISTING = [
    obj("backup/a", role="destination", peer="local:tank/a"),
    obj("tank/a", role="source", peer="loop:backup/a"),
]
LOOP = Peer(host="loop", dataset="backup/a")

#: (case, listing, the loopback addresses confirmed, (local, source, destination, also_here))
LOOP_PAIRS: list[tuple[str, list[ZfsObject], set[Peer], list[tuple[str, str, str, str]]]] = [
    (
        "not confirmed (another machine, or unread): a row per side",
        LOOP_LISTING,
        set(),
        [
            ("backup/a", "local:tank/a", "local:backup/a", ""),
            ("tank/a", "local:tank/a", "loop:backup/a", ""),
        ],
    ),
    (
        "confirmed: the source's row only, findable by the destination's name",
        LOOP_LISTING,
        {LOOP},
        [("tank/a", "local:tank/a", "loop:backup/a", "backup/a")],
    ),
    (
        "the destination names its source through the label",
        [
            obj("backup/a", role="destination", peer="loop:tank/a"),
            obj("tank/a", role="source", peer="local:backup/a"),
        ],
        {Peer(host="loop", dataset="tank/a")},
        [("tank/a", "local:tank/a", "local:backup/a", "")],
    ),
    (
        "a confirmed address whose dataset names another source: both rows",
        [
            obj("backup/a", role="destination", peer="local:tank/b"),
            obj("tank/a", role="source", peer="loop:backup/a"),
            obj("tank/b", role="source", peer="far:vault/b"),
        ],
        {LOOP},
        [
            ("backup/a", "local:tank/b", "local:backup/a", ""),
            ("tank/a", "local:tank/a", "loop:backup/a", "backup/a"),
            ("tank/b", "local:tank/b", "far:vault/b", ""),
        ],
    ),
]


@pytest.mark.parametrize(
    ("case", "listing", "loop", "expected"), LOOP_PAIRS, ids=[c[0] for c in LOOP_PAIRS]
)
def test_pairs_with_both_ends_here_through_a_label(
    case: str, listing: list[ZfsObject], loop: set[Peer], expected: list[tuple[str, ...]]
) -> None:
    found = [
        (p.local, str(p.source or ""), str(p.destination or ""), p.also_here or "")
        for p in pairs(listing, loop)
    ]
    assert found == expected


CANDIDATES: list[tuple[str, list[ZfsObject], dict[str, set[str]]]] = [
    ("ends naming each other, one through a label", LOOP_LISTING, {"loop": {"backup/a"}}),
    (
        "a remote name that is no local pair",
        [obj("tank/a", role="source", peer="far:vault/a")],
        {},
    ),
    (
        "a local pair of that name that names another dataset back",
        [
            obj("backup/a", role="destination", peer="local:tank/z"),
            obj("tank/a", role="source", peer="loop:backup/a"),
        ],
        {},
    ),
    (
        "the same role on both: not two ends of one pair",
        [
            obj("backup/a", role="source", peer="local:tank/a"),
            obj("tank/a", role="source", peer="loop:backup/a"),
        ],
        {},
    ),
    ("both local: known by name, nothing to read", PAIRS[3][1], {}),
]


@pytest.mark.parametrize(
    ("case", "listing", "expected"), CANDIDATES, ids=[c[0] for c in CANDIDATES]
)
def test_loopback_candidates(
    case: str, listing: list[ZfsObject], expected: dict[str, set[str]]
) -> None:
    assert loopback_candidates(pairs(listing)) == expected


def test_loopbacks_are_the_same_name_and_dataset_guid() -> None:
    local = [obj("backup/a", g=11), obj("backup/b", g=12)]
    remote = {
        "loop": [obj("backup/a", g=11)],  # this machine under another label
        "far": [obj("backup/b", g=99)],  # another machine's dataset of the same name
        "odd": [obj("backup/c", g=11)],  # the guid, but another name: not the same address
    }
    assert loopbacks(local, remote) == {LOOP}


def _pair(local: str, role: Role = Role.SOURCE, peer: str = "local:backup/a") -> Pair:
    here = Peer(host=LOCAL, dataset=local)
    other = props.parse_peer(peer)
    return Pair(local, role, peer, *((here, other) if role is Role.SOURCE else (other, here)))


def test_select_pages_by_dataset_and_filters_on_either_local_side() -> None:
    found = [_pair("tank/a", peer="backup/a"), _pair("tank/b", peer="backup/b"), _pair("tank/c")]
    assert [p.local for p in select(found, ReplicaQuery(limit=2))] == ["tank/a", "tank/b"]
    assert [p.local for p in select(found, ReplicaQuery(after="tank/b"))] == ["tank/c"]
    assert [p.local for p in select(found, ReplicaQuery(dataset="backup/b"))] == ["tank/b"]
    assert [p.local for p in select(found, ReplicaQuery(dataset="tank/c"))] == ["tank/c"]
    assert select(found, ReplicaQuery(dataset="tank")) == []


def test_the_query_refuses_what_is_not_a_dataset_or_over_the_page() -> None:
    with pytest.raises(ValueError, match="limit"):
        ReplicaQuery(limit=100_000)
    with pytest.raises(ValueError, match="after"):
        ReplicaQuery(after="tank/a@snap")


# --------------------------------------------------------------------------- one row


def _facts(
    name: str, snaps: list[ZfsObject], written: int = 0, token: str | None = None, **user: str
) -> DatasetState:
    """One side as inventory.py reads it: the dataset's row and its snapshots'."""
    return build_side([obj(name, written=written, token=token, **user), *snaps], {})[name]


HOUR = 3600
SENT = obj("tank/a@zfsync_1", 10, creation=int(NOW) - HOUR, g=1)
NEWER = obj("tank/a@zfsync_2", 20, creation=int(NOW) - 60, g=2)
RECEIVED = obj("backup/a@zfsync_1", 5, creation=int(NOW) - HOUR, g=1)

#: (case, source side, destination side, expected fields)
ROWS: list[tuple[str, DatasetState, DatasetState | None, dict[str, Any]]] = [
    (
        "up to date: nothing written since the last sent snapshot",
        _facts("tank/a", [SENT], written=0, savecount="5"),
        _facts("backup/a", [RECEIVED], savecount="3"),
        {
            "last_sent": "tank/a@zfsync_1",
            "age": HOUR,
            "lag_seconds": 0.0,
            "lag_bytes": 0,
            "unsent": 0,
            "source_savecount": 5,
            "destination_savecount": 3,
            "error": "",
        },
    ),
    (
        "written since: behind by the bytes and by the last sent snapshot's age",
        _facts("tank/a", [SENT], written=4096),
        _facts("backup/a", [RECEIVED]),
        {"lag_bytes": 4096, "lag_seconds": float(HOUR), "unsent": 0},
    ),
    (
        "a newer snapshot not sent yet",
        _facts("tank/a", [SENT, NEWER], written=0),
        _facts("backup/a", [RECEIVED]),
        {"last_sent": "tank/a@zfsync_1", "unsent": 1, "lag_seconds": float(HOUR)},
    ),
    (
        "nothing sent yet",
        _facts("tank/a", [SENT]),
        _facts("backup/a", []),
        {"last_sent": "", "age": -1.0, "lag_seconds": -1.0, "unsent": 1},
    ),
    (
        "by guid, never by name: the same name with another guid is not shared",
        _facts("tank/a", [obj("tank/a@zfsync_1", 10, g=1), obj("tank/a@zfsync_2", 20, g=2)]),
        _facts("backup/a", [obj("backup/a@zfsync_1", 5, g=1), obj("backup/a@zfsync_2", 6, g=9)]),
        {"last_sent": "tank/a@zfsync_1", "unsent": 1},
    ),
    (
        "a bookmark stands for its expired snapshot",
        _facts("tank/a", [obj("tank/a#zfsync_1", 10, g=1), NEWER]),
        _facts("backup/a", [RECEIVED]),
        {"last_sent": "tank/a#zfsync_1", "unsent": 1},
    ),
    (
        "paused, and a savecount that is no number",
        _facts("tank/a", [SENT], paused="on", savecount="many"),
        _facts("backup/a", [RECEIVED]),
        {"paused": True, "source_savecount": 0},
    ),
    (
        "the destination is gone",
        _facts("tank/a", [SENT]),
        None,
        {"error": "local:backup/a does not exist", "last_sent": ""},
    ),
]


@pytest.mark.parametrize(("case", "source", "dest", "expected"), ROWS, ids=[c[0] for c in ROWS])
def test_row(
    case: str, source: DatasetState, dest: DatasetState | None, expected: dict[str, Any]
) -> None:
    readings = Readings(sides={(LOCAL, "tank/a"): source})
    if dest is not None:
        readings.sides[(LOCAL, "backup/a")] = dest
    found = row(_pair("tank/a"), readings, NOW)
    assert {k: getattr(found, k) for k in expected} == expected


def test_a_row_with_an_unreachable_peer_host_still_shows_the_local_side() -> None:
    readings = Readings(
        sides={(LOCAL, "tank/a"): _facts("tank/a", [SENT], written=10, savecount="4")},
        host_errors={"far": "ssh: connect to host far: No route to host"},
    )
    found = row(_pair("tank/a", peer="far:vault/a"), readings, NOW)
    assert found.error == "host far: ssh: connect to host far: No route to host"
    assert (found.lag_bytes, found.source_savecount, found.destination) == (10, 4, "far:vault/a")


def test_a_destination_row_reads_the_remote_source() -> None:
    readings = Readings(
        sides={
            ("far", "tank/a"): _facts("tank/a", [SENT, NEWER], paused="on"),
            (LOCAL, "backup/a"): _facts("backup/a", [RECEIVED], token="1-abc-def"),
        }
    )
    found = row(_pair("backup/a", Role.DESTINATION, "far:tank/a"), readings, NOW)
    assert (found.role, found.source, found.destination) == (
        "destination",
        "far:tank/a",
        "local:backup/a",
    )
    assert (found.last_sent, found.unsent, found.paused, found.resume_token) == (
        "tank/a@zfsync_1", 1, True, True,
    )  # fmt: skip


def _record(
    tx_id: str, state: TxState, type: str, datasets: list[str], error: str = ""
) -> TransactionRecord:
    return TransactionRecord(
        id=tx_id, type=type, state=state, created_at=1.0, updated_at=2.0, finished_at=3.0,
        error=error, datasets=datasets,
    )  # fmt: skip


def test_newest_failures_keeps_the_newest_failed_replica_transaction_per_dataset() -> None:
    found = newest_failures(
        [
            _record("t1", TxState.FAILED, "replica-sync", ["tank/a", "//far/vault/a"], "old"),
            _record("t3", TxState.FAILED, "replica-sync", ["tank/a"], "newest"),
            _record("t4", TxState.FAILED, "snapshot", ["tank/a"], "not a replica's"),
            _record("t5", TxState.COMPLETED, "replica-sync", ["tank/a"]),
        ]
    )
    assert found == {
        "tank/a": LastError("t3", 3.0, "newest"),
        "//far/vault/a": LastError("t1", 3.0, "old"),
    }


def test_a_pair_reports_the_newest_failure_of_either_side() -> None:
    readings = Readings(
        sides={(LOCAL, "tank/a"): _facts("tank/a", [SENT])},
        failures={
            "tank/a": LastError("t1", 1.0, "old"),
            "//far/vault/a": LastError("t2", 2.0, "cut"),
        },
    )
    found = row(_pair("tank/a", peer="far:vault/a"), readings, NOW)
    assert (found.last_error, found.last_error_transaction, found.last_error_at) == (
        "cut",
        "t2",
        2.0,
    )


# --------------------------------------------------------------------------- on the model


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TransactionStore]:
    async with Database.open(tmp_path / "zfsyncd.db") as db:
        yield TransactionStore(db)


async def _pair_up(
    src: MemoryBackend, dst: MemoryBackend, source: str, dest: str, host: str
) -> None:
    """A pair as replica-init leaves it: properties both sides, one snapshot sent and held
    on both sides as the base."""
    await src.create(source, properties={props.ROLE: "source", props.PEER: f"{host}:{dest}"})
    src.write(source, 1000)
    await src.snapshot([f"{source}@zfsync_1"])
    received = {props.ROLE: "destination", props.PEER: f"local:{source}"}
    await src.send_recv(
        SendSpec(snapshot=f"{source}@zfsync_1"), dst, RecvSpec(target=dest, properties=received)
    )
    await src.hold(props.BASE_HOLD, [f"{source}@zfsync_1"])
    await dst.hold(props.BASE_HOLD, [f"{dest}@zfsync_1"])


async def _hosts(count: int, far_ok: bool = True) -> tuple[dict[str, Host], Counting, Counting]:
    local = MemoryBackend(["tank", "backup"], seed=1)
    far = MemoryBackend(["vault"], seed=2)
    for i in range(count):
        await _pair_up(local, local, f"tank/l{i}", f"backup/l{i}", LOCAL)
        await _pair_up(local, far, f"tank/f{i}", f"vault/f{i}", "far")
        local.write(f"tank/f{i}", 500)
    counting_local, counting_far = Counting(local), Counting(far)
    if not far_ok:

        async def lost(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionLostError(
                ["ssh", "far", "zfs"], 255, "ssh: connect to host far: Connection refused"
            )

        counting_far.list_many = lost  # type: ignore[method-assign]
    hosts = {LOCAL: Host(LOCAL, counting_local), "far": Host("far", counting_far)}  # type: ignore[arg-type]
    return hosts, counting_local, counting_far


@pytest.mark.parametrize("count", [1, 12])
async def test_reading_is_constant_in_the_number_of_pairs(
    store: TransactionStore, count: int
) -> None:
    hosts, local, far = await _hosts(count)
    rows = await list_replicas(hosts, store, ReplicaQuery(), NOW)
    assert len(rows) == 2 * count
    # one listing of the local pools, then one reading of the page's sides per host (one
    # `zfs list -r -t all` and one `zfs holds`: inventory.read_side)
    assert local.calls == ["list", "list_many", "holds_many"]
    assert far.calls == ["list_many", "holds_many"]
    by_name = {r.dataset: r for r in rows}
    assert by_name["tank/l0"].destination == "local:backup/l0"
    assert by_name["tank/l0"].last_sent == "tank/l0@zfsync_1"
    assert by_name["tank/f0"].last_sent == "tank/f0@zfsync_1"
    assert by_name["tank/f0"].error == ""


async def test_an_unreachable_peer_host_is_an_error_field_not_a_failure(
    store: TransactionStore,
) -> None:
    hosts, _, _ = await _hosts(1, far_ok=False)
    rows = {r.dataset: r for r in await list_replicas(hosts, store, ReplicaQuery(), NOW)}
    assert rows["tank/f0"].error.startswith("host far: ")
    assert "Connection refused" in rows["tank/f0"].error
    assert (rows["tank/l0"].error, rows["tank/l0"].last_sent) == ("", "tank/l0@zfsync_1")


async def test_a_peer_host_that_is_not_configured(store: TransactionStore) -> None:
    hosts, _, _ = await _hosts(1)
    del hosts["far"]
    rows = {r.dataset: r for r in await list_replicas(hosts, store, ReplicaQuery(), NOW)}
    assert rows["tank/f0"].error == "host far: not configured in zfsyncd's [hosts]"


async def test_the_last_error_comes_from_the_store(store: TransactionStore) -> None:
    hosts, _, _ = await _hosts(1)
    record = await store.create_transaction("replica-sync", datasets=["tank/l0", "backup/l0"])
    await store.set_state(record.id, TxState.FAILED, expected=TxState.CREATED, error="recv: cut")
    rows = {r.dataset: r for r in await list_replicas(hosts, store, ReplicaQuery(), NOW)}
    assert (rows["tank/l0"].last_error, rows["tank/l0"].last_error_transaction) == (
        "recv: cut",
        record.id,
    )
    assert rows["tank/f0"].last_error == ""


async def test_a_page_and_a_filter(store: TransactionStore) -> None:
    hosts, _, far = await _hosts(3)
    first: list[ReplicaRow] = await list_replicas(hosts, store, ReplicaQuery(limit=2), NOW)
    assert [r.dataset for r in first] == ["tank/f0", "tank/f1"]
    rest = await list_replicas(hosts, store, ReplicaQuery(after=first[-1].cursor), NOW)
    assert [r.dataset for r in rest] == ["tank/f2", "tank/l0", "tank/l1", "tank/l2"]
    far.calls.clear()
    only = await list_replicas(hosts, store, ReplicaQuery(dataset="backup/l1"), NOW)
    assert [r.dataset for r in only] == ["tank/l1"]
    assert far.calls == []  # no pair of the page lives there


# --------------------------------------------------------------------------- lag of a tree

#: (case, source tree as listed, the last sent snapshot's txg, expected bytes)
WRITTEN: list[tuple[str, list[ZfsObject], int, int]] = [
    ("nothing written", [obj("tank/a"), obj("tank/a@s1", 10, written=7)], 10, 0),
    ("the top's own written", [obj("tank/a", written=5), obj("tank/a@s1", 10)], 10, 5),
    (
        "a child's written counts (a -R pair)",
        [obj("tank/a"), obj("tank/a@s1", 10), obj("tank/a/c", written=3), obj("tank/a/c@s1", 10)],
        10,
        3,
    ),
    (
        "unsent snapshots' written counts, sent ones' does not",
        [
            obj("tank/a", written=1),
            obj("tank/a@s1", 10, written=100),
            obj("tank/a@s2", 20, written=8),
        ],
        10,
        9,
    ),
    (
        "a child made after the last sent snapshot counts whole",
        [
            obj("tank/a"),
            obj("tank/a@s1", 10),
            obj("tank/a/new", written=2),
            obj("tank/a/new@s2", 20, written=40),
        ],
        10,
        42,
    ),
    (
        "nothing sent yet: everything",
        [obj("tank/a", written=1), obj("tank/a@s1", 10, written=4)],
        -1,
        5,
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "listing", "after", "expected"), WRITTEN, ids=[c[0] for c in WRITTEN]
)
def test_written_since(case: str, listing: list[ZfsObject], after: int, expected: int) -> None:
    tree = list(build_side(listing, {}).values())
    assert written_since(tree, after) == expected


def _tree_readings(dst_children: bool) -> Readings:
    """tank/a with a child holding data, a sibling whose name sorts among its children
    (tank/a-b), and backup/a with or without the child."""
    src = build_side(
        [
            obj("tank/a"), obj("tank/a@zfsync_1", 10, creation=int(NOW) - HOUR, g=1),
            obj("tank/a/c", written=4096), obj("tank/a/c@zfsync_1", 10, g=3),
            obj("tank/a-b", written=999), obj("tank/a-b/d", written=999),
        ],
        {},
    )  # fmt: skip
    dst_listing = [obj("backup/a"), obj("backup/a@zfsync_1", 5, g=1)]
    if dst_children:
        dst_listing += [obj("backup/a/c"), obj("backup/a/c@zfsync_1", 5, g=3)]
    dst = build_side(dst_listing, {})
    sides = {(LOCAL, n): ds for n, ds in [*src.items(), *dst.items()]}
    return Readings(sides=sides)


@pytest.mark.parametrize(
    ("recursive", "lag_bytes", "lag_seconds"), [(True, 4096, float(HOUR)), (False, 0, 0.0)]
)
def test_a_recursive_pair_lags_by_what_its_children_wrote(
    recursive: bool, lag_bytes: int, lag_seconds: float
) -> None:
    """Recursive as sync decides it: the destination has datasets below it. A sibling
    whose name sorts among the children (tank/a-b) is no part of the pair."""
    found = row(_pair("tank/a"), _tree_readings(recursive), NOW)
    assert (found.lag_bytes, found.lag_seconds, found.age) == (lag_bytes, lag_seconds, HOUR)


def test_a_tree_is_the_dataset_and_what_is_below_it_on_its_host() -> None:
    readings = _tree_readings(True)
    readings.sides[("far", "tank/a/x")] = readings.sides[(LOCAL, "tank/a/c")]
    names = [d.name for d in readings.tree(Peer(host=LOCAL, dataset="tank/a"))]
    assert names == ["tank/a", "tank/a/c"]
    assert readings.tree(Peer(host=LOCAL, dataset="tank/nope")) == []
