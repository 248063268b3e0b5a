"""Issue 9's cases, kept failing if they regress: requests over a bound refused with nothing
stored, list filters checked, Cleanup(inf) refused before anything is deleted, many large
transactions read page by page with the daemon alive, control characters kept off the
terminal, `nobody` flooding reads while root's calls succeed and the audit log stays small,
and a lost bus connection ending the daemon in one clear line (for systemd to restart it).

The bounds themselves: zfsyncd/api/limits.py (and the XML's comments)."""

from __future__ import annotations

import json
import math
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from tests.system.daemon import Daemon, call, start_daemon
from tests.system.harness import (
    Processes,
    SystemBus,
    User,
    make_bus_dir,
    read_line,
    remove_dir,
    start_bus,
)
from zfsyncd.api import limits
from zfsyncd.api.names import ErrorName

NOT_FOUND, INVALID = 4, 5


@pytest.fixture(scope="module")
async def daemon(
    system_bus: SystemBus, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Daemon]:
    started = await start_daemon(system_bus, tmp_path_factory.mktemp("limits"), memory_delay=0.01)
    yield started
    assert started.proc.poll() is None, f"zfsyncd died during the tests:\n{started.log()}"
    system_bus.stop(started.proc)


def _stored(daemon: Daemon) -> int:
    return int(daemon.rows("SELECT count(*) FROM transactions")[0][0])


def _refused(reply: Message, name: str, words: str) -> None:
    assert reply.message_type is MessageType.ERROR, reply.body
    assert (reply.error_name, words in reply.body[0]) == (name, True), reply.body


def _snapshot(options: dict[str, Variant], datasets: list[str] | None = None) -> tuple[Any, ...]:
    return ("Snapshot", "asa{sv}", [datasets or ["tank"], options])


def _list(query: dict[str, Variant]) -> tuple[Any, ...]:
    return ("ListTransactions", "a{sv}", [query])


TOO_MUCH = [
    (_snapshot({"tags": Variant("as", [""])}), "a tag may not be empty"),
    (_snapshot({"tags": Variant("as", ["\x1b[2Jx"])}), "only printable characters"),
    (_snapshot({"tags": Variant("as", ["a\nb"])}), "only printable characters"),
    (_snapshot({"tags": Variant("as", ["x" * 1_000_000])}), "limited to 64 characters"),
    (_snapshot({"tags": Variant("as", ["t"] * 10_000)}), "at most 32 tags, not 10000"),
    (_snapshot({"timeout": Variant("d", math.inf)}), "a timeout must be more than 0"),
    (_snapshot({"timeout": Variant("t", 2**64 - 1)}), "a timeout must be more than 0"),
    (_snapshot({"timeout": Variant("d", math.nan)}), "a timeout must be more than 0"),
    (_snapshot({"priority": Variant("t", 2**63)}), "a priority must be from -1000 to 1000"),
    (
        _snapshot({}, [f"tank/d{n}" for n in range(limits.MAX_NAMES_PER_CALL + 1)]),
        "datasets: takes at most 1000 item(s), has 1001",
    ),
    (
        _snapshot({"properties": Variant("a{ss}", {f"a:p{n}": "v" for n in range(65)})}),
        "properties: takes at most 64 item(s)",
    ),
    (
        ("DestroySnapshots", "asa{sv}", [[f"tank@zfsync_{n}" for n in range(1001)], {}]),
        "snapshots: takes at most 1000 item(s), has 1001",
    ),
    (
        _snapshot({"properties": Variant("a{ss}", {"a:b": "x\ny"})}),
        "invalid value of property 'a:b': a property value may not contain a tab",
    ),
    (
        ("DestroySnapshots", "asa{sv}", [["tank"], {}]),
        "a snapshot name has exactly one '@' (pool/fs@snap); it has none",
    ),
]


@pytest.mark.parametrize(("request_", "words"), TOO_MUCH)
async def test_a_request_over_a_bound_is_refused_and_nothing_stored(
    daemon: Daemon, client: MessageBus, request_: tuple[Any, ...], words: str
) -> None:
    before = _stored(daemon)
    reply = await call(client, *request_)
    _refused(reply, ErrorName.INVALID_ARGUMENT, words)
    assert "Value error" not in reply.body[0]
    assert "after validation" not in reply.body[0]
    assert _stored(daemon) == before


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (_list({"limit": Variant("t", 2**63)}), "limit: must be at most 500"),
        (_list({"since": Variant("d", math.nan)}), "since: must be a finite number"),
        (_list({"after": Variant("s", "x")}), "after: not a cursor"),
        (("ListSnapshots", "asa{sv}", [[], {"limit": Variant("u", 1001)}]), "from 0 to 1000"),
        (("ListSnapshots", "asa{sv}", [[], {"after": Variant("s", "1/x")}]), "not a cursor"),
    ],
)  # fmt: skip
async def test_a_list_filter_over_a_bound_is_refused(
    daemon: Daemon, client: MessageBus, request_: tuple[Any, ...], words: str
) -> None:
    _refused(await call(client, *request_), ErrorName.INVALID_ARGUMENT, words)


