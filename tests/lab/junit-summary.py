"""Count the results in pytest JUnit XML files; the verdict of tests/run-all.sh.

usage: junit-summary.py [--no-total] FILE...

Prints one line per file (a tier), each skip and xfail reason under it with how many
tests gave it, then the skipped and xfailed counts of every tier on one line, then (unless
--no-total) the totals alone on the last line as "N passed, N failed" (failed counts
failures and errors). Exits 1 when any test failed or errored, or when a file is missing,
unreadable, or holds no test that actually ran (all skipped counts as none: a tier that
skips everything has tested nothing).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    xfailed: int = 0
    #: (kind, reason) -> how many: kind is "skipped" or "xfailed"
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, other: Counts) -> None:
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.xfailed += other.xfailed


def count(path: Path) -> Counts:
    # The files are written by our own pytest run, not untrusted input.
    root = ET.parse(path).getroot()  # noqa: S314
    counts = Counts()
    # Count test cases, not the <testsuite> attributes: one case can carry both a failure
    # and a teardown error, and it is still one failed test.
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        skip = case.find("skipped")
        if tags & {"failure", "error"}:
            counts.failed += 1
        elif skip is not None:
            # pytest writes an xfail as <skipped type="pytest.xfail">
            kind = "xfailed" if skip.get("type") == "pytest.xfail" else "skipped"
            if kind == "xfailed":
                counts.xfailed += 1
            else:
                counts.skipped += 1
            reason = (skip.get("message") or "").strip() or "(no reason given)"
            counts.reasons[kind, reason] += 1
        else:
            counts.passed += 1
    return counts


def tier_of(path: Path) -> str:
    """build/junit-unit.xml -> "unit" (the host tier), junit-real.xml -> "real"."""
    return path.stem.removeprefix("junit-")


def main(argv: list[str]) -> int:
    total_line = "--no-total" not in argv
    files = [Path(a) for a in argv if a != "--no-total"]
    if not files:
        print(__doc__, file=sys.stderr)
        return 2
    total = Counts()
    ok = True
    tiers: list[str] = []
    for path in files:
        if not path.is_file():
            print(f"junit: {path}: MISSING (the tier did not run or did not finish)")
            ok = False
            continue
        try:
            counts = count(path)
        except ET.ParseError as exc:
            print(f"junit: {path}: UNREADABLE ({exc})")
            ok = False
            continue
        ran = counts.passed + counts.failed
        verdict = "ok"
        if counts.failed:
            verdict = "FAILED"
        elif ran == 0:
            verdict = "NO TESTS RAN"
        print(
            f"junit: {path}: {counts.passed} passed, {counts.failed} failed, "
            f"{counts.skipped} skipped, {counts.xfailed} xfailed: {verdict}"
        )
        for (kind, reason), n in sorted(counts.reasons.items()):
            print(f"  {kind} {n}: {reason}")
        tiers.append(f"{tier_of(path)}: {counts.skipped} skipped, {counts.xfailed} xfailed")
        ok = ok and verdict == "ok"
        total.add(counts)
    if tiers:
        print("; ".join(tiers))
    if total_line:
        print(f"{total.passed} passed, {total.failed} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
