"""The services bench/bus.py measures, one per process, on the system bus it is given.

    python -m bench.echo_service bare       # a bare dbus-fast service: the baseline
    python -m bench.echo_service zfsyncd    # zfsyncd's own Transaction object, guarded bus

Each prints its unique bus name and serves until killed. Echo(s) -> s answers at once;
Burst(u n, b paced) emits n signals; paced, it sleeps 1 ms after every 50 (at most 50,000 a
second: a client reading in Python keeps up with about that; faster, dbus-daemon stops
reading the sender and the bare library's writer dies of the full socket, even when it
yields to the loop after every signal: measured), unpaced it queues them all at once.
In "zfsyncd" mode the signals are zfsyncd's StepStarted through its TransactionObject on the
guarded connection, and Feed(u per_second, d seconds) reports transfer progress at that rate
through the object's sink, which zfsyncd throttles into a few Progress signals a second.
"""

# no `from __future__ import annotations`: dbus-fast reads `-> None` at class creation
import asyncio
import sys
import time
from typing import Annotated

from dbus_fast import BusType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusDouble, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.service import ServiceInterface, dbus_method, dbus_signal

from zfsyncd.bus.connection import connect
from zfsyncd.bus.transaction_object import TransactionObject
from zfsyncd.store import StepRecord, StepState, TransactionRecord, TxState
from zfsyncd.tx.manager import Caller
from zfsyncd.zfs.models import TransferProgress

IFACE = "org.zfsync.BenchEcho"
PATH = "/bench"
TX_PATH = "/bench/tx"


class Bare(ServiceInterface):
    def __init__(self) -> None:
        super().__init__(IFACE)

    @dbus_method()
    async def Echo(self, text: DBusStr) -> DBusStr:
        return text

    @dbus_method()
    async def Burst(self, count: DBusUInt32, paced: DBusBool) -> None:
        for i in range(count):
            self._emit(i)
            if paced and i % 50 == 49:
                await asyncio.sleep(0.001)

    def _emit(self, i: int) -> None:
        self.StepStarted(i, "step")

    @dbus_signal()
    def StepStarted(
        self, index: int, description: str
    ) -> Annotated[tuple[int, str], DBusSignature("us")]:
        return (index, description)


class Zfsyncd(Bare):
    """The same methods, but the signals go out through zfsyncd's TransactionObject; and
    Feed, which the bare service has no counterpart of."""

    def __init__(self, tx: TransactionObject) -> None:
        super().__init__()
        self._tx = tx

    def _emit(self, i: int) -> None:
        self._tx.StepStarted(i, "step")

    @dbus_method()
    async def Feed(self, per_second: DBusUInt32, seconds: DBusDouble) -> DBusUInt32:
        sink = self._tx.sink()
        total = 1 << 30
        sent, start = 0, time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * per_second)
            while sent < due:
                sent += 1
                sink.transfer(TransferProgress(bytes_done=sent * 1024, bytes_total=total))
            await asyncio.sleep(0.001)
        return sent


def _record() -> TransactionRecord:
    now = time.time()
    step = StepRecord(tx_id="bench", idx=0, kind="send-recv", state=StepState.RUNNING,
                      bytes_total=1 << 30)  # fmt: skip
    return TransactionRecord(id="bench", type="bench", state=TxState.EXECUTING,
                             created_at=now, updated_at=now, steps=[step])  # fmt: skip


async def main(mode: str) -> None:
    if mode == "bare":
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        bus.export(PATH, Bare())
    else:
        bus = await connect()
        tx = TransactionObject(_record(), signal_rate=4.0, cancel=_no_cancel, authority=_NoOne())
        tx.tracker.step_started(0, "send")
        bus.export(TX_PATH, tx)
        bus.export(PATH, Zfsyncd(tx))
    print(bus.unique_name, flush=True)
    await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]


async def _no_cancel(tx_id: str, caller: Caller) -> None:
    raise RuntimeError("not here")


class _NoOne:
    """The benchmark's Cancel is never called: no one is authorized."""

    async def authorize(self, action: str) -> Caller:
        raise RuntimeError("no calls that need polkit here")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "bare"))
