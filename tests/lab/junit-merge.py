"""Merge the junit files of the lab's shards into one (build/junit-real.xml), so that
tests/run-all.sh's summary counts the real tier as one tier, however many guests ran it.

usage: junit-merge.py OUT IN...

OUT is one <testsuites> holding every <testsuite> of the INs, in the order given.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out, ins = argv[0], argv[1:]
    merged = ET.Element("testsuites")
    for name in ins:
        # our own pytest's output, not untrusted input
        root = ET.parse(name).getroot()  # noqa: S314
        merged.extend(root.iter("testsuite") if root.tag == "testsuites" else [root])
    ET.ElementTree(merged).write(out, encoding="utf-8", xml_declaration=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
