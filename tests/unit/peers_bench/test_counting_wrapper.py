"""The counting `zfs` of the lab's benches (bench/lab_zfs.ZfsCounter): the C wrapper
(bench/zfs_counter.c) logs and times what the bash one does, in lines the benches read back
the same way, and runs the real command with its exit status. On the host, in front of a
stand-in `zfs` and `zpool` (no OpenZFS here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.lab_zfs import ZfsCounter

#: words that need quoting, or not: what a dataset, a property and a channel program's
#: argv can hold
ARGS = ["list", "-Ho", "name,zfsync:role", "a b", "it's", "x@y#z", "", "$HOME", "-"]

STAND_IN = """#!/bin/sh
[ "$1" = fail ] && exit 3
echo "ran $*"
"""


@pytest.fixture
def stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `zfs` and a `zpool` first on PATH that print their arguments, `fail` exits 3."""
    real = tmp_path / "real"
    real.mkdir()
    for name in ("zfs", "zpool"):
        (real / name).write_text(STAND_IN)
        (real / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{real}:{os.environ['PATH']}")
    monkeypatch.setenv("ZFSYNC_BENCH_TIME_STREAM", "1")
    return tmp_path


def _install(where: Path, *, compiler: bool, monkeypatch: pytest.MonkeyPatch) -> ZfsCounter:
    if not compiler:
        # no cc or gcc found: the bash wrapper
        which = shutil.which
        monkeypatch.setattr(
            "bench.lab_zfs.shutil.which",
            lambda name, *a, **k: None if name in ("cc", "gcc") else which(name, *a, **k),
        )
    where.mkdir()
    return ZfsCounter.install(where)


def _run(counter: ZfsCounter) -> list[subprocess.CompletedProcess[str]]:
    return [
        subprocess.run(argv, capture_output=True, text=True, check=False)
        for argv in (["zfs", *ARGS], ["zpool", "sync", "p"], ["zfs", "fail"], ["zfs", "send", "-t"])
    ]


@pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")), reason="no C compiler")
def test_the_c_wrapper_logs_and_times_as_the_bash_one(
    stand_ins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        bash = _install(stand_ins / "bash", compiler=False, monkeypatch=patch)
        assert (bash.bindir / "zfs").read_bytes().startswith(b"#!/bin/bash")
        by_bash = _run(bash)
    monkeypatch.setenv("PATH", os.environ["PATH"].replace(f"{bash.bindir}:", "", 1))
    c = _install(stand_ins / "c", compiler=True, monkeypatch=monkeypatch)
    assert not (c.bindir / "zfs").read_bytes().startswith(b"#!")
    by_c = _run(c)
    # the same output and exit status: the real command ran with the same argv
    assert [(r.stdout, r.returncode) for r in by_c] == [(r.stdout, r.returncode) for r in by_bash]
    assert by_c[0].stdout == "ran " + " ".join(ARGS) + "\n"
    assert [r.returncode for r in by_c] == [0, 0, 3, 0]
    # the same commands read back, zpool's with its name first; each timed, streams too
    expected = [ARGS, ["zpool", "sync", "p"], ["fail"], ["send", "-t"]]
    assert c.commands() == bash.commands() == expected
    for counter in (c, bash):
        timeline = counter.timeline()
        assert [t.argv for t in timeline] == expected
        assert all(0 <= t.end - t.start < 60 for t in timeline)
    assert "through the counting wrapper (C)" in c.cost(runs=1)
    assert c.commands() == []  # what cost() ran is not left in the log
