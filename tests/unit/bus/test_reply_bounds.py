"""No reply can exceed what the bus carries: computed from the bounds of zfsyncd/api/limits.py
(the largest row each list method can return, marshalled as dbus-fast sends it, times a full
page), and guarded (GuardedBus refuses a reply that would still be too large, and keeps its
connection).

The rows are built from stored records longer than any bound (what an older version may
have stored), with every character four bytes in UTF-8: the worst a reply can carry."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusStr, DBusUInt32
from dbus_fast.service import ServiceInterface, dbus_method

from zfsyncd.api import limits
from zfsyncd.api.names import ErrorName
from zfsyncd.api.records import SnapshotRow
from zfsyncd.bus import payloads
from zfsyncd.bus.connection import connect
from zfsyncd.store import StepRecord, TransactionRecord, TxState
from zfsyncd.store.ids import new_transaction_id

WIDE = "\U0001d11e"  # 4 bytes in UTF-8
#: longer than every bound: what replies carry is cut, whatever was stored
HUGE = WIDE * 100_000
MAX_NAME = "p" + "/" + "d" * 253  # 255 bytes, ZFS's limit


def _reply_size(body: list[object], signature: str) -> int:
    msg = Message(
        message_type=MessageType.METHOD_RETURN,
        reply_serial=1,
        destination=":1.1",
        signature=signature,
        body=body,
    )
    return len(msg._marshall(False))


def _worst_record(steps: int = 0) -> TransactionRecord:
    tx_id = new_transaction_id(1e9)
    return TransactionRecord(
        id=tx_id,
        type=WIDE * 64,
        state=TxState.FAILED,
        description=HUGE,
        created_at=1.0,
        updated_at=2.0,
        finished_at=3.0,
        uid=2**32 - 2,
        tags=[HUGE] * 1000,
        error=HUGE,
        error_kind=HUGE,
        rollback_outcome=HUGE,
        rolls_back=tx_id,
        retry_of=tx_id,
        datasets=[MAX_NAME] * 50_000,
        steps=[
            StepRecord(tx_id=tx_id, idx=n, kind="k" * 64, description=HUGE, error=HUGE)
            for n in range(steps)
        ],
    )


def test_a_full_page_of_transactions_stays_under_the_reply_limit() -> None:
    row = payloads.summary(_worst_record(), rollback_pending=True)
    one = _reply_size([[row]], "aa{sv}")
    page = _reply_size([[row] * limits.MAX_TRANSACTION_PAGE], "aa{sv}")
    assert page <= limits.REPLY_MAX_BYTES < limits.BUS_MAX_MESSAGE_BYTES, (one, page)


def test_a_transaction_with_two_steps_per_name_stays_under_the_reply_limit() -> None:
    # a Snapshot of MAX_NAMES_PER_CALL datasets in as many pools: one snapshot step and one
    # hold step per pool, the most a request of today's kinds plans
    detail = payloads.details(_worst_record(steps=2 * limits.MAX_NAMES_PER_CALL))
    assert _reply_size([detail], "a{sv}") <= limits.REPLY_MAX_BYTES


def test_a_full_page_of_snapshots_stays_under_the_reply_limit() -> None:
    name = MAX_NAME[:242] + "@" + "s" * 12  # a whole name is at most 255 bytes
    row = payloads.as_dict(
        SnapshotRow(
            name=name,
            dataset=MAX_NAME,
            snapshot="s" * 254,
            guid=2**64 - 1,
            created=1.0,
            used=2**64 - 1,
            referenced=2**64 - 1,
            held=True,
            transaction="t" * 64,
            cursor=f"{2**64 - 1}/{name}",
        )
    )
    assert _reply_size([[row] * limits.MAX_SNAPSHOT_PAGE], "aa{sv}") <= limits.REPLY_MAX_BYTES


def test_a_summary_says_how_much_was_left_out() -> None:
    row = payloads.summary(_worst_record())
    assert len(row["datasets"].value) == limits.MAX_SUMMARY_DATASETS
    assert row["datasets_count"].value == 50_000
    assert len(row["description"].value) == limits.MAX_DESCRIPTION_CHARS
    assert row["description"].value.endswith(limits.ELLIPSIS)
    assert len(row["tags"].value) == limits.MAX_TAGS
    assert row["cursor"].value == row["id"].value


class _Big(ServiceInterface):
    """Answers with a string of the size asked for."""

    def __init__(self) -> None:
        super().__init__("org.zfsync.Test")

    @dbus_method()
    def Give(self, size: DBusUInt32) -> DBusStr:
        return "x" * size


@pytest.fixture
async def big_service(private_bus: str) -> AsyncIterator[MessageBus]:
    bus = await connect(private_bus)
    bus.export("/big", _Big())
    yield bus
    bus.disconnect()


async def _ask(client: MessageBus, service: MessageBus, size: int) -> Message:
    reply = await client.call(
        Message(
            destination=service.unique_name,
            path="/big",
            interface="org.zfsync.Test",
            member="Give",
            signature="u",
            body=[size],
        )
    )
    assert reply is not None
    return reply


async def test_a_reply_too_large_is_refused_and_the_connection_kept(
    private_bus: str, big_service: MessageBus
) -> None:
    client = await MessageBus(bus_address=private_bus).connect()
    try:
        refused = await _ask(client, big_service, limits.REPLY_MAX_BYTES + 1)
        assert refused.message_type is MessageType.ERROR
        assert refused.error_name == ErrorName.REFUSED
        assert "over the 25165824 a reply may take" in refused.body[0]
        small = await _ask(client, big_service, 10)
        assert small.body == ["x" * 10]
        assert big_service.connected
    finally:
        client.disconnect()


class _Counted(Message):
    """A message that counts how often it is marshalled."""

    marshalled = 0

    def _marshall(self, negotiate_unix_fd: bool) -> bytearray:
        type(self).marshalled += 1
        return super()._marshall(negotiate_unix_fd)


async def test_a_reply_is_marshalled_once_to_be_measured_and_sent(
    private_bus: str, big_service: MessageBus
) -> None:
    client = await MessageBus(bus_address=private_bus).connect()
    try:
        signal = _Counted(
            message_type=MessageType.SIGNAL,
            path="/big",
            interface="org.zfsync.Test",
            member="Tick",
            signature="s",
            body=["x" * 1000],
        )
        await big_service.send(signal)
        assert _Counted.marshalled == 1
        assert (await _ask(client, big_service, 3)).body == ["xxx"]  # the stream is intact
    finally:
        client.disconnect()


def test_variants_of_a_row_are_what_the_api_declares() -> None:
    row = payloads.summary(_worst_record())
    assert isinstance(row["datasets_count"], Variant)
    assert row["datasets_count"].signature == "u"
    assert row["cursor"].signature == "s"


async def test_a_signal_too_large_is_not_sent_and_the_connection_kept(
    private_bus: str, big_service: MessageBus
) -> None:
    huge = Message.new_signal(
        "/big", "org.zfsync.Test", "Huge", "s", ["x" * limits.REPLY_MAX_BYTES]
    )
    sent = big_service.send(huge)
    assert sent.done()  # dropped, not queued
    client = await MessageBus(bus_address=private_bus).connect()
    try:
        assert (await _ask(client, big_service, 3)).body == ["xxx"]
    finally:
        client.disconnect()


def test_a_full_page_of_replicas_stays_under_the_reply_limit() -> None:
    # a pair whose texts are all longer than any bound: the peer property as someone set
    # it, an unreachable host's message, a stored failure
    from zfsyncd.ops.replication.props import Peer, Role
    from zfsyncd.ops.replication.status import LastError, Pair, Readings, row
    from zfsyncd.tx.hosts import located

    far = "h" * 63
    pair = Pair(
        MAX_NAME, Role.SOURCE, HUGE, Peer(host="local", dataset=MAX_NAME),
        Peer(host=far, dataset=MAX_NAME),
    )  # fmt: skip
    failure = LastError(new_transaction_id(1e9), 1.0, HUGE)
    readings = Readings(
        host_errors={far: HUGE},
        failures={MAX_NAME: failure, located(far, MAX_NAME): failure},
    )
    one = payloads.as_dict(row(pair, readings, 2e9))
    page = _reply_size([[one] * limits.MAX_REPLICA_PAGE], "aa{sv}")
    assert page <= limits.REPLY_MAX_BYTES, page
