"""A tree's manifest: for every path below its root (the excluded ones left out, see
exclusions.py), its type, size, mode, owner, mtime, link count, and the sha256 of a file's
contents (a symlink's target instead). The migration writes one per source snapshot into
the dataset's metadata directory, `.zfsync/manifests/<number>.json`, so the live dataset
holds the manifests of its whole history and each ZFS snapshot those up to its own.

Paths are the file system's bytes decoded as Python does (`os.fsdecode`: an undecodable
byte is a lone surrogate, which JSON keeps as `\\udcxx`), so odd names survive the trip.

Hashing every file of every snapshot would cost a full read per snapshot (in the lab, the
manifest's sha256 of the whole first snapshot took as long as its rsync). So a file keeps
the previous manifest's hash when both of these say its contents were not written since:

- rsync's itemized list of this run (files/rsync.py, `RsyncResult.written`): the authority
  on what it wrote. A file whose new contents have the old size and mtime (rsync -a copies
  the source's mtime, so a same-size edit that kept its mtime looks unchanged to a stat)
  is in it whenever rsync wrote it;
- the file's inode, size, mtime and ctime, as the previous manifest recorded them: rsync
  writes a file anew (a temporary file renamed; never --inplace), so a new inode and
  ctime, and the kernel sets ctime on any change of anyone's, which no one can set back.
  This catches what the list cannot say: a write by someone else, a rollback, or a name
  the list did not give back exactly (rsync escapes bytes it cannot print).

Either alone would do in the common case; both together leave no case where an old hash
is kept for new contents. (A source file whose contents changed with size and mtime kept
is not copied by rsync at all, here as in any rsync of the history: the dataset keeps
the old file, its manifest says so truthfully, and `migrate validate --full` finds the
difference from the source.) The cache fields (`ino`, `ctime_ns`) belong to the tree the
manifest was made of and are not compared between trees.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zfsyncd.ops.migration.exclusions import METADATA_DIR, excluded

FORMAT = 1
MANIFESTS = f"{METADATA_DIR}/manifests"
_CHUNK = 1 << 20
#: files hashed at once (threads; see hash_files)
HASH_WORKERS = min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class Entry:
    path: str
    #: "f" file, "d" directory, "l" symlink, "o" anything else (a device, a fifo)
    type: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    nlink: int
    #: a file's sha256 (hex), a symlink's target, else ""
    content: str = ""
    ino: int = 0
    ctime_ns: int = 0

    def comparable(self) -> tuple[object, ...]:
        """What two trees must share for this path: everything but the cache fields, and a
        directory's size and link count (they depend on the file system, not the tree)."""
        if self.type == "d":
            return (self.path, self.type, self.mode, self.uid, self.gid, self.mtime_ns)
        return (self.path, self.type, self.size, self.mode, self.uid, self.gid,
                self.mtime_ns, self.nlink, self.content)  # fmt: skip


@dataclass(frozen=True)
class Manifest:
    number: int
    entries: tuple[Entry, ...]

    def by_path(self) -> dict[str, Entry]:
        return {e.path: e for e in self.entries}

    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries if e.type == "f")

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "number": self.number,
                "entries": [asdict(e) for e in self.entries]}  # fmt: skip


def manifest_path(root: Path, number: int) -> Path:
    return root / MANIFESTS / f"{number:06d}.json"


