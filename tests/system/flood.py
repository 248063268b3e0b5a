"""A flood of reads at zfsyncd, as a subprocess (run as `nobody` by the tests): CONNECTIONS
connections, each keeping IN_FLIGHT calls of GetStatus and ListTransactions in flight, until
SIGTERM.

    python -m tests.system.flood CONNECTIONS IN_FLIGHT

It prints "flooding" once every call of the first wave is sent (stdout, flushed), and on
SIGTERM one JSON object: how many replies came back under each name ("ok", or the D-Bus
error's name), then exits 0. Anything else means the flooder itself broke.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from zfsyncd.api.names import BUS_NAME, MANAGER_IFACE, MANAGER_PATH

READS = (
    ("GetStatus", "", []),
    ("ListTransactions", "a{sv}", [{"limit": Variant("u", 5)}]),
)


async def _keep_calling(
    bus: MessageBus, n: int, replies: Counter[str], stop: asyncio.Event
) -> None:
    member, signature, body = READS[n % len(READS)]
    while not stop.is_set():
        try:
            reply = await bus.call(
                Message(
                    destination=BUS_NAME,
                    path=MANAGER_PATH,
                    interface=MANAGER_IFACE,
                    member=member,
                    signature=signature,
                    body=body,
                )
            )
        except Exception as exc:  # the connection went: counted, and this caller stops
            replies[f"lost: {type(exc).__name__}"] += 1
            return
        if reply is None or reply.message_type is MessageType.ERROR:
            replies[reply.error_name if reply is not None else "none"] += 1
        else:
            replies["ok"] += 1


async def _answered(replies: Counter[str], count: int, stop: asyncio.Event) -> None:
    """Until the daemon has answered `count` calls: the flood has reached it."""
    while sum(replies.values()) < count and not stop.is_set():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def main(connections: int, in_flight: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    replies: Counter[str] = Counter()
    buses = [await MessageBus(bus_type=BusType.SYSTEM).connect() for _ in range(connections)]
    callers = [
        asyncio.create_task(_keep_calling(bus, n, replies, stop))
        for bus in buses
        for n in range(in_flight)
    ]
    await _answered(replies, in_flight, stop)
    print("flooding", flush=True)
    await stop.wait()
    for task in callers:
        task.cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    for bus in buses:
        bus.disconnect()
    print(json.dumps(dict(replies)), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
