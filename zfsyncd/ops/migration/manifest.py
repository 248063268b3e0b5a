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

The files rsync writes are hashed while it still copies the others (`EarlyHashes`): rsync
names each file before it sends it, so when it names the next one, the file before is
sent, and a worker waits for it to appear under its name (a new inode: rsync writes a
temporary file and renames it into place, its contents and times set first). A hash made
so is used only when the file the manifest's walk finds after rsync is exactly the one
that was read (the same inode, size, mtime and ctime, which were the same before and after
the read); any other file is read again then. So the hashes are of the tree rsync left, as
before, and rsync's time covers most of theirs.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
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
        # each entry's fields in their order, as dataclasses.asdict gives them, without its
        # deep copy of every value (a tenth of the time: a manifest is written per snapshot)
        return {"format": FORMAT, "number": self.number,
                "entries": [dict(vars(e)) for e in self.entries]}  # fmt: skip


def manifest_path(root: Path, number: int) -> Path:
    return root / MANIFESTS / f"{number:06d}.json"


def file_hash(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


#: what says a file is the one a hash was made of: inode, size, mtime, ctime (the module's
#: docstring: contents written since change the ctime, which no one can set back)
Identity = tuple[int, int, int, int]


def identity(st: os.stat_result) -> Identity:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def open_file_hash(fd: int, stop: threading.Event | None = None) -> tuple[Identity, str] | None:
    """The sha256 of an open regular file, with its identity; None when it is no regular
    file, changed while it was read, or `stop` was set meanwhile."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        return None
    digest = hashlib.sha256()
    while chunk := os.read(fd, _CHUNK):
        if stop is not None and stop.is_set():
            return None
        digest.update(chunk)
    if identity(os.fstat(fd)) != identity(st):
        return None
    return identity(st), digest.hexdigest()


class EarlyHashes:
    """The sha256 of the files an rsync writes, made while it copies the others (the
    module's docstring): `written` as rsync names each file (run_rsync's `on_written`),
    `finish` once it ended, `stop` if it failed. The file named before the last one is
    handed to a worker, which waits until a file other than the old one (`old_inodes`,
    the previous manifest's) is at its name, then hashes it. What they made serves
    `build` where the walk finds the same file."""

    #: how long a worker waits between looks at a name whose new file is not there yet
    POLL = 0.02

    #: as many as hash_files uses: in the lab's guest one sha256 (15 to 40 MiB/s) is about
    #: as fast as rsync writes there (15 MiB/s on a quiet host), so one could fall behind
    WORKERS = HASH_WORKERS

    def __init__(self, root: Path, old_inodes: Mapping[str, int], workers: int = WORKERS) -> None:
        self._root = root
        self._old = old_inodes
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="manifest-early")
        self._futures: dict[str, Future[tuple[Identity, str] | None]] = {}
        self._last: str | None = None
        self._ended = threading.Event()
        self._stopped = threading.Event()

    def written(self, rel: str) -> None:
        """rsync names `rel` (about to send it): the file it named before is sent."""
        self._submit(self._last)
        self._last = rel

    def finish(self) -> dict[str, tuple[Identity, str]]:
        """rsync ended (every file in place): the hashes made, by path (waits for those
        being made; the last file named is hashed now too)."""
        self._submit(self._last)
        self._ended.set()
        made = {}
        try:
            for rel, future in self._futures.items():
                found = None if future.cancelled() else future.result()
                if found is not None:
                    made[rel] = found
        finally:
            self._pool.shutdown(wait=True)
        return made

    def stop(self) -> None:
        """rsync failed or the step was stopped: nothing is kept, and no file of the tree
        stays open (an undo may destroy the dataset): the workers stop at their next
        look or read of a chunk, which this waits for."""
        self._stopped.set()
        self._ended.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, rel: str | None) -> None:
        if rel is not None and rel not in self._futures and not self._ended.is_set():
            self._futures[rel] = self._pool.submit(self._hash, rel)

    def _hash(self, rel: str) -> tuple[Identity, str] | None:
        path = os.path.join(self._root, rel)
        old = self._old.get(rel)
        while True:
            # rsync ended before this look: the file is in place now, or never will be
            last = self._ended.is_set()
            if self._stopped.is_set():
                return None
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                fd = -1  # not there yet (a new file), or not a file to read
            if fd >= 0:
                try:
                    if os.fstat(fd).st_ino != old:
                        return open_file_hash(fd, self._stopped)
                except OSError:
                    return None
                finally:
                    os.close(fd)
            # the old file still (or none yet): rsync has not renamed the new one in
            if last:
                return None
            self._ended.wait(self.POLL)


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
    early: Mapping[str, tuple[Identity, str]] | None = None,
) -> Manifest:
    """The manifest of the tree at `root`; hashes of `previous` are reused for a file rsync
    did not write (`written`: what it wrote since `previous` was made; None: nothing
    known, so nothing is reused) that is plainly the same one (inode, size, mtime,
    ctime). The module's docstring says why both. `early`: hashes made while rsync ran
    (EarlyHashes), each used only for the very file it was made of (its identity)."""
    cached = previous.by_path() if previous is not None and written is not None else {}
    fresh = written or frozenset()
    made_early = early or {}
    walked = walk(root)
    known: list[str | None] = []
    for rel, st in walked:
        old = cached.get(rel)
        now = identity(st)
        same = (
            old is not None
            and old.type == "f"
            and rel not in fresh
            and (old.ino, old.size, old.mtime_ns, old.ctime_ns) == now
        )
        hashed = made_early.get(rel)
        if same and old:
            known.append(old.content)
        elif hashed is not None and hashed[0] == now and stat.S_ISREG(st.st_mode):
            known.append(hashed[1])
        else:
            known.append(None)
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
        self._kept: OrderedDict[str, tuple[tuple[int, int, int, int], Manifest]] = OrderedDict()
        self._lock = threading.Lock()  # the copies' file work runs in threads

    @staticmethod
    def _identity(path: Path) -> tuple[int, int, int, int]:
        st = os.stat(path)
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def keep(self, path: Path, manifest: Manifest) -> None:
        identity = self._identity(path)
        with self._lock:
            self._kept.pop(str(path), None)
            if len(manifest.entries) > self.ENTRIES:
                return
            self._kept[str(path)] = (identity, manifest)
            while sum(len(m.entries) for _, m in self._kept.values()) > self.ENTRIES:
                self._kept.popitem(last=False)

    def take(self, path: Path) -> Manifest | None:
        with self._lock:
            kept = self._kept.pop(str(path), None)
        if kept is None:
            return None
        try:
            same = self._identity(path) == kept[0]
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
