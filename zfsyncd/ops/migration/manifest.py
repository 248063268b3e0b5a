"""A tree's manifest: for every path below its root (the excluded ones left out, see
exclusions.py), its type, size, mode, owner, mtime, link count, and a hash of a file's
contents (a symlink's target instead). The migration writes one per source snapshot into
the dataset's metadata directory, `.zfsync/manifests/<number>.json`, so the live dataset
holds the manifests of its whole history and each ZFS snapshot those up to its own.

Paths are the file system's bytes decoded as Python does (`os.fsdecode`: an undecodable
byte is a lone surrogate, which JSON keeps as `\\udcxx`), so odd names survive the trip.

The content hash is xxh128 (XXH3, 128 bits) since format 2; format 1, which earlier
manifests have, used sha256, and validation still reads those (`HASHES`). It is there to
find contents that differ (a corrupted or a stale file), as ZFS's own default checksum,
fletcher4, is: it is no seal against someone who means it, who, able to write the
dataset, could rewrite its manifests too. And it is the hash rsync makes of every file it
sends anyway (files/rsync.py, `RsyncResult.checksums`; the receiver checks the data it
wrote against it), so a file rsync copies is never read back for it: hashing what rsync
wrote cost the migration as much CPU as rsync itself took in the lab's emulated guest
(sha256 there: 59 MiB/s; xxh128 in Python: 930), and xxh128 is far faster than sha256 on
any CPU, which `migrate validate --full` gains from too.

Every other file would cost a full read per snapshot. So a file keeps the previous
manifest's hash when both of these say its contents were not written since:

- rsync's itemized list of this run (`RsyncResult.written`): the authority on what it
  wrote. A file whose new contents have the old size and mtime (rsync -a copies the
  source's mtime, so a same-size edit that kept its mtime looks unchanged to a stat) is
  in it whenever rsync wrote it;
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
manifest was made of and are not compared between trees. What neither rsync's checksums
nor the previous manifest covers (a hard link rsync made: it shares its inode's hash; a
file a crashed copy left, which this rsync found up to date) is read and hashed here.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import xxhash

from zfsyncd.files.rsync import CHECKSUM
from zfsyncd.ops.migration.exclusions import METADATA_DIR, excluded

#: the format written; validation reads each format of HASHES
FORMAT = 2
#: the content hash of each format, and its length in hex digits
HASHES: dict[int, tuple[str, int]] = {1: ("sha256", 64), 2: (CHECKSUM, 32)}
MANIFESTS = f"{METADATA_DIR}/manifests"
_CHUNK = 1 << 20
#: files hashed at once (threads; see hash_files)
HASH_WORKERS = min(4, os.cpu_count() or 1)


#: what says a file is the one a manifest entry was made of: inode, size, mtime, ctime
#: (the module's docstring: contents written since change the ctime, which no one can set
#: back)
Identity = tuple[int, int, int, int]


def identity(st: os.stat_result) -> Identity:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


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
    #: a file's content hash (hex; HASHES says which), a symlink's target, else ""
    content: str = ""
    ino: int = 0
    ctime_ns: int = 0

    def identity(self) -> Identity:
        """The Identity of the file this entry was made of (its cache fields)."""
        return (self.ino, self.size, self.mtime_ns, self.ctime_ns)

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
    #: what its hashes are (HASHES)
    format: int = FORMAT

    def by_path(self) -> dict[str, Entry]:
        return {e.path: e for e in self.entries}

    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries if e.type == "f")

    def to_json(self) -> dict[str, Any]:
        # each entry's fields in their order, as dataclasses.asdict gives them, without its
        # deep copy of every value (a tenth of the time: a manifest is written per snapshot)
        return {"format": self.format, "number": self.number,
                "entries": [dict(vars(e)) for e in self.entries]}  # fmt: skip


def manifest_path(root: Path, number: int) -> Path:
    return root / MANIFESTS / f"{number:06d}.json"


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def _digest(fmt: int) -> _Digest:
    if fmt == 1:
        return hashlib.sha256()
    return xxhash.xxh3_128()  # rsync's xxh128: the same digits (files/rsync.py)


def file_hash(path: Path | str, fmt: int = FORMAT) -> str:
    """The content hash of a file, as manifests of format `fmt` record it."""
    digest = _digest(fmt)
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


def entry_of(
    root: Path, rel: str, st: os.stat_result, content: str | None = None, fmt: int = FORMAT
) -> Entry:
    """The entry of one path; `content` when already known (a cached hash), else read (a
    file hashed as manifests of format `fmt` do)."""
    mode = st.st_mode
    kind = ("f" if stat.S_ISREG(mode) else "d" if stat.S_ISDIR(mode)
            else "l" if stat.S_ISLNK(mode) else "o")  # fmt: skip
    if content is None:
        full = os.path.join(root, rel)
        content = file_hash(full, fmt) if kind == "f" else os.readlink(full) if kind == "l" else ""
    return Entry(rel, kind, st.st_size, stat.S_IMODE(mode), st.st_uid, st.st_gid,
                 st.st_mtime_ns, st.st_nlink, content, st.st_ino, st.st_ctime_ns)  # fmt: skip


def build(
    root: Path,
    number: int,
    previous: Manifest | None = None,
    written: frozenset[str] | None = None,
    checksums: Mapping[str, str] | None = None,
) -> Manifest:
    """The manifest of the tree at `root`. `checksums`: the hashes rsync made of the files
    it sent just now (`RsyncResult.checksums`). Hashes of `previous` are reused for a file
    rsync did not write (`written`: what it wrote since `previous` was made; None: nothing
    known, so nothing is reused) that is plainly the same one (inode, size, mtime, ctime).
    A hard link shares its inode's hash. Any other file is read. The module's docstring
    says why this is safe."""
    same_hash = previous is not None and previous.format == FORMAT
    cached = previous.by_path() if same_hash and previous and written is not None else {}
    fresh = written or frozenset()
    sent = checksums or {}
    walked = walk(root)
    known: list[str | None] = []
    by_inode: dict[int, str] = {}
    for rel, st in walked:
        found: str | None = None
        if stat.S_ISREG(st.st_mode):
            found = sent.get(rel) or _reused(cached.get(rel), st, rel in fresh)
        if found is not None:
            by_inode[st.st_ino] = found
        known.append(found)
    # what neither rsync nor the previous manifest vouches for is read, once an inode
    unread: dict[int, str] = {}
    for i, (rel, st) in enumerate(walked):
        if known[i] is None and stat.S_ISREG(st.st_mode) and st.st_ino not in by_inode:
            unread.setdefault(st.st_ino, os.path.join(root, rel))
    by_inode.update(zip(unread, hash_files(list(unread.values())), strict=True))
    for i, (_, st) in enumerate(walked):
        if known[i] is None and stat.S_ISREG(st.st_mode):
            known[i] = by_inode[st.st_ino]
    entries = [entry_of(root, rel, st, known[i]) for i, (rel, st) in enumerate(walked)]
    return Manifest(number, tuple(entries))


def _reused(old: Entry | None, st: os.stat_result, wrote: bool) -> str | None:
    """The previous manifest's hash of a file rsync did not write, where the walk finds the
    very file that manifest recorded (inode, size, mtime, ctime); else None."""
    if old is None or old.type != "f" or wrote:
        return None
    return old.content if old.identity() == identity(st) else None


def hash_files(paths: list[str]) -> list[str]:
    """The hash of each file, in order, HASH_WORKERS at a time (reads wait on the disk)."""
    if len(paths) < 2:
        return [file_hash(p) for p in paths]
    with ThreadPoolExecutor(HASH_WORKERS, thread_name_prefix="manifest-hash") as pool:
        return list(pool.map(file_hash, paths))


def write(root: Path, manifest: Manifest) -> Path:
    """Store it in the tree's metadata directory (written aside, then renamed: a reader
    never finds half a manifest). `load_previous` knows it from here on."""
    path = manifest_path(root, manifest.number)
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_suffix(".tmp")
    aside.write_text(json.dumps(manifest.to_json(), separators=(",", ":")))
    os.replace(aside, path)
    _WRITTEN.keep(path, manifest)
    return path


class _Written:
    """The manifests this process wrote last, by path, each with the identity of the file
    it wrote (inode, size, mtime, ctime): the next snapshot's copy reads the previous
    manifest, which the copy before it wrote moments ago (a migration's copies run one
    after the other). A file that is still that file (the same identity: any change of
    it, or another file renamed there, gives another ctime, which no one can set back) is
    the manifest kept here; any other is read. Each is taken out when asked for (the next
    copy asks once; a retry reads the file), and what is kept is bounded (the daemon holds
    no history's manifests once it is migrated): at most ENTRIES entries in all (about a
    kilobyte each), the oldest let go first, a manifest larger than that not kept at all
    (its copy's walk and rsync cost far more than reading it)."""

    ENTRIES = 50_000

    def __init__(self) -> None:
        self._kept: OrderedDict[str, tuple[Identity, Manifest]] = OrderedDict()
        self._lock = threading.Lock()  # the copies' file work runs in threads

    def keep(self, path: Path, manifest: Manifest) -> None:
        written = identity(os.stat(path))
        with self._lock:
            self._kept.pop(str(path), None)
            if len(manifest.entries) > self.ENTRIES:
                return
            self._kept[str(path)] = (written, manifest)
            while sum(len(m.entries) for _, m in self._kept.values()) > self.ENTRIES:
                self._kept.popitem(last=False)

    def take(self, path: Path) -> Manifest | None:
        with self._lock:
            kept = self._kept.pop(str(path), None)
        if kept is None:
            return None
        try:
            same = identity(os.stat(path)) == kept[0]
        except OSError:
            return None
        return kept[1] if same else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)


