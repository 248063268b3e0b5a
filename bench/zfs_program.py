"""What a ZFS channel program (`zfs program`) costs against the plain zfs commands it could
stand for, on a tree of many filesystems (run in the lab: under TCG every zfs command costs
about a second, and recursion some 60 ms a dataset).

    bench/in-lab.sh bench/zfs_program.py [--children 50] [--runs 3]

Each case times one command, best of --runs, on a file-backed pool with a tree of
--children filesystems: the readings the engine makes (`zfs list -r -t snapshot`, `zfs
holds -r`) against one read-only program (`zfs program -n -j`) that walks the same tree in
the kernel and returns names, guids, holds; the changes (`zfs snapshot -r`, `zfs bookmark`
one by one, `zfs destroy -r`) against one program that makes them all and returns the guids.
Only the timings are printed; nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

POOL = "zprog"
#: the scripts on a tree take its root and a snapshot name
TREE_ARGS = 'local argv = (...)["argv"]\nlocal root, short = argv[1], argv[2]\n'

READ_TREE = (
    TREE_ARGS
    + """
local out = {}
local function walk(ds)
  local snap = ds .. "@" .. short
  if zfs.exists(snap) then
    local holds = {}
    for tag, _ in zfs.list.holds(snap) do holds[tag] = 1 end
    out[snap] = {guid = zfs.get_prop(snap, "guid"), holds = holds}
  end
  for child in zfs.list.children(ds) do walk(child) end
end
walk(root)
return out
"""
)

SNAPSHOT_TREE = (
    TREE_ARGS
    + """
local names = {}
local function walk(ds)
  names[#names + 1] = ds .. "@" .. short
  for child in zfs.list.children(ds) do walk(child) end
end
walk(root)
for _, snap in ipairs(names) do
  local err = zfs.check.snapshot(snap)
  if err ~= 0 then return {failed = snap, errno = err} end
end
local made = {}
for _, snap in ipairs(names) do
  zfs.sync.snapshot(snap)
  made[snap] = zfs.get_prop(snap, "guid")
end
return made
"""
)

BOOKMARKS = """
args = ...
argv = args["argv"]
local made = {}
for i = 1, #argv, 2 do
  local err = zfs.sync.bookmark(argv[i], argv[i + 1])
  if err ~= 0 then return {failed = argv[i + 1], errno = err} end
  made[argv[i + 1]] = zfs.get_prop(argv[i], "guid")
end
return made
"""

DESTROY_TREE = (
    TREE_ARGS
    + """
local function walk(ds)
  for child in zfs.list.children(ds) do walk(child) end
  local snap = ds .. "@" .. short
  if zfs.exists(snap) then zfs.sync.destroy(snap) end
end
walk(root)
return 0
"""
)


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def best(runs: int, prepare: Callable[[int], None], command: Callable[[int], None]) -> float:
    times = []
    for run in range(runs):
        prepare(run)
        start = time.perf_counter()
        command(run)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs, root = args.runs, f"{POOL}/t"
    with tempfile.TemporaryDirectory(dir="/var/tmp") as name:
        tmp = Path(name)
        scripts = {}
        for key, text in (("read", READ_TREE), ("snap", SNAPSHOT_TREE), ("mark", BOOKMARKS),
                          ("destroy", DESTROY_TREE), ("empty", "return 0\n")):  # fmt: skip
            scripts[key] = tmp / f"{key}.lua"
            scripts[key].write_text(text)
        image = tmp / "pool.img"
        sh("truncate", "-s", "512M", str(image))
        sh("zpool", "create", "-f", "-o", "ashift=12", "-m", "none", POOL, str(image))
        try:
            sh("zfs", "create", root)
            for i in range(args.children):
                sh("zfs", "create", f"{root}/c{i:03}")
            sh("zfs", "snapshot", "-r", f"{root}@base")
            sh("zfs", "hold", "-r", "tag", f"{root}@base")
            rows: list[tuple[str, float]] = []

            def none(_run: int) -> None:
                pass

            def add(what: str, seconds: float) -> None:
                rows.append((what, seconds))
                print(f"  {what:<58} {seconds:6.2f} s", flush=True)

            print(
                f"{args.children + 1} filesystems, best of {runs}; "
                f"{sh('zfs', 'version').split()[0]}"
            )
            add(
                "zfs version (a zfs process, nothing read)",
                best(runs, none, lambda _r: sh("zfs", "version")),
            )
            add("zfs list of one name", best(runs, none, lambda _r: sh("zfs", "list", "-Hp", root)))
            add(
                "zfs program -n: return 0",
                best(
                    runs,
                    none,
                    lambda _r: sh("zfs", "program", "-n", "-j", POOL, str(scripts["empty"])),
                ),
            )
            add(
                "zfs list -Hp -r -t snapshot (the read-back)",
                best(runs, none, lambda _r: sh("zfs", "list", "-Hp", "-r", "-t", "snapshot", root)),
            )
            add(
                "zfs list -Hp -r -t filesystem,volume (the plan)",
                best(
                    runs,
                    none,
                    lambda _r: sh("zfs", "list", "-Hp", "-r", "-t", "filesystem,volume", root),
                ),
            )
            add(
                "zfs holds -Hp -r (the release's reading)",
                best(runs, none, lambda _r: sh("zfs", "holds", "-Hp", "-r", f"{root}@base")),
            )
            add(
                "zfs program -n: the tree's snapshots, guids, holds",
                best(
                    runs,
                    none,
                    lambda _r: sh(
                        "zfs", "program", "-n", "-j", POOL, str(scripts["read"]), root, "base"
                    ),
                ),
            )
            # changes: each run makes its own snapshot name, and the undo runs untimed
            add(
                "zfs snapshot -r",
                best(runs, none, lambda r: sh("zfs", "snapshot", "-r", f"{root}@a{r}")),
            )
            add(
                "zfs program: snapshot the tree, return guids",
                best(
                    runs,
                    none,
                    lambda r: sh("zfs", "program", "-j", POOL, str(scripts["snap"]), root, f"b{r}"),
                ),
            )
            add(
                "zfs destroy -r",
                best(runs, none, lambda r: sh("zfs", "destroy", "-r", f"{root}@a{r}")),
            )
            add(
                "zfs program: destroy the tree's snapshots",
                best(
                    runs,
                    none,
                    lambda r: sh(
                        "zfs", "program", "-j", POOL, str(scripts["destroy"]), root, f"b{r}"
                    ),
                ),
            )
            marks = [f"{root}/c{i:03}" for i in range(min(10, args.children))]
            add(
                f"zfs bookmark x{len(marks)}",
                best(
                    runs,
                    none,
                    lambda r: [sh("zfs", "bookmark", f"{d}@base", f"{d}#m{r}") for d in marks],
                ),
            )
            pairs = [w for d in marks for w in (f"{d}@base", f"{d}#p")]
            add(
                f"zfs program: {len(marks)} bookmarks, return guids",
                best(
                    runs,
                    lambda r: [sh("zfs", "destroy", f"{d}#p") for d in marks] if r else None,
                    lambda _r: sh("zfs", "program", "-j", POOL, str(scripts["mark"]), *pairs),
                ),
            )
            print(sh("zfs", "program", "-n", "-j", POOL, str(scripts["read"]), root, "base")[:300])
        finally:
            subprocess.run(["zpool", "destroy", "-f", POOL], capture_output=True, check=False)


if __name__ == "__main__":
    if os.geteuid() != 0:
        raise SystemExit("run as root, in the lab: bench/in-lab.sh bench/zfs_program.py")
    main()
