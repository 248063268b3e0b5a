"""Copy stdin to stdout at no more than RATE bytes a second: `python throttle.py RATE`.

The real world puts it in front of `zfs receive` (World.slow_target) so that a test can
cut a stream mid-way: under TCG an unthrottled 32 MiB stream may be over before the
first progress report arrives.
"""

from __future__ import annotations

import os
import sys
import time

CHUNK = 64 * 1024


def main() -> None:
    rate = int(sys.argv[1])
    started, moved = time.monotonic(), 0
    while chunk := os.read(0, CHUNK):
        view = memoryview(chunk)
        while view:
            view = view[os.write(1, view) :]
        moved += len(chunk)
        ahead = moved / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)


if __name__ == "__main__":
    main()