_WRITTEN = _Written()


def load_previous(path: Path) -> Manifest:
    """`load`, for the copy of the next snapshot: the manifest this process wrote there
    when the file is still the one it wrote (`_Written`), else the file read. Validation
    reads the files themselves (`load`)."""
    return _WRITTEN.take(path) or load(path)


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
    entries = tuple(Entry(**e) for e in data["entries"])
    return Manifest(int(data["number"]), entries, int(data["format"]))


_FIELDS: dict[str, type] = {"path": str, "type": str, "size": int, "mode": int, "uid": int,
                            "gid": int, "mtime_ns": int, "nlink": int, "content": str,
                            "ino": int, "ctime_ns": int}  # fmt: skip
_HEX = frozenset("0123456789abcdef")


def check(data: object) -> list[str]:
    """The problems of a manifest read from JSON (none: well formed): the format, its
    number, and each entry's fields, types, a relative, unique, sorted, not excluded
    path, and a file's hash of the format's length in hex (HASHES)."""
    if not isinstance(data, dict):
        return ["not a JSON object"]
    problems = []
    fmt = data.get("format")
    if type(fmt) is not int or fmt not in HASHES:
        problems.append(f"format {fmt!r}, not one of {sorted(HASHES)}")
        fmt = FORMAT
    hashed = HASHES[fmt]
    number = data.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        problems.append(f"number {number!r} is not a count")
    entries = data.get("entries")
    if not isinstance(entries, list):
        return [*problems, "no list of entries"]
    seen: set[str] = set()
    last = ""
    for i, entry in enumerate(entries):
        problems += [f"entry {i}: {p}" for p in _entry_problems(entry, seen, last, hashed)]
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            last = entry["path"]
            seen.add(last)
    return problems


def _entry_problems(entry: object, seen: set[str], last: str, hashed: tuple[str, int]) -> list[str]:
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
    name, digits = hashed
    if kind == "f" and (len(content) != digits or not set(content) <= _HEX):
        found.append(f"{path!r}: its content is no {name} ({digits} hex digits)")
    if entry["size"] < 0:
        found.append(f"{path!r}: negative size")
    return found
