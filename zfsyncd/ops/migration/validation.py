"""Validation of a migrated dataset against its source (seed 004's four checks, here):

- snapshots: each source snapshot migrated so far has its ZFS snapshot, and those are the
  source's first ones in order (a `--limit` migration is validated as far as it went);
- manifests: each migrated snapshot's manifest is in `.zfsync/manifests/` and well formed;
- final state: the dataset's tree equals the last migrated source snapshot's (paths, types,
  sizes, modes, owners, mtimes, link counts, symlink targets), and its stored manifest;
- contents: the content hash (manifest.py: xxh128, or sha256 in a manifest of format 1)
  of a sample of files (`sample`, chosen at random) in the dataset, its manifest and the
  source agree; with `full`, of every file, and every ZFS snapshot's
  tree (`.zfs/snapshot/NAME`, where the file system shows it) equals its source snapshot's.

The comparisons are pure functions over manifests (`differences`); the reading builds
manifests of the trees (exclusions.py applies to all of them).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG

from zfsyncd.ops.migration import manifest as mf
from zfsyncd.ops.migration.history import HistoryError, remaining
from zfsyncd.ops.migration.manifest import Entry, Manifest
from zfsyncd.ops.migration.sources import SourceSnapshot

#: differences named per check, at most (a report stays readable; the count says the rest)
SHOWN = 20


@dataclass
class Check:
    name: str
    problems: list[str] = field(default_factory=list)
    #: what was looked at, for a person ("12 snapshots", "100 files")
    covered: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Report:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "checks": [
            {"name": c.name, "ok": c.ok, "covered": c.covered,
             "problems": c.problems[:SHOWN], "problem_count": len(c.problems)}
            for c in self.checks]}  # fmt: skip


def differences(expected: Manifest, actual: Manifest, *, contents: bool) -> list[str]:
    """How `actual` differs from `expected`: paths missing, extra, or with other
    attributes (their contents too when `contents`; an entry with no hash yet is not
    compared by contents)."""
    want, have = expected.by_path(), actual.by_path()
    found = [f"missing: {p!r}" for p in sorted(want.keys() - have.keys())]
    found += [f"not in the source: {p!r}" for p in sorted(have.keys() - want.keys())]
    for path in sorted(want.keys() & have.keys()):
        a, b = want[path], have[path]
        if _without_content(a) != _without_content(b):
            found.append(f"differs: {path!r} ({_what_differs(a, b)})")
        elif contents and a.content and b.content and a.content != b.content:
            found.append(f"contents differ: {path!r}")
    return found


def _without_content(entry: Entry) -> tuple[object, ...]:
    full = entry.comparable()
    return full[:-1] if entry.type == "f" else full


_NAMES = ("type", "size", "mode", "uid", "gid", "mtime_ns", "nlink", "content")


def _what_differs(a: Entry, b: Entry) -> str:
    names = [n for n in _NAMES if getattr(a, n) != getattr(b, n)]
    if a.type == "f":
        names = [n for n in names if n != "content"]
    if a.type == "d":
        names = [n for n in names if n not in ("size", "nlink")]
    return ", ".join(names) or "?"


def pick(paths: Sequence[str], count: int, seed: int | None = None) -> list[str]:
    """`count` of `paths` at random (all of them when there are no more), sorted."""
    if count >= len(paths):
        return sorted(paths)
    # a sample to look at, not a secret
    return sorted(random.Random(seed).sample(list(paths), count))  # noqa: S311


def scan(root: Path, number: int, hashed: set[str] | None, fmt: int = mf.FORMAT) -> Manifest:
    """A tree's manifest, hashing only the files in `hashed` (None: every file) as
    manifests of format `fmt` do."""
    entries = []
    for rel, st in mf.walk(root):
        unread = hashed is not None and rel not in hashed and S_ISREG(st.st_mode)
        entries.append(mf.entry_of(root, rel, st, "" if unread else None, fmt))
    return Manifest(number, tuple(entries), fmt)


def validate(
    root: Path,
    sources: Sequence[SourceSnapshot],
    migrated: Sequence[int],
    *,
    sample: int = 100,
    full: bool = False,
    snapshot_tree: Callable[[int], Path | None] = lambda _n: None,
    seed: int | None = None,
) -> Report:
    """Validate the dataset mounted at `root`, whose ZFS snapshots carry the source
    numbers `migrated`, against `sources`; `snapshot_tree` gives a migrated snapshot's tree
    (None when the file system does not show it)."""
    snaps = Check("snapshots", covered=f"{len(migrated)} ZFS snapshots of {len(sources)}")
    try:
        remaining(sources, migrated)
    except HistoryError as exc:
        snaps.problems.append(str(exc))
    done = [s for s in sources if s.number in set(migrated)]
    if not done:
        snaps.problems.append("no source snapshot is migrated")
        return Report([snaps])

    manifests = Check("manifests", covered=f"{len(done)} manifests")
    stored: dict[int, Manifest] = {}
    for source in done:
        path = mf.manifest_path(root, source.number)
        if not path.is_file():
            manifests.problems.append(f"snapshot {source.number}: no manifest {path}")
            continue
        try:
            stored[source.number] = mf.load(path)
        except ValueError as exc:
            manifests.problems.append(str(exc))

    last = done[-1]
    final = Check("final state", covered=f"source snapshot {last.number}")
    recorded = stored.get(last.number)
    files = [e.path for e in recorded.entries if e.type == "f"] if recorded else []
    chosen = set(files) if full else set(pick(files, sample, seed))
    # hashed as the manifest is, to compare with it (an older format's too)
    fmt = recorded.format if recorded is not None else mf.FORMAT
    live = scan(root, last.number, chosen, fmt)
    source_tree = scan(last.path, last.number, chosen, fmt)
    final.problems += differences(source_tree, live, contents=False)
    if recorded is not None:
        final.problems += [f"manifest: {d}" for d in differences(recorded, live, contents=False)]

    contents = Check("contents", covered=f"{len(chosen)} of {len(files)} files")
    contents.problems += [
        d for d in differences(source_tree, live, contents=True) if d.startswith("contents")
    ]
    if recorded is not None:
        want = recorded.by_path()
        for entry in live.entries:
            stored_entry = want.get(entry.path)
            if (
                entry.path in chosen
                and entry.content
                and stored_entry is not None
                and stored_entry.content != entry.content
            ):
                contents.problems.append(f"not as its manifest says: {entry.path!r}")
    checks = [snaps, manifests, final, contents]
    if full:
        checks.append(_every_snapshot(done, snapshot_tree))
    return Report(checks)


def _every_snapshot(
    done: Sequence[SourceSnapshot], snapshot_tree: Callable[[int], Path | None]
) -> Check:
    check = Check("each snapshot")
    compared = 0
    for source in done:
        tree = snapshot_tree(source.number)
        if tree is None or not tree.is_dir():
            continue
        compared += 1
        found = differences(scan(source.path, source.number, None),
                            scan(tree, source.number, None), contents=True)  # fmt: skip
        check.problems += [f"snapshot {source.number}: {d}" for d in found]
    check.covered = f"{compared} of {len(done)} snapshots, every file"
    return check
