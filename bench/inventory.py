"""Inventory parsing against a bare split loop, on synthetic `zfs list -Hp` output.

    .venv/bin/python bench/inventory.py [--snapshots N] [--repeat R]

Prints the time (median of R runs) and the peak memory of `parse_list` and of a bare
`[line.split("\\t") for line in text.split("\\n")]` over the same text, and their ratios.
The ratio is the figure: the absolute numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable

from zfsyncd.zfs.inventory import parse_list


def synthetic_listing(snapshots: int, datasets: int = 1000, seed: int = 7) -> str:
    """Rows shaped like OpenZFS 2.3's: names as zfsyncd makes them, real-sized guids."""
    rng = random.Random(seed)
    rows = [
        f"tank/data/ds{d}\tfilesystem\t{rng.getrandbits(64)}\t{d + 1}\t1795246826\t"
        f"{rng.randrange(1 << 40)}\t{rng.randrange(1 << 40)}\t-\t-\t-\tsource"
        for d in range(datasets)
    ]
    for i in range(snapshots):
        d = i % datasets
        stamp = 1795246826 + i
        rows.append(
            f"tank/data/ds{d}@zfsync_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(stamp))}_{i:07d}"
            f"\tsnapshot\t{rng.getrandbits(64)}\t{datasets + i}\t{stamp}\t{rng.randrange(1 << 30)}"
            f"\t{rng.randrange(1 << 40)}\t{i % 2}\t-\t-\tsource"
        )
    return "\n".join(rows) + "\n"


def bare_split(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.split("\n") if line]


def timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        del result
    return statistics.median(times)


def peak_memory(fn: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    text = synthetic_listing(args.snapshots)
    props = ["zfsync:role"]
    rows = text.count("\n")
    print(f"synthetic zfs list -Hp: {rows:,} rows, {len(text) / 2**20:.0f} MiB of text")

    def parse() -> object:
        return parse_list(text, props)

    def split() -> object:
        return bare_split(text)

    results = {}
    for label, fn in (("str.split loop", split), ("parse_list", parse)):
        results[label] = (timed(fn, args.repeat), peak_memory(fn))
        seconds, peak = results[label]
        rate = rows / seconds
        print(f"{label:>15}: {seconds:7.3f} s  {rate:12,.0f} rows/s  peak {peak / 2**20:7.0f} MiB")
    (base_s, base_m), (ours_s, ours_m) = results["str.split loop"], results["parse_list"]
    time_ratio, memory_ratio = ours_s / base_s, ours_m / base_m
    print(f"ratio parse_list / str.split: time {time_ratio:.2f}x, peak memory {memory_ratio:.2f}x")


if __name__ == "__main__":
    main()