def file_hash(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def walk(root: Path) -> list[tuple[str, os.stat_result]]:
    """(relative path, lstat) of everything below `root` that is not excluded, sorted by
    path (as strings: one order for every tree); symlinks are not followed."""
    found: list[tuple[str, os.stat_result]] = []
    stack = [""]
    while stack:
        here = stack.pop()
        with os.scandir(os.path.join(root, here) if here else root) as entries:
            for entry in entries:
                rel = f"{here}/{entry.name}" if here else entry.name
                if excluded(rel):
                    continue
                st = entry.stat(follow_symlinks=False)
                found.append((rel, st))
                if stat.S_ISDIR(st.st_mode):
                    stack.append(rel)
    found.sort(key=lambda item: item[0])
    return found


def entry_of(root: Path, rel: str, st: os.stat_result, content: str | None = None) -> Entry:
    """The entry of one path; `content` when already known (a cached hash), else read."""
    mode = st.st_mode
    kind = ("f" if stat.S_ISREG(mode) else "d" if stat.S_ISDIR(mode)
            else "l" if stat.S_ISLNK(mode) else "o")  # fmt: skip
    if content is None:
        full = os.path.join(root, rel)
        content = file_hash(full) if kind == "f" else os.readlink(full) if kind == "l" else ""
    return Entry(rel, kind, st.st_size, stat.S_IMODE(mode), st.st_uid, st.st_gid,
                 st.st_mtime_ns, st.st_nlink, content, st.st_ino, st.st_ctime_ns)  # fmt: skip


def build(
    root: Path,
    number: int,
    previous: Manifest | None = None,
    written: frozenset[str] | None = None,
) -> Manifest:
    """The manifest of the tree at `root`; hashes of `previous` are reused for a file rsync
    did not write (`written`: what it wrote since `previous` was made; None: nothing
    known, so nothing is reused) that is plainly the same one (inode, size, mtime,
    ctime). The module's docstring says why both."""
    cached = previous.by_path() if previous is not None and written is not None else {}
    fresh = written or frozenset()
    walked = walk(root)
    known: list[str | None] = []
    for rel, st in walked:
        old = cached.get(rel)
        now = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        same = (
            old is not None
            and old.type == "f"
            and rel not in fresh
            and (old.ino, old.size, old.mtime_ns, old.ctime_ns) == now
        )
        known.append(old.content if same and old else None)
    unread = [
        i for i, (_, st) in enumerate(walked) if known[i] is None and stat.S_ISREG(st.st_mode)
    ]
    digests = hash_files([os.path.join(root, walked[i][0]) for i in unread])
    for i, digest in zip(unread, digests, strict=True):
        known[i] = digest
    entries = [entry_of(root, rel, st, known[i]) for i, (rel, st) in enumerate(walked)]
    return Manifest(number, tuple(entries))


def hash_files(paths: list[str]) -> list[str]:
    """The sha256 of each file, in order, HASH_WORKERS at a time: hashlib lets other
    threads run while it hashes a buffer, and reads wait on the disk, so the files of a
    snapshot are hashed about as many times faster as there are cores to spare (in the
    lab's 2-CPU guest, whose sha256 runs at 15 MiB/s, the first snapshot's hashes took as
    long as its rsync)."""
    if len(paths) < 2:
        return [file_hash(p) for p in paths]
    with ThreadPoolExecutor(HASH_WORKERS, thread_name_prefix="manifest-hash") as pool:
        return list(pool.map(file_hash, paths))


def write(root: Path, manifest: Manifest) -> Path:
    """Store it in the tree's metadata directory (written aside, then renamed: a reader
    never finds half a manifest)."""
    path = manifest_path(root, manifest.number)
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_suffix(".tmp")
    aside.write_text(json.dumps(manifest.to_json(), separators=(",", ":")))
    os.replace(aside, path)
    return path


def load(path: Path) -> Manifest:
    """A stored manifest; ValueError naming what is wrong when it is not well formed."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot be read: {exc}") from None
    problems = check(data)
    if problems:
        raise ValueError(f"{path}: {'; '.join(problems[:5])}")
    return from_json(data)


def from_json(data: Mapping[str, Any]) -> Manifest:
    return Manifest(int(data["number"]), tuple(Entry(**e) for e in data["entries"]))


_FIELDS: dict[str, type] = {"path": str, "type": str, "size": int, "mode": int, "uid": int,
                            "gid": int, "mtime_ns": int, "nlink": int, "content": str,
                            "ino": int, "ctime_ns": int}  # fmt: skip
_HEX = frozenset("0123456789abcdef")


def check(data: object) -> list[str]:
    """The problems of a manifest read from JSON (none: well formed): the format, its
    number, and each entry's fields, types, a relative, unique, sorted, not excluded
    path, and a file's 64-hex sha256."""
    if not isinstance(data, dict):
        return ["not a JSON object"]
    problems = []
    if data.get("format") != FORMAT:
        problems.append(f"format {data.get('format')!r}, not {FORMAT}")
    number = data.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        problems.append(f"number {number!r} is not a count")
    entries = data.get("entries")
    if not isinstance(entries, list):
        return [*problems, "no list of entries"]
    seen: set[str] = set()
    last = ""
    for i, entry in enumerate(entries):
        problems += [f"entry {i}: {p}" for p in _entry_problems(entry, seen, last)]
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            last = entry["path"]
            seen.add(last)
    return problems


def _entry_problems(entry: object, seen: set[str], last: str) -> list[str]:
    if not isinstance(entry, dict):
        return ["not an object"]
    if set(entry) != set(_FIELDS):
        return [f"fields {sorted(set(entry) ^ set(_FIELDS))} missing or unknown"]
    wrong = [k for k, t in _FIELDS.items() if type(entry[k]) is not t]
    if wrong:
        return [f"{', '.join(wrong)} of the wrong type"]
    path, kind, content = entry["path"], entry["type"], entry["content"]
    found = []
    if not path or path.startswith("/") or "//" in path or ".." in path.split("/"):
        found.append(f"path {path!r} is not relative")
    elif excluded(path):
        found.append(f"path {path!r} is excluded")
    if path in seen:
        found.append(f"path {path!r} twice")
    elif path <= last and last:
        found.append(f"path {path!r} out of order")
    if kind not in ("f", "d", "l", "o"):
        found.append(f"type {kind!r}")
    if kind == "f" and (len(content) != 64 or not set(content) <= _HEX):
        found.append(f"{path!r}: not a sha256")
    if entry["size"] < 0:
        found.append(f"{path!r}: negative size")
    return found
