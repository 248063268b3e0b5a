"""The world a contract test runs in: one backend, two pools, a fresh root under each.

ZFSYNC_TEST_BACKEND selects the backend: "memory" (the default, on the host) runs the suite
against MemoryBackend; "real" (inside the OpenZFS lab guest, as root) against CliBackend on
file-backed pools that the session creates and destroys. A test sees only `World`, so the
same test body runs against both; what they need to do differently (write data, fill a
pool) is a method here.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from zfsyncd.commands.runner import CommandRunner, Transport
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import DestroyMode, ZfsBackend
from zfsyncd.zfs.errors import HeldError, NotFoundError, PoolFullError, ZfsCommandError
from zfsyncd.zfs.memory import MemoryBackend
from zfsyncd.zfs.models import ObjectType

BACKEND_ENV = "ZFSYNC_TEST_BACKEND"
# "zc" for contract: not the names other test tiers or a developer's pools use
SOURCE_POOL, TARGET_POOL, SMALL_POOL = "zcsrc", "zcdst", "zcfull"
POOL_BYTES = {SOURCE_POOL: 768 << 20, TARGET_POOL: 768 << 20, SMALL_POOL: 64 << 20}
IMAGE_DIR = Path("/var/tmp")
KEY_FILE = IMAGE_DIR / "zfsync-contract.key"
THROTTLE = Path(__file__).with_name("throttle.py")
#: the user properties tests set; `state()` records them (zfs list needs them by name)
STATE_PROPERTIES = ("zfsync:role", "zfsync:a", "zfsync:b")
#: data for a stream to cut mid-way: at THROTTLE_RATE a real one takes 2 s
BIG_WRITE = 32 << 20
THROTTLE_RATE = 16 << 20
#: how far a stream to cut gets first (a cut before the receive began keeps nothing)
CUT_AFTER = 4 << 20


def backend_kind() -> str:
    kind = os.environ.get(BACKEND_ENV, "memory")
    if kind not in ("memory", "real"):
        raise ValueError(f"{BACKEND_ENV} must be 'memory' or 'real', not {kind!r}")
    return kind


@dataclass(frozen=True)
class Entry:
    """What `state()` records of one object: enough to tell that nothing changed."""

    type: ObjectType
    guid: int
    createtxg: int
    origin: str | None
    partial: bool  # has a receive_resume_token
    properties: tuple[tuple[str, str], ...]
    #: every property set on the object itself (`zfs get -s local`), native ones included
    local: tuple[tuple[str, str], ...]
    holds: tuple[str, ...]
    #: a filesystem's files, when asked for (`state(contents=True)`): a fingerprint of each
    contents: tuple[str, ...] | None = None


State = dict[str, Entry]


class World:
    """One test's view: `zfs` (the backend), `src` and `dst` (fresh empty filesystems in
    the source and target pools), and what differs between model and real ZFS."""

    kind: str

    def __init__(self, zfs: ZfsBackend, src: str, dst: str) -> None:
        self.zfs = zfs
        self.src = src
        self.dst = dst
        self.key_location = f"file://{KEY_FILE}"
        self._roots = [src, dst]

    async def setup(self) -> None:
        for root in self._roots:
            await self.zfs.create(root)

    async def teardown(self) -> None:
        """Nothing to do for a model that dies with the test."""

    async def write(self, dataset: str, nbytes: int) -> None:
        raise NotImplementedError

    async def fill(self, dataset: str) -> None:
        """Write into `dataset` until its pool is full."""
        raise NotImplementedError

    def slow_target(self) -> ZfsBackend:
        """The same pools, as a send_recv target that receives at THROTTLE_RATE: a test
        that cancels a transfer mid-stream needs a stream that lasts (the model's
        transfers yield at every chunk already)."""
        return self.zfs

    async def small_pool_root(self) -> str:
        """A fresh filesystem in the small (64 MiB) pool, for running out of space."""
        root = f"{SMALL_POOL}/{self.src.split('/', 1)[1]}"
        await self.zfs.create(root)
        self._roots.append(root)
        return root

    async def contents(self, filesystem: str) -> tuple[str, ...]:
        """A fingerprint of each file in `filesystem`, in a stable order: equal when the
        data is the same data (a received copy of it included)."""
        raise NotImplementedError

    async def local_properties(self, root: str) -> dict[str, dict[str, str]]:
        """The properties set locally on each object under `root` (bookmarks have none)."""
        found: dict[str, dict[str, str]] = {}
        for obj in await self.zfs.list(root):
            if obj.type is not ObjectType.BOOKMARK:
                found[obj.name] = await self.zfs.local_properties(obj.name)
        return found

    async def state(self, *roots: str, contents: bool = False) -> State:
        """Everything under `roots`: names, types, guids, createtxgs, origins, partial
        receives, user properties (STATE_PROPERTIES), local properties and holds; with
        `contents`, the files of each filesystem too."""
        picture: State = {}
        for root in roots:
            local = await self.local_properties(root)
            objects = await self.zfs.list(root, user_properties=STATE_PROPERTIES)
            # the holds of every held snapshot in one command, not one per snapshot: each
            # zfs command costs about a second in the lab, and this runs twice a case
            held = [o.name for o in objects if o.type is ObjectType.SNAPSHOT and o.userrefs]
            tags: dict[str, list[str]] = {}
            for hold in await self.zfs.holds_many(held):
                tags.setdefault(hold.snapshot, []).append(hold.tag)
            for obj in objects:
                holds = tuple(sorted(tags.get(obj.name, ())))
                files = None
                if contents and obj.type is ObjectType.FILESYSTEM and not obj.receive_resume_token:
                    files = await self.contents(obj.name)
                picture[obj.name] = Entry(
                    type=obj.type,
                    guid=obj.guid,
                    createtxg=obj.createtxg,
                    origin=obj.origin,
                    partial=obj.receive_resume_token is not None,
                    properties=tuple(sorted(obj.user_properties.items())),
                    local=tuple(sorted(local.get(obj.name, {}).items())),
                    holds=holds,
                    contents=files,
                )
        return picture

    @contextlib.asynccontextmanager
    async def unchanged(self, *roots: str) -> AsyncIterator[None]:
        """Asserts that what runs inside changes nothing under `roots` (default: both)."""
        roots = roots or (self.src, self.dst)
        before = await self.state(*roots)
        yield
        after = await self.state(*roots)
        assert after == before


class MemoryWorld(World):
    kind = "memory"

    def __init__(self, test_id: str) -> None:
        self.model = MemoryBackend(pools=(SOURCE_POOL, TARGET_POOL))
        self.model.add_pool(SMALL_POOL, size=POOL_BYTES[SMALL_POOL])
        super().__init__(self.model, f"{SOURCE_POOL}/{test_id}", f"{TARGET_POOL}/{test_id}")

    async def write(self, dataset: str, nbytes: int) -> None:
        self.model.write(dataset, nbytes)

    async def fill(self, dataset: str) -> None:
        self.model.fill_pool(dataset)

    async def contents(self, filesystem: str) -> tuple[str, ...]:
        # what the model keeps of data: its writes, each an object shared (not copied) by
        # snapshots, clones and received copies, so identity stands for the bytes (read
        # from the model's inside: a test's view, not part of the backend protocol)
        return tuple(f"w{id(w):x}" for w in self.model._datasets[filesystem].content)


class RealWorld(World):
    kind = "real"

    def __init__(self, test_id: str) -> None:
        self.runner = CommandRunner()
        # the backend class comes from the lead's cli.py; imported here so that the memory
        # tier does not depend on it
        from zfsyncd.zfs.cli import CliBackend

        super().__init__(
            CliBackend(self.runner), f"{SOURCE_POOL}/{test_id}", f"{TARGET_POOL}/{test_id}"
        )

    async def write(self, dataset: str, nbytes: int) -> None:
        """Mount the dataset on a private directory for the write, then unmount it.

        The pools have mountpoint=none (creating a dataset that mounts costs 2-5x more
        under TCG), so `mount -o zfsutil` does what `zfs mount` would, leaving no
        property changed behind."""
        where = Path(tempfile.mkdtemp(prefix="zfsync-contract-"))
        await self.runner.run(["mount", "-t", "zfs", "-o", "zfsutil", dataset, str(where)])
        try:
            # named in the order written, so `contents` lists a dataset's files in that order
            # (a file's place stands for which write it was when two runs are compared)
            _write_random(where / f"w-{time.time_ns():020d}-{uuid.uuid4().hex}", nbytes)
        finally:
            await self.runner.run(["umount", str(where)])
            os.rmdir(where)
            # `used`/`referenced` show new data only once its txg is synced
            await self.runner.run(["zpool", "sync", names.pool_of(dataset)])

    async def contents(self, filesystem: str) -> tuple[str, ...]:
        """sha256 of each file, mounted as in `write` (read-only: nothing changes)."""
        where = Path(tempfile.mkdtemp(prefix="zfsync-contract-"))
        await self.runner.run(["mount", "-t", "zfs", "-o", "zfsutil,ro", filesystem, str(where)])
        try:
            return _hash_files(where)
        finally:
            await self.runner.run(["umount", str(where)])
            os.rmdir(where)

    async def local_properties(self, root: str) -> dict[str, dict[str, str]]:
        """One `zfs get -r` for the whole tree, instead of one command per object."""
        result = await self.runner.run(
            ["zfs", "get", "-H", "-p", "-r", "-t", "filesystem,volume,snapshot",
             "-s", "local", "-o", "name,property,value", "all", root]
        )  # fmt: skip
        found: dict[str, dict[str, str]] = {}
        for line in result.stdout.splitlines():
            name, prop, value = line.split("\t", 2)
            found.setdefault(name, {})[prop] = value
        return found

    async def fill(self, dataset: str) -> None:
        try:
            await self.write(dataset, POOL_BYTES[SMALL_POOL] * 4)
        except PoolFullError:
            return
        raise AssertionError(f"writing 4x the pool's size into {dataset} did not fill it")

    def slow_target(self) -> ZfsBackend:
        from zfsyncd.zfs.cli import CliBackend

        throttle = shlex.join([sys.executable, str(THROTTLE), str(THROTTLE_RATE)])
        # like ssh would, the transport wraps each command; only `zfs receive` is slowed
        script = f'if [ "$1" = receive ]; then {throttle} | "$0" "$@"; else exec "$0" "$@"; fi'
        transport = Transport(prefix=("sh", "-c", script), label="throttled")
        return CliBackend(CommandRunner(transport=transport))

    async def teardown(self) -> None:
        for root in reversed(self._roots):
            await _destroy_all(self.zfs, root)


def _hash_files(where: Path) -> tuple[str, ...]:
    return tuple(
        hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(where.rglob("*"))
        if path.is_file()
    )


def _write_random(path: Path, nbytes: int) -> None:
    """Random (incompressible) bytes, so the stream is as big as the data."""
    chunk = 1 << 20
    try:
        with path.open("wb") as out:
            left = nbytes
            while left > 0:
                out.write(os.urandom(min(chunk, left)))
                left -= chunk
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise PoolFullError(["write", str(path)], 1, str(exc)) from exc
        raise


async def _destroy_all(zfs: ZfsBackend, root: str) -> None:
    """Destroy `root` with everything below and every clone of it; release the holds that
    stop that, and abort partial receives."""
    for _ in range(3):
        try:
            await zfs.destroy(root, mode=DestroyMode.DEPENDENTS)
            return
        except NotFoundError:
            return
        except HeldError:
            for obj in await zfs.list(root, types=[ObjectType.SNAPSHOT]):
                if obj.userrefs:
                    for hold in await zfs.holds(obj.name):
                        await zfs.release(hold.tag, [obj.name])
        except ZfsCommandError:
            for obj in await zfs.list(root, types=[ObjectType.FILESYSTEM, ObjectType.VOLUME]):
                if obj.receive_resume_token:
                    await zfs.recv_abort(obj.name)
    await zfs.destroy(root, mode=DestroyMode.DEPENDENTS)


# ------------------------------------------------------------------ real pools (session)


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def _require_real_zfs() -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("not root")
    for tool in ("zfs", "zpool"):
        if shutil.which(tool) is None:
            problems.append(f"no {tool} on PATH")
    if not Path("/dev/zfs").exists():
        problems.append("no /dev/zfs (module not loaded)")
    if problems:
        raise RuntimeError(
            f"{BACKEND_ENV}=real needs the OpenZFS lab guest: " + ", ".join(problems)
        )


@contextlib.contextmanager
def real_pools() -> Iterator[None]:
    """Create the three file-backed pools for the session; destroy them after."""
    _require_real_zfs()
    KEY_FILE.write_bytes(os.urandom(32))
    made = []
    try:
        for pool, size in POOL_BYTES.items():
            if _run("zpool", "list", pool, check=False).returncode == 0:
                _run("zpool", "destroy", "-f", pool)  # left over from a crashed run
            image = IMAGE_DIR / f"{pool}.img"
            with image.open("wb") as out:
                out.truncate(size)
            _run("zpool", "create", "-f", "-o", "ashift=12", "-m", "none", pool, str(image))
            made.append((pool, image))
        yield
    finally:
        for pool, image in reversed(made):
            _run("zpool", "destroy", "-f", pool, check=False)
            image.unlink(missing_ok=True)
        KEY_FILE.unlink(missing_ok=True)


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def unique_name(counter: int, node_name: str) -> str:
    """A dataset name component unique to one test (and readable in a failure)."""
    return f"t{counter:03d}-{_UNSAFE.sub('_', node_name)}"[:80].rstrip("_")


def make_world(test_name: str) -> World:
    factory: Callable[[str], World] = MemoryWorld if backend_kind() == "memory" else RealWorld
    return factory(test_name)