async def test_cleanup_of_no_finite_age_deletes_nothing(daemon: Daemon, client: MessageBus) -> None:
    daemon.ctl_json("snapshot", "create", "tank")
    before = _stored(daemon)
    for age in (math.inf, math.nan, -1.0):
        reply = await call(client, "Cleanup", "d", [age])
        _refused(reply, ErrorName.INVALID_ARGUMENT, "older_than must be from 0")
    assert _stored(daemon) == before
    assert "Out of range float" not in daemon.log()


async def test_many_large_transactions_are_read_page_by_page(
    daemon: Daemon, client: MessageBus
) -> None:
    # the case: refused requests naming many datasets, whose descriptions are stored
    names = [f"tank/{'d' * 200}{n}" for n in range(limits.MAX_NAMES_PER_CALL)]
    for _ in range(12):
        reply = await call(client, *_snapshot({}, names))
        _refused(reply, ErrorName.NOT_FOUND, "does not exist")
    rows: list[dict[str, Any]] = []
    after: dict[str, Variant] = {}
    while True:
        reply = await call(
            client, "ListTransactions", "a{sv}", [{"limit": Variant("u", 5), **after}]
        )
        assert reply.message_type is MessageType.METHOD_RETURN, reply.body
        rows += reply.body[0]
        if len(reply.body[0]) < 5:
            break
        after = {"after": Variant("s", reply.body[0][-1]["cursor"].value)}
    ids = [r["id"].value for r in rows]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == len(set(ids)) == _stored(daemon)
    big = next(r for r in rows if r["datasets_count"].value == limits.MAX_NAMES_PER_CALL)
    assert len(big["datasets"].value) == limits.MAX_SUMMARY_DATASETS
    assert len(big["description"].value) == limits.MAX_DESCRIPTION_CHARS
    assert big["description"].value.endswith("…")
    listed = daemon.ctl_json("transaction", "list", "--limit", "0")
    assert [r["id"] for r in listed] == ids
    assert daemon.proc.poll() is None


def test_control_characters_never_reach_the_terminal(daemon: Daemon) -> None:
    done = daemon.ctl("snapshot", "create", "tank", "--tag", "\x1b]0;owned\x07\x1b[2J")
    assert done.returncode == INVALID, done.stderr
    assert "\x1b" not in done.stderr + done.stdout
    assert "\\x1b" in done.stderr  # named, as an escape


def test_a_missing_dataset_or_snapshot_is_not_found(daemon: Daemon) -> None:
    for args in (
        ("snapshot", "create", "tank/missing"),
        ("snapshot", "destroy", "tank@zfsync_missing"),
        ("snapshot", "list", "tank/missing"),
    ):
        done = daemon.ctl(*args)
        assert done.returncode == NOT_FOUND, (args, done.stderr)
        assert "does not exist" in done.stderr


def test_root_is_served_while_nobody_floods(
    daemon: Daemon, system_bus: SystemBus, nobody: User
) -> None:
    audit_before = int(daemon.rows("SELECT count(*) FROM audit")[0][0])
    flood = system_bus.spawn(
        [sys.executable, "-m", "tests.system.flood", "3", "80"],
        user=nobody,
        name="flood",
        stdout_pipe=True,
    )
    assert flood.stdout is not None
    try:
        assert read_line(flood.stdout, 60) == "flooding"
        for _ in range(2):
            status = daemon.ctl("status")
            assert status.returncode == 0, status.stderr
            made = daemon.ctl("snapshot", "create", "tank")
            assert made.returncode == 0, made.stderr
        assert flood.poll() is None, "the flood ended before root's calls did"
        flood.send_signal(signal.SIGTERM)  # it reports what it got, then exits
        replies = json.loads(read_line(flood.stdout, 60))
    finally:
        system_bus.stop(flood)
    assert replies.get("ok", 0) > 0, replies
    assert ErrorName.NOT_AUTHORIZED not in replies, replies  # a busy daemon is not a refusal
    assert set(replies) <= {"ok", ErrorName.BUSY}, replies
    audit_rows = int(daemon.rows("SELECT count(*) FROM audit")[0][0]) - audit_before
    assert audit_rows < 50, audit_rows  # refusals of one kind fold into a row a minute
    assert daemon.proc.poll() is None


async def test_a_lost_bus_connection_ends_the_daemon_in_one_clear_line(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    directory = make_bus_dir()
    processes = Processes(directory)
    try:
        bus = start_bus(directory, processes)
        dbus_daemon = processes.running[-1][0]
        started = await start_daemon(bus, tmp_path_factory.mktemp("lost"))
        processes.stop(dbus_daemon)  # the bus goes away under the daemon
        status = started.proc.wait(timeout=60)
        log = started.log()
        assert status == 1, log  # non-zero: Restart=on-failure starts it again
        assert log.count("lost the bus connection") == 1, log
        assert "Future exception was never retrieved" not in log
        assert "Traceback" not in log
    finally:
        processes.stop_all()
        remove_dir(directory)
