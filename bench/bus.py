"""zfsyncd's bus costs against a bare dbus-fast service, measured in the same run.

    .venv/bin/python -m bench.bus [--calls N] [--signals N] [--burst N]   (root, in the repo)

Starts a private system bus with real polkitd (the system tier's harness), zfsyncd on the
in-memory model, and the services of bench/echo_service.py, then prints:
- method calls per second, one at a time and 64 in flight: the bare Echo; zfsyncd's
  Properties.Get (bus and dispatch only); zfsyncd's GetTransaction (also polkit's
  CheckAuthorization and an SQLite read, as every method call that reads does);
- signals per second a client receives: bare dbus-fast vs zfsyncd's Transaction object on
  its guarded connection;
- what zfsyncd makes of 1,000 progress updates a second: the Progress signals it sends
  (throttled to a few a second), and that its connection stays up.
Ratios are zfsyncd's rate over the bare one (1.0 = as fast).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from tests.system.daemon import start_daemon
from tests.system.harness import (
    Processes,
    SystemBus,
    make_bus_dir,
    read_line,
    remove_dir,
    start_bus,
    start_polkitd,
)
from zfsyncd.api.names import BUS_NAME, MANAGER_IFACE, MANAGER_PATH, transaction_id

IFACE, PATH, TX_PATH = "org.zfsync.BenchEcho", "/bench", "/bench/tx"


def _msg(
    dest: str, path: str, iface: str, member: str, sig: str = "", body: list[object] | None = None
) -> Message:
    return Message(destination=dest, path=path, interface=iface, member=member,
                   signature=sig, body=body or [])  # fmt: skip


async def _ok(bus: MessageBus, msg: Message) -> Message:
    reply = await bus.call(msg)
    if reply is None or reply.message_type is not MessageType.METHOD_RETURN:
        raise RuntimeError(f"{msg.member}: {reply.body if reply else 'no reply'}")
    return reply


async def _match(bus: MessageBus, service: str, member: str) -> None:
    """Ask the bus to deliver `member` signals from `service` to this client."""
    rule = f"type='signal',sender='{service}',member='{member}'"
    dbus = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
    await _ok(bus, _msg(*dbus, "AddMatch", "s", [rule]))


async def _rate(make: Callable[[], Awaitable[Message]], n: int, in_flight: int) -> float:
    start = time.perf_counter()
    done = 0
    while done < n:
        batch = min(in_flight, n - done)
        await asyncio.gather(*(make() for _ in range(batch)))
        done += batch
    return n / (time.perf_counter() - start)


async def _signal_rate(bus: MessageBus, service: str, count: int, paced: bool = True) -> float:
    received = 0
    finished = asyncio.Event()

    def on(msg: Message) -> bool:
        nonlocal received
        if msg.member == "StepStarted" and msg.sender == service:
            received += 1
            if received >= count:
                finished.set()
        return False

    bus.add_message_handler(on)
    await _match(bus, service, "StepStarted")
    start = time.perf_counter()
    await _ok(bus, _msg(service, PATH, IFACE, "Burst", "ub", [count, paced]))
    try:
        await asyncio.wait_for(finished.wait(), timeout=120)
    finally:
        bus.remove_message_handler(on)
    return received / (time.perf_counter() - start)


async def _progress(
    bus: MessageBus, service: str, per_second: int, seconds: float
) -> tuple[int, int]:
    seen = 0

    def on(msg: Message) -> bool:
        nonlocal seen
        if msg.member == "Progress" and msg.sender == service:
            seen += 1
        return False

    bus.add_message_handler(on)
    await _match(bus, service, "Progress")
    reply = await _ok(bus, _msg(service, PATH, IFACE, "Feed", "ud", [per_second, seconds]))
    await asyncio.sleep(0.5)  # the last throttled one
    bus.remove_message_handler(on)
    return int(reply.body[0]), seen


async def bench(calls: int, signals: int, burst: int) -> None:
    directory = make_bus_dir()
    processes = Processes(directory)
    try:
        # the baseline service has no policy file of its own: let root (this bench) call it
        allow = f'<policy user="root"><allow send_interface="{IFACE}"/></policy>'
        system = start_bus(directory, processes, extra_policy=allow)
        await start_polkitd(system)
        with tempfile.TemporaryDirectory() as tmp:
            await start_daemon(system, Path(tmp))
            bare = _service(system, "bare")
            ours = _service(system, "zfsyncd")
            client = await MessageBus(bus_address=system.address).connect()
            made = await _ok(
                client,
                _msg(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Snapshot", "asa{sv}", [["tank"], {}]),
            )
            tx_id = transaction_id(made.body[0])
            print(f"method calls per second ({calls} calls; ratio = zfsyncd / bare):")
            for in_flight in (1, 64):
                echo = await _rate(
                    lambda: _ok(client, _msg(bare, PATH, IFACE, "Echo", "s", ["x"])),
                    calls,
                    in_flight,
                )
                get = await _rate(
                    lambda: _ok(
                        client,
                        _msg(
                            BUS_NAME,
                            MANAGER_PATH,
                            "org.freedesktop.DBus.Properties",
                            "Get",
                            "ss",
                            [MANAGER_IFACE, "Version"],
                        ),
                    ),
                    calls,
                    in_flight,
                )
                read = await _rate(
                    lambda: _ok(
                        client,
                        _msg(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "GetTransaction", "s", [tx_id]),
                    ),
                    calls,
                    in_flight,
                )
                print(
                    f"  {in_flight:>2} in flight: bare Echo {echo:7.0f}/s | zfsyncd "
                    f"Properties.Get {get:7.0f}/s ({get / echo:.2f}x) | zfsyncd GetTransaction "
                    f"(polkit + SQLite) {read:7.0f}/s ({read / echo:.2f}x)"
                )
            print(f"signals received per second ({signals} sent, paced):")
            z = await _signal_rate(client, ours, signals)
            try:
                b = await _signal_rate(client, bare, signals)
            except (RuntimeError, TimeoutError) as exc:
                print(f"  zfsyncd {z:8.0f}/s | bare dbus-fast: its connection dropped ({exc})")
                return
            print(f"  bare dbus-fast {b:8.0f}/s | zfsyncd Transaction object, guarded "
                  f"connection {z:8.0f}/s ({z / b:.2f}x)")  # fmt: skip
            sent, seen = await _progress(client, ours, 1000, 3.0)
            alive = await _ok(client, _msg(ours, PATH, IFACE, "Echo", "s", ["still here"]))
            up = alive.body[0] == "still here"
            # last: the bare service is not expected to survive it
            print(f"an unpaced burst of {burst} signals (queued without yielding):")
            for label, service in (("zfsyncd", ours), ("bare dbus-fast", bare)):
                try:
                    rate = await _signal_rate(client, service, burst, paced=False)
                    print(f"  {label}: all received, {rate:8.0f}/s")
                except (RuntimeError, TimeoutError) as exc:
                    print(f"  {label}: its connection dropped ({exc})")
            print(
                f"progress: {sent} updates in 3 s (1000/s) became {seen} Progress signals "
                f"({seen / 3:.1f}/s); connection up: {up}"
            )
            client.disconnect()
    finally:
        processes.stop_all()
        remove_dir(directory)


def _service(system: SystemBus, mode: str) -> str:
    proc = system.spawn([sys.executable, "-m", "bench.echo_service", mode], name=f"echo-{mode}",
                        stdout_pipe=True)  # fmt: skip
    assert proc.stdout is not None
    return read_line(proc.stdout, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--signals", type=int, default=5000)
    parser.add_argument("--burst", type=int, default=20000)
    args = parser.parse_args()
    asyncio.run(bench(args.calls, args.signals, args.burst))


if __name__ == "__main__":
    main()
