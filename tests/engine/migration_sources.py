"""Sources for migration tests: plain directories of snapshot directories, with what a
history has (a file deleted in one snapshot and recreated in a later one, a hard link, a
symlink, an odd name, a nested directory)."""

from __future__ import annotations

import os
from pathlib import Path

#: a name with a newline, a star and a byte that is no UTF-8
ODD = os.fsdecode(b"odd \xff name\n*")


def write_snapshot(tree: Path, n: int) -> None:
    """The tree of snapshot `n` (1-based) of a history."""
    (tree / "dir" / "deep").mkdir(parents=True, exist_ok=True)
    (tree / "dir" / "deep" / "grows.txt").write_text("line\n" * n)
    (tree / "same.bin").write_bytes(b"\0" * 4096)
    (tree / ODD).write_text(f"odd {n}")
    if n != 2:  # there in 1, deleted in 2, recreated in 3
        (tree / "comes-and-goes.txt").write_text(f"version {n}")
    os.link(tree / "same.bin", tree / "same-link.bin")
    os.symlink("dir/deep/grows.txt", tree / "link")


def plain_history(root: Path, count: int) -> Path:
    """A plain source of `count` snapshots `s1`... under `root` (made once; again: as is)."""
    if root.is_dir():
        return root
    for n in range(1, count + 1):
        write_snapshot(root / f"s{n}", n)
    return root
