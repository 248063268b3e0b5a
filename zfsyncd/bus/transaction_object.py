"""One transaction on the bus: /org/zfsync/Daemon1/Transaction/<id>.

Its properties are always current (read from the newest record and the progress tracker);
its signals say what happened. Progress, and the PropertiesChanged for the progress
properties, go through a Throttle; so do the per-stream rows of a step that runs several
transfers at once (a replica sync): the Streams property and the StreamProgress signal,
sent only while streams run and once more, empty, when the last has ended (a transaction
without streams sends neither); step, message and state signals are bounded by the
number of steps and go out at once. The object holds no logic of its own: Cancel is the
Manager's (service.py), with the same polkit actions; the numbers are tx.progress's.
"""

# no `from __future__ import annotations`: dbus-fast reads the annotations at class
# creation, and a postponed `-> None` would reach it as the string "None"
from collections.abc import Awaitable, Callable
from typing import Annotated

from dbus_fast.annotations import DBusDouble, DBusInt32, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.annotations import DBusUInt64 as DBusU64
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import dbus_method, dbus_property, dbus_signal

from zfsyncd.api.names import TRANSACTION_IFACE
from zfsyncd.bus import payloads
from zfsyncd.bus.authorized import (
    Authority,
    AuthorizedInterface,
    authorized,
    authorized_caller,
    cancel_action,
)
from zfsyncd.bus.throttle import Throttle
from zfsyncd.store import StepState, TransactionRecord
from zfsyncd.tx.manager import Caller
from zfsyncd.tx.progress import ProgressReading, ProgressSink, ProgressTracker, StreamReading
from zfsyncd.zfs.models import TransferProgress

ProgressBody = Annotated[tuple[float, int, int, float, float], DBusSignature("dttdd")]
StepsType = Annotated[list[list[object]], DBusSignature("a(ussss)")]
#: per running stream: dataset, bytes done, bytes estimated (0: unknown), rate, eta (-1)
StreamsType = Annotated[list[list[object]], DBusSignature("a(sttdd)")]
PROGRESS_PROPERTIES = ("Percent", "BytesDone", "BytesTotal", "Rate", "ETA", "CurrentStep")


async def _cancel_action(obj: "TransactionObject", reader: Caller) -> str:
    return cancel_action(obj.record.type, obj.record.uid, reader)


