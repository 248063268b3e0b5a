"""Refresh tests/lab/lab-weights.json (the seconds tests/lab/shard.py balances the lab
guests by) from the junit files of a full lab run.

usage: lab-weights.py JUNIT... > tests/lab/lab-weights.json
       e.g. python tests/lab/lab-weights.py build/junit-real-*.xml > tests/lab/lab-weights.json

Every test case's time, rounded to 0.1 s (skipped ones too: they cost ~0 s in the lab).
Sorted keys, one a line, so that a refresh shows as a readable diff.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET


def main(files: list[str]) -> int:
    if not files:
        print(__doc__, file=sys.stderr)
        return 2
    seconds: dict[str, float] = {}
    for name in files:
        # our own pytest's output, not untrusted input
        for case in ET.parse(name).getroot().iter("testcase"):  # noqa: S314
            key = f"{case.get('classname')}::{case.get('name')}"
            seconds[key] = round(float(case.get("time") or 0), 1)
    out = {"seconds": dict(sorted(seconds.items()))}
    json.dump(out, sys.stdout, indent=0)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
