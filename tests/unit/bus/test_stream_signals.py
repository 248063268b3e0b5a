"""A transaction's per-stream progress on the bus: the throttled StreamProgress signal and
the Streams property (in the progress properties' PropertiesChanged), sent only when the
streams changed, once empty when the last ended, never for a transaction without streams,
at most MAX_PROGRESS_STREAMS rows; the Progress signal keeps its signature."""

from __future__ import annotations

from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.service import ServiceInterface

from tests.unit.bus.api_checks import XML
from tests.unit.bus.fakes import FakeAuthority, Log, record
from zfsyncd.api import limits
from zfsyncd.bus.transaction_object import TransactionObject
from zfsyncd.store import StepState, TxState
from zfsyncd.tx.manager import Caller
from zfsyncd.tx.steps.transfers import MAX_PARALLEL
from zfsyncd.zfs import names
from zfsyncd.zfs.models import TransferProgress


class Seen:
    """A bus the object is added to: what it sent, each marshalled as the bus would (a body
    that does not fit its signature fails the test): (signal, signature, body), and each
    PropertiesChanged as ("Properties", its keys, the Streams value or None)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def _interface_signal_notify(
        self, interface: ServiceInterface, iface: str, member: str, signature: str,
        body: list[Any], unix_fds: list[int] | None = None,
    ) -> None:  # fmt: skip
        Message(
            message_type=MessageType.SIGNAL, path="/o", interface=iface, member=member,
            signature=signature, body=body,
        )._marshall(False)  # fmt: skip
        if member == "PropertiesChanged":
            streams = body[1].get("Streams")
            keys = ",".join(sorted(body[1]))
            self.sent.append(("Properties", keys, None if streams is None else streams.value))
        else:
            self.sent.append((member, signature, body))

    def signals(self, name: str) -> list[Any]:
        return [body for n, _, body in self.sent if n == name]

    def clear(self) -> None:
        self.sent.clear()


@pytest.fixture
def seen() -> Seen:
    return Seen()


async def _cancel(tx_id: str, caller: Caller) -> None:
    raise AssertionError("not cancelled here")


def _object(seen: Seen) -> TransactionObject:
    obj = TransactionObject(
        record(), signal_rate=1.0, cancel=_cancel, authority=FakeAuthority(Log())
    )
    ServiceInterface._add_bus(obj, seen, lambda _i, _m: None)  # type: ignore[arg-type]
    return obj


def _bytes(done: int, total: int | None = None) -> TransferProgress:
    return TransferProgress(bytes_done=done, bytes_total=total)


async def test_streams_go_out_with_progress_only_when_they_changed(seen: Seen) -> None:
    obj = _object(seen)
    sink = obj.sink()
    sink.step_started(0, "send tank@s to backup/tank")
    assert seen.signals("StreamProgress") == []

    sink.stream("tank/a", _bytes(0))  # the first poke after a quiet time: out at once
    assert seen.signals("StreamProgress") == [[[["tank/a", 0, 0, 0.0, -1.0]]]]
    assert ("Properties", _PROGRESS_AND_STREAMS, [["tank/a", 0, 0, 0.0, -1.0]]) in seen.sent
    seen.clear()

    sink.stream("tank/b", _bytes(0, 100))
    sink.stream("tank/a", _bytes(50, 200))
    sink.transfer(_bytes(50, 300))
    assert seen.sent == []  # folded into one emission at the end of the interval
    obj._throttle.flush()
    (rows,) = seen.signals("StreamProgress")
    assert [r[:3] for r in rows[0]] == [["tank/a", 50, 200], ["tank/b", 0, 100]]
    assert seen.signals("Progress")[-1][1] == 50  # the total, as before
    seen.clear()

    sink.transfer(_bytes(60, 300))  # the total moved, no stream did: no StreamProgress
    obj._throttle.flush()
    assert seen.signals("StreamProgress") == []
    assert len(seen.signals("Progress")) == 1
    assert ("Properties", _PROGRESS, None) in seen.sent
    seen.clear()

    sink.stream_ended("tank/a")
    sink.stream_ended("tank/b")
    obj._throttle.flush()
    assert seen.signals("StreamProgress") == [[[]]]  # once empty: the last one ended
    seen.clear()
    sink.step_finished(0, StepState.COMPLETED)
    obj._throttle.flush()
    assert seen.signals("StreamProgress") == []
    assert obj.Streams == []  # type: ignore[comparison-overlap]


_PROGRESS = "BytesDone,BytesTotal,CurrentStep,ETA,Percent,Rate"
_PROGRESS_AND_STREAMS = _PROGRESS + ",Streams"


async def test_a_transaction_without_streams_sends_none(seen: Seen) -> None:
    obj = _object(seen)
    sink = obj.sink()
    sink.step_started(0, "snapshot tank")
    sink.transfer(_bytes(10, 100))
    sink.step_finished(0, StepState.COMPLETED)
    obj._throttle.flush()
    obj.update(record().model_copy(update={"state": TxState.COMPLETED}))
    assert seen.signals("Progress")  # Progress as ever, with its signature
    assert {sig for name, sig, _ in seen.sent if name == "Progress"} == {"dttdd"}
    assert seen.signals("StreamProgress") == []
    assert all(streams is None for name, _, streams in seen.sent if name == "Properties")


async def test_the_end_of_the_transaction_says_no_stream_runs(seen: Seen) -> None:
    obj = _object(seen)
    sink = obj.sink()
    sink.step_started(0, "send")
    sink.stream("tank/a", _bytes(5, 10))
    assert obj.Streams == [["tank/a", 5, 10, 0.0, -1.0]]  # type: ignore[comparison-overlap]
    seen.clear()
    obj.update(record().model_copy(update={"state": TxState.FAILED, "error": "cut"}))
    assert seen.signals("StreamProgress") == [[[]]]
    assert [n for n, _, _ in seen.sent][-1] == "Finished"  # nothing after it
    assert obj.Streams == []  # type: ignore[comparison-overlap]


async def test_the_rows_are_bounded(seen: Seen) -> None:
    obj = _object(seen)
    sink = obj.sink()
    sink.step_started(0, "send")
    longest = "p" * (names.MAX_NAME_BYTES - 8)
    for i in range(limits.MAX_PROGRESS_STREAMS + 10):
        sink.stream(f"{longest}/{i:07d}", _bytes(2**63, 2**63))
    obj._throttle.flush()
    body = seen.signals("StreamProgress")[-1]
    assert len(body[0]) == limits.MAX_PROGRESS_STREAMS
    signal = Message(
        message_type=MessageType.SIGNAL, path="/o", interface="a.b", member="StreamProgress",
        signature="a(sttdd)", body=body,
    )  # fmt: skip
    assert len(signal._marshall(False)) < 8 * 1024  # a few KiB at worst, whatever is synced


def test_the_xml_documents_the_bound() -> None:
    xml = XML.read_text()
    comment = xml[: xml.index('<signal name="StreamProgress">')].rsplit("<!--", 1)[1]
    assert f"At most {limits.MAX_PROGRESS_STREAMS} rows" in comment
    assert f"(at most {limits.MAX_PROGRESS_STREAMS} rows)" in xml
    assert limits.MAX_PROGRESS_STREAMS >= MAX_PARALLEL  # every running stream is listed