class TransactionObject(AuthorizedInterface):
    def __init__(
        self,
        record: TransactionRecord,
        *,
        signal_rate: float,
        cancel: Callable[[str, Caller], Awaitable[None]],
        authority: Authority,
    ) -> None:
        super().__init__(TRANSACTION_IFACE, authority)
        self.record = record
        self._cancel = cancel
        self.tracker = ProgressTracker([s.bytes_total for s in record.steps])
        self._throttle = Throttle(signal_rate, self._emit_progress)
        self._steps = payloads.steps_property(record)
        self._streams_sent: list[list[object]] = []  # what the last emission said

    @property
    def tx_id(self) -> str:
        return self.record.id

    def reading(self) -> ProgressReading:
        if self.record.state.is_terminal:
            return payloads.stored_progress(self.record)
        return self.tracker.reading()

    def streams(self) -> list[list[object]]:
        """The running streams as the Streams property and the StreamProgress signal carry
        them (at most limits.MAX_PROGRESS_STREAMS: the tracker's bound)."""
        if self.record.state.is_terminal:
            return []
        return [_stream_row(s) for s in self.tracker.streams()]

    # ------------------------------------------------------------- fed by the service

    def begin(self, record: TransactionRecord) -> None:
        """It starts executing: track the steps of its plan (stored after it was created)."""
        self.tracker = ProgressTracker([s.bytes_total for s in record.steps])
        self._steps = payloads.steps_property(record)

    def update(self, record: TransactionRecord) -> None:
        """A newer record (a state change); tells watchers what changed."""
        old = self.record
        self.record = record
        changed: dict[str, object] = {}
        if record.state is not old.state:
            changed["State"] = record.state.value
        if (record.error or "") != (old.error or ""):
            changed["Error"] = record.error or ""
        if (record.description or "") != (old.description or ""):
            changed["Description"] = record.description or ""
        steps = payloads.steps_property(record)
        if steps != self._steps:
            self._steps = steps
            changed["Steps"] = steps
        streams_ended = False
        if record.state.is_terminal:
            self._throttle.flush()
            changed.update(self._progress_properties())
            # a stream cut by the end (a failure, a cancel) said nothing since: say it
            streams_ended = bool(self._streams_sent)
            if streams_ended:
                changed["Streams"] = self._streams_sent = []
        if changed:
            self.emit_properties_changed(changed)
        if record.state.is_terminal:
            self._throttle.close()
            if streams_ended:
                self.StreamProgress([])
            self.Finished(record.state.value, record.error or "")

    def sink(self) -> ProgressSink:
        return _BusSink(self)

    def _progress_properties(self) -> dict[str, object]:
        r = self.reading()
        return {
            "Percent": r.percent,
            "BytesDone": r.bytes_done,
            "BytesTotal": r.bytes_total,
            "Rate": r.rate,
            "ETA": r.eta,
            "CurrentStep": r.current_step,
        }

    def _emit_progress(self) -> None:
        streams = self.streams()
        changed = streams != self._streams_sent
        properties = self._progress_properties()
        if changed:
            properties["Streams"] = streams
        self.emit_properties_changed(properties)
        self.Progress()
        if changed:
            self._streams_sent = streams
            self.StreamProgress(streams)

    def _step_changed(self, idx: int, state: StepState, error: str = "") -> None:
        for row in self._steps:
            if row[0] == idx:
                row[3], row[4] = state.value, error
        self.emit_properties_changed({"Steps": self._steps, **self._progress_properties()})

    # ------------------------------------------------------------- the D-Bus interface

    @dbus_method()
    @authorized(_cancel_action)
    async def Cancel(self) -> None:  # D-Bus member names are CamelCase
        await self._cancel(self.tx_id, authorized_caller())

    @dbus_signal()
    def Progress(self) -> ProgressBody:
        r = self.reading()
        return (r.percent, r.bytes_done, r.bytes_total, r.rate, r.eta)

    @dbus_signal()
    def StreamProgress(self, streams: list[list[object]]) -> StreamsType:
        return streams

    @dbus_signal()
    def StepStarted(
        self, index: int, description: str
    ) -> Annotated[tuple[int, str], DBusSignature("us")]:
        return (index, description)

    @dbus_signal()
    def StepFinished(
        self, index: int, state: str
    ) -> Annotated[tuple[int, str], DBusSignature("us")]:
        return (index, state)

    @dbus_signal()
    def Message(self, text: str) -> DBusStr:
        return text

    @dbus_signal()
    def Finished(self, state: str, error: str) -> Annotated[tuple[str, str], DBusSignature("ss")]:
        return (state, error)

    @dbus_property(access=PropertyAccess.READ)
    def Id(self) -> DBusStr:
        return self.record.id

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> DBusStr:
        return self.record.type

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> DBusStr:
        return self.record.state.value

    @dbus_property(access=PropertyAccess.READ)
    def Description(self) -> DBusStr:
        return self.record.description or ""

    @dbus_property(access=PropertyAccess.READ)
    def Uid(self) -> DBusUInt32:
        return payloads.uid_value(self.record.uid)

    @dbus_property(access=PropertyAccess.READ)
    def Steps(self) -> StepsType:
        return self._steps

    @dbus_property(access=PropertyAccess.READ)
    def Percent(self) -> DBusDouble:
        return self.reading().percent

    @dbus_property(access=PropertyAccess.READ)
    def BytesDone(self) -> DBusU64:
        return self.reading().bytes_done

    @dbus_property(access=PropertyAccess.READ)
    def BytesTotal(self) -> DBusU64:
        return self.reading().bytes_total

    @dbus_property(access=PropertyAccess.READ)
    def Rate(self) -> DBusDouble:
        return self.reading().rate

    @dbus_property(access=PropertyAccess.READ)
    def ETA(self) -> DBusDouble:
        return self.reading().eta

    @dbus_property(access=PropertyAccess.READ)
    def CurrentStep(self) -> DBusInt32:
        return self.reading().current_step

    @dbus_property(access=PropertyAccess.READ)
    def Error(self) -> DBusStr:
        return self.record.error or ""

    @dbus_property(access=PropertyAccess.READ)
    def Streams(self) -> StreamsType:
        return self.streams()


def _stream_row(s: StreamReading) -> list[object]:
    return [s.name, s.bytes_done, s.bytes_total, s.rate, s.eta]


class _BusSink(ProgressSink):
    """What the executor reports, into the tracker and out as signals."""

    def __init__(self, obj: TransactionObject) -> None:
        self._obj = obj

    def step_started(self, idx: int, description: str) -> None:
        self._obj.tracker.step_started(idx, description)
        self._obj._step_changed(idx, StepState.RUNNING)
        self._obj.StepStarted(idx, description)

    def step_finished(self, idx: int, state: StepState) -> None:
        self._obj.tracker.step_finished(idx, state)
        self._obj._step_changed(idx, state)
        self._obj.StepFinished(idx, state.value)
        self._obj._throttle.poke()

    def transfer(self, progress: TransferProgress) -> None:
        self._obj.tracker.transfer(progress)
        self._obj._throttle.poke()

    def stream(self, name: str, progress: TransferProgress) -> None:
        self._obj.tracker.stream(name, progress)
        self._obj._throttle.poke()

    def stream_ended(self, name: str) -> None:
        self._obj.tracker.stream_ended(name)
        self._obj._throttle.poke()

    def message(self, text: str) -> None:
        self._obj.Message(text)
