"""tests/lab/junit-summary.py: the verdict lines at the end of tests/run-all.sh."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "lab" / "junit-summary.py"
UNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="a" name="ok"/>
<testcase classname="a" name="bad"><failure message="x">boom</failure></testcase>
<testcase classname="a" name="s1"><skipped type="pytest.skip" message="lab only">x</skipped>
</testcase>
<testcase classname="a" name="s2"><skipped type="pytest.skip" message="lab only">x</skipped>
</testcase>
<testcase classname="a" name="x"><skipped type="pytest.xfail" message="known bug">x</skipped>
</testcase>
</testsuite></testsuites>"""
REAL = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="a" name="ok"/>
<testcase classname="a" name="s"><skipped type="pytest.skip" message="model only">x</skipped>
</testcase>
</testsuite></testsuites>"""


def test_the_last_lines_are_the_skips_per_tier_then_the_totals(tmp_path: Path) -> None:
    (tmp_path / "junit-unit.xml").write_text(UNIT)
    (tmp_path / "junit-real.xml").write_text(REAL)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "junit-unit.xml"),
         str(tmp_path / "junit-real.xml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1  # a test failed
    lines = done.stdout.splitlines()
    assert lines[-1] == "2 passed, 1 failed"
    assert lines[-2] == "unit: 2 skipped, 1 xfailed; real: 1 skipped, 0 xfailed"
    assert "  skipped 2: lab only" in lines
    assert "  xfailed 1: known bug" in lines
    assert "  skipped 1: model only" in lines


def test_the_lab_shards_merge_into_one_real_tier(tmp_path: Path) -> None:
    """tests/lab/junit-merge.py: each guest's file, one tier for the summary."""
    (tmp_path / "junit-real-1.xml").write_text(REAL)
    (tmp_path / "junit-real-2.xml").write_text(UNIT)
    merged = tmp_path / "junit-real.xml"
    subprocess.run(
        [sys.executable, str(SCRIPT.with_name("junit-merge.py")), str(merged),
         str(tmp_path / "junit-real-1.xml"), str(tmp_path / "junit-real-2.xml")],
        check=True,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(merged)], capture_output=True, text=True, check=False
    )
    assert done.stdout.splitlines()[-2:] == ["real: 3 skipped, 1 xfailed", "2 passed, 1 failed"]
