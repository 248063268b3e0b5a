"""`MemoryBackend`: an in-memory model of OpenZFS 2.3 that honours the `ZfsBackend` protocol.

It exists so that everything above zfs/ can be tested in milliseconds, including failures
half-way through a transaction. It is only worth that if it behaves like the real thing, so
tests/contract/ runs one suite against both this model and real pools in the OpenZFS lab;
where they disagree, the model is wrong. The rules below were read off a real OpenZFS 2.3.2
pool (each non-obvious one says so), not guessed from the manual.

How it models ZFS:
- Data is a sequence of `_Write`s (test helper `write()`); a snapshot keeps the sequence
  the dataset had, so a stream's size is what the writes between its two ends add up to,
  and `send_estimate` predicts exactly the bytes `send_recv` then moves.
- Every change takes a new txg of its pool; several snapshots in one call share one.
- A dataset is "modified since" a snapshot when its head changed in a later txg (what
  `dsl_dataset_modified_since_snap` asks).
- Errors are made the way the real backend makes them: the model composes the stderr that
  real zfs prints for the case and passes it through `errors.classify`, so a failure gets
  the same class from both backends, and a fix to the patterns fixes both.

Test-only helpers (never used by production code) are public and say so: `write`,
`fill_pool`, `add_pool`, `pool_free`, `unload_key`.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import json
import random
import re
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ALL_TYPES, EXPLICIT_SOURCES, DestroyMode, ProgressCallback
from zfsyncd.zfs.capabilities import Capabilities, parse_version
from zfsyncd.zfs.errors import (
    InvalidNameError,
    NotFoundError,
    PoolFullError,
    TransferDetails,
    ZfsCommandError,
    classify,
)
from zfsyncd.zfs.inventory import BASE_COLUMNS
from zfsyncd.zfs.models import (
    Hold,
    ObjectType,
    PropertySource,
    PropertyValue,
    RecvSpec,
    SendSpec,
    TransferProgress,
    TransferResult,
    ZfsObject,
)

#: what an empty filesystem references on an ashift=12 pool (real: 98304)
EMPTY_DATASET_BYTES = 98_304
#: the size `zfs send -nvP` gives for a full and an incremental stream of no data (real)
FULL_STREAM_BYTES = 43_632
INCREMENTAL_STREAM_BYTES = 624
#: bytes moved between two progress reports (and two chances to cancel)
CHUNK_BYTES = 128 * 1024
DEFAULT_POOL_SIZE = 1 << 40

_VERSION_TEXT = "zfs-2.3.2-memory\nzfs-kmod-2.3.2-memory"

# ---------------------------------------------------------------------------------- state


@dataclass(eq=False)
class _Write:
    """One simulated write. Identity matters: snapshots, clones and received copies share
    the very objects, which is how a stream knows what the other side already has."""

    nbytes: int


Content = tuple[_Write, ...]


def _bytes(content: Iterable[_Write]) -> int:
    return sum(w.nbytes for w in content)


def _added(content: Content, base: Content) -> int:
    """Bytes in `content` that `base` does not have: an incremental stream's payload."""
    have = {id(w) for w in base}
    return sum(w.nbytes for w in content if id(w) not in have)


@dataclass(eq=False)
class _Crypt:
    """Encryption of a dataset; `root` is its encryption root (itself or an ancestor),
    whose own `_Crypt` says whether the key is loaded."""

    cipher: str
    keyformat: str
    root: _Dataset
    loaded: bool = True

    @property
    def key_loaded(self) -> bool:
        root = self.root.crypt
        return root.loaded if root is not None else self.loaded


@dataclass(eq=False)
class _Snapshot:
    dataset: _Dataset
    short: str
    guid: int
    createtxg: int
    creation: int
    content: Content
    head_birth: int  # the head's birth txg when taken: a rollback restores it
    holds: dict[str, int] = field(default_factory=dict)
    local: dict[str, str] = field(default_factory=dict)  # user properties only
    received: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.dataset.name}@{self.short}"


@dataclass(eq=False)
class _Bookmark:
    dataset: _Dataset
    short: str
    guid: int
    createtxg: int
    creation: int
    content: Content

    @property
    def name(self) -> str:
        return f"{self.dataset.name}#{self.short}"


@dataclass(eq=False)
class _Partial:
    """A resumable receive cut short (real: the token, plus a hidden `%recv` clone for an
    incremental, or the half-made dataset itself for a full stream)."""

    token: str
    new_fs: bool
    to_guid: int
    from_guid: int  # 0 for a full stream
    bytes_done: int


@dataclass(eq=False)
class _Dataset:
    name: str
    type: ObjectType
    guid: int
    createtxg: int
    creation: int
    content: Content = ()
    birth: int = 0  # txg of the head's last change
    snapshots: dict[str, _Snapshot] = field(default_factory=dict)
    bookmarks: dict[str, _Bookmark] = field(default_factory=dict)
    local: dict[str, str] = field(default_factory=dict)  # user and native properties
    received: dict[str, str] = field(default_factory=dict)
    origin: _Snapshot | None = None
    partial: _Partial | None = None
    volsize: int | None = None
    crypt: _Crypt | None = None

    @property
    def pool(self) -> str:
        return self.name.split("/", 1)[0]

    def ordered_snapshots(self) -> list[_Snapshot]:
        return sorted(self.snapshots.values(), key=lambda s: s.createtxg)

    def latest(self) -> _Snapshot | None:
        ordered = self.ordered_snapshots()
        return ordered[-1] if ordered else None

    @property
    def half_made(self) -> bool:
        """Only the partial state of a full receive: no snapshot, not usable yet."""
        return self.partial is not None and self.partial.new_fs


@dataclass
class _Pool:
    name: str
    size: int
    txg: int = 1


# ----------------------------------------------------------------------------- properties

_COMPRESSION = re.compile(
    r"on|off|lzjb|gzip|gzip-[1-9]|zle|lz4|zstd|zstd-(?:[1-9]|1[0-9])|zstd-fast"
    r"|zstd-fast-(?:[1-9]|10|20|30|40|50|60|70|80|90|100|500|1000)"
)
_COMPRESSION_VALUES = (
    "on | off | lzjb | gzip | gzip-[1-9] | zle | lz4 | zstd | zstd-[1-19] | zstd-fast | "
    "zstd-fast-[1-10,20,30,40,50,60,70,80,90,100,500,1000]"
)
_CIPHERS = (
    "aes-128-ccm",
    "aes-192-ccm",
    "aes-256-ccm",
    "aes-128-gcm",
    "aes-192-gcm",
    "aes-256-gcm",
)
_KEYFORMATS = ("raw", "hex", "passphrase")


@dataclass(frozen=True)
class _Native:
    """A native property the model knows. Real ZFS has many more; the model rejects the
    rest as unknown (a documented gap: tests/contract keeps to these)."""

    default: str
    inheritable: bool = False
    editable: bool = True  # `zfs set` may change it
    create_only: bool = False  # only `zfs create -o` may set it
    choices: tuple[str, ...] = ()


_NATIVE: dict[str, _Native] = {
    "mountpoint": _Native("", inheritable=True),
    "readonly": _Native("off", inheritable=True, choices=("on", "off")),
    "compression": _Native("on", inheritable=True),
    "atime": _Native("on", inheritable=True, choices=("on", "off")),
    "canmount": _Native("on", choices=("on", "off", "noauto")),
    "quota": _Native("0"),
    "keylocation": _Native("none"),
    "encryption": _Native("off", editable=False, create_only=True),
    "keyformat": _Native("none", editable=False, create_only=True),
    "volsize": _Native("-"),
}
#: native properties nobody sets: values the model computes
_READ_ONLY = frozenset(
    {
        *BASE_COLUMNS,
        "keystatus",
        "encryptionroot",
    }
)
#: what `zfs send -p` carries: settable native properties (plus every user property)
_SENT_NATIVE = ("mountpoint", "readonly", "compression", "atime", "canmount", "quota")

#: what does not apply to a volume (real shows '-')
_FILESYSTEM_ONLY = frozenset({"mountpoint", "canmount", "atime"})

_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(.*)")
_SUFFIXES = {"": 0, "B": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def _parse_size(text: str) -> int | str:
    """`zfs_nicestrtonum`: '10M', '10MB', '10m', '1.5G', '4096'. Returns bytes or the
    message real zfs prints for a bad value."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        return f"bad numeric value '{text}'"
    suffix = match[2].upper()
    if suffix.endswith("IB"):
        suffix = suffix[:-2]
    elif len(suffix) == 2 and suffix.endswith("B"):
        suffix = suffix[:-1]
    if suffix not in _SUFFIXES:
        return f"invalid numeric suffix '{match[2]}'"
    return int(float(match[1]) * 1024 ** _SUFFIXES[suffix])


# ------------------------------------------------------------------------------- tokens


def _encode_token(fields: Mapping[str, object]) -> str:
    """A token shaped like the real ones (`1-<checksum>-<length>-<hex of zlib data>`)
    that any MemoryBackend can read back: the source reads it to resume its send."""
    payload = zlib.compress(json.dumps(dict(fields), sort_keys=True).encode())
    return f"1-{zlib.crc32(payload):x}-{len(payload):x}-{payload.hex()}"


def _decode_token(token: str) -> dict[str, object] | None:
    try:
        version, checksum, length, data = token.split("-", 3)
        payload = bytes.fromhex(data)
        if version != "1" or int(checksum, 16) != zlib.crc32(payload):
            return None
        if int(length, 16) != len(payload):
            return None
        fields = json.loads(zlib.decompress(payload))
    except (ValueError, zlib.error):
        return None
    return fields if isinstance(fields, dict) else None


# ------------------------------------------------------------------------------ streams


@dataclass(frozen=True)
class _Stream:
    """One `zfs send` stream of one dataset: full (from_guid 0) or incremental."""

    relative: str  # the dataset's path below the sent dataset ('' for the sent one)
    source_name: str  # the full name of the snapshot it brings, at send time
    type: ObjectType
    to_short: str
    to_guid: int
    creation: int
    content: Content
    from_guid: int
    nbytes: int
    offset: int = 0  # bytes a resumed stream skips (the target already has them)
    props: Mapping[str, str] | None = None  # -p: the dataset's properties
    snap_props: Mapping[str, str] = field(default_factory=dict)
    volsize: int | None = None
    raw_cipher: tuple[str, str] | None = None  # -w of an encrypted dataset: (cipher, format)
    raw_root: str | None = None  # its encryption root's path below the sent dataset
    raw: bool = False

    @property
    def remaining(self) -> int:
        return self.nbytes - self.offset


@dataclass
class _Plan:
    """Everything a send will transfer, worked out before the first byte moves."""

    streams: list[_Stream]
    replicate: bool = False
    #: -R: for each dataset in the stream (by relative path), the snapshot guids it has
    source_snapshots: dict[str, set[int]] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(s.remaining for s in self.streams)


# -------------------------------------------------------------------------------- model


class MemoryBackend:
    """An in-memory model of the pools of one host; see the module docstring.

    `pools` exist from the start, each with its root dataset, `pool_size` bytes large.
    `seed` makes guids reproducible; `clock` gives the creation times.
    """

    def __init__(
        self,
        pools: Sequence[str] = ("src", "dst"),
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # guids need to be unique, not unpredictable
        self._rng = random.Random(seed)  # noqa: S311
        self._clock = clock
        self._pools: dict[str, _Pool] = {}
        self._datasets: dict[str, _Dataset] = {}
        self._guids: set[int] = set()
        for pool in pools:
            self.add_pool(pool, size=pool_size)

    # ----------------------------------------------------------- test-only helpers

    def add_pool(self, name: str, *, size: int = DEFAULT_POOL_SIZE) -> None:
        """Test helper: a new pool (with its root dataset), as `zpool create` makes it."""
        names.check_pool(name)
        if name in self._pools:
            raise ValueError(f"pool {name} exists")
        self._pools[name] = _Pool(name, size)
        self._datasets[name] = _Dataset(
            name, ObjectType.FILESYSTEM, self._guid(), 1, self._now(), birth=1
        )

    def write(self, dataset: str, nbytes: int) -> None:
        """Test helper: write `nbytes` of new data into a dataset, as files written into a
        mounted filesystem would: `used`/`referenced` grow, the next stream carries them,
        and the dataset counts as modified since its latest snapshot. Like `dd`, a write
        that does not fit (in the pool, or under a quota) writes what fits and then fails
        with PoolFullError."""
        if nbytes <= 0:
            raise ValueError("write at least one byte")
        ds = self._datasets.get(dataset)
        if ds is None or ds.half_made:
            raise NotFoundError(["write", dataset], 1, f"cannot open '{dataset}': not writable")
        free = self.pool_free(ds.pool)
        room = self._quota_room(ds)
        fits = min(nbytes, free, free if room is None else room)
        if fits > 0:
            ds.content = (*ds.content, _Write(fits))
            ds.birth = self._txg(ds.pool)
        if fits < nbytes:
            why = (
                "No space left on device"
                if room is None or free <= room
                else ("Disk quota exceeded")
            )
            raise PoolFullError(["write", dataset], 1, f"write: {why}")

    def fill_pool(self, dataset: str) -> None:
        """Test helper: write into `dataset` until its pool has no space left."""
        free = self.pool_free(names.pool_of(dataset))
        if free > 0:
            self.write(dataset, free)

    def pool_free(self, pool: str) -> int:
        """Test helper: bytes left in a pool."""
        return max(0, self._pools[pool].size - self._used(self._datasets[pool]))

    def unload_key(self, dataset: str) -> None:
        """Test helper: `zfs unload-key` of an encryption root."""
        crypt = self._datasets[dataset].crypt
        if crypt is None or crypt.root.name != dataset:
            raise ValueError(f"{dataset} is not an encryption root")
        crypt.loaded = False

    # ------------------------------------------------------------ small internals

    def _now(self) -> int:
        return int(self._clock())

    def _guid(self) -> int:
        while True:
            guid = self._rng.getrandbits(64)
            if guid and guid not in self._guids:
                self._guids.add(guid)
                return guid

    def _txg(self, pool: str) -> int:
        """The next txg of a pool: every change gets a new one."""
        state = self._pools[pool]
        state.txg += 1
        return state.txg

    @staticmethod
    def _fail(argv: Sequence[str], message: str, returncode: int = 1) -> ZfsCommandError:
        """The error real zfs gives for `message`, classified the same way."""
        return classify(list(argv), returncode, message)

    def _not_found(self, argv: Sequence[str], name: str) -> ZfsCommandError:
        return self._fail(argv, f"cannot open '{name}': dataset does not exist")

    def _dataset(self, name: str) -> _Dataset | None:
        return self._datasets.get(name)

    def _snapshot(self, name: str) -> _Snapshot | None:
        dataset, _, short = name.partition("@")
        ds = self._datasets.get(dataset)
        return None if ds is None else ds.snapshots.get(short)

    def _bookmark_of(self, name: str) -> _Bookmark | None:
        dataset, _, short = name.partition("#")
        ds = self._datasets.get(dataset)
        return None if ds is None else ds.bookmarks.get(short)

    def _children(self, ds: _Dataset) -> list[_Dataset]:
        prefix = ds.name + "/"
        return sorted(
            (
                d
                for n, d in self._datasets.items()
                if n.startswith(prefix) and "/" not in n[len(prefix) :]
            ),
            key=lambda d: d.name,
        )

    def _subtree(self, ds: _Dataset) -> list[_Dataset]:
        """`ds` and everything below it, parents before children."""
        prefix = ds.name + "/"
        below = [d for n, d in self._datasets.items() if n.startswith(prefix)]
        return [ds, *sorted(below, key=lambda d: d.name)]

    def _clones_of(self, snap: _Snapshot) -> list[_Dataset]:
        return [d for d in self._datasets.values() if d.origin is snap]

    def _partials_on(self, snap: _Snapshot) -> list[_Dataset]:
        """Datasets whose cut incremental receive builds on `snap` (real: the hidden
        `%recv` clone of it, which blocks its destruction like any clone)."""
        ds = snap.dataset
        partial = ds.partial
        if partial is not None and not partial.new_fs and partial.from_guid == snap.guid:
            return [ds]
        return []

    def _quota_room(self, ds: _Dataset | None) -> int | None:
        """Bytes `ds` may still grow by under its own and its ancestors' quotas; None
        when no quota applies. (A quota stops data only: real zfs still creates datasets
        and snapshots under a full quota.)"""
        room: int | None = None
        while ds is not None:
            quota = int(ds.local.get("quota", ds.received.get("quota", "0")))
            if quota:
                left = max(0, quota - self._used(ds))
                room = left if room is None else min(room, left)
            ds = self._parent(ds)
        return room

    def _pool_full(self, pool: str) -> bool:
        return self.pool_free(pool) <= 0

    # -------------------------------------------------------------- space accounting

    def _referenced(self, ds: _Dataset) -> int:
        extra = ds.partial.bytes_done if ds.partial is not None and ds.partial.new_fs else 0
        return EMPTY_DATASET_BYTES + _bytes(ds.content) + extra

    def _used(self, ds: _Dataset) -> int:
        """Its own blocks (head and snapshots, less what its origin holds), a cut
        receive's blocks, its children's `used`, and a volume's reservation."""
        inherited = {id(w) for w in ds.origin.content} if ds.origin is not None else set()
        own: dict[int, int] = {}
        for content in (ds.content, *(s.content for s in ds.snapshots.values())):
            for w in content:
                if id(w) not in inherited:
                    own[id(w)] = w.nbytes
        partial = ds.partial.bytes_done if ds.partial is not None else 0
        children = sum(self._used(c) for c in self._children(ds))
        return EMPTY_DATASET_BYTES + sum(own.values()) + partial + children + (ds.volsize or 0)

    def _snapshot_used(self, snap: _Snapshot) -> int:
        """Blocks only this snapshot holds (what destroying it would free)."""
        others: set[int] = {id(w) for w in snap.dataset.content}
        for other in snap.dataset.snapshots.values():
            if other is not snap:
                others.update(id(w) for w in other.content)
        return sum(w.nbytes for w in snap.content if id(w) not in others)

    # ------------------------------------------------------------------ properties

    def _user_value(self, obj: _Dataset | _Snapshot | _Bookmark, prop: str) -> PropertyValue:
        """A user property: set here, received here, or inherited (a snapshot inherits
        from its dataset: real `zfs get` says 'inherited from pool/fs')."""
        if isinstance(obj, _Bookmark):
            return PropertyValue(value=None, source=PropertySource.NONE)
        if prop in obj.local:
            return PropertyValue(value=obj.local[prop], source=PropertySource.LOCAL)
        if prop in obj.received:
            return PropertyValue(value=obj.received[prop], source=PropertySource.RECEIVED)
        ds: _Dataset | None = obj.dataset if isinstance(obj, _Snapshot) else self._parent(obj)
        while ds is not None:
            value = ds.local.get(prop, ds.received.get(prop))
            if value is not None:
                return PropertyValue(
                    value=value, source=PropertySource.INHERITED, inherited_from=ds.name
                )
            ds = self._parent(ds)
        return PropertyValue(value=None, source=PropertySource.NONE)

    def _parent(self, ds: _Dataset) -> _Dataset | None:
        parent = names.parent_of(ds.name)
        return None if parent is None else self._datasets.get(parent)

    def _user_properties(
        self, obj: _Dataset | _Snapshot | _Bookmark, props: Sequence[str]
    ) -> dict[str, str]:
        found = {}
        for prop in props:
            value = self._user_value(obj, prop).value
            if value is not None:
                found[prop] = value
        return found

    def _native_value(self, obj: _Dataset | _Snapshot | _Bookmark, prop: str) -> PropertyValue:
        none = PropertySource.NONE
        computed = self._computed(obj, prop)
        if computed is not None:
            return PropertyValue(value=computed, source=none)
        if prop in ("encryption", "keystatus", "encryptionroot", "keyformat", "keylocation"):
            return self._crypt_value(obj, prop)
        if (
            not isinstance(obj, _Dataset)
            or prop == "volsize"
            or (obj.type is ObjectType.VOLUME and prop in _FILESYSTEM_ONLY)
        ):
            # what applies to a filesystem only shows '-' on a snapshot (real)
            volsize = obj.volsize if isinstance(obj, _Dataset) else None
            return PropertyValue(
                value="-" if volsize is None else str(volsize),
                source=none if volsize is None else PropertySource.LOCAL,
            )
        return self._dataset_native(obj, prop)

    def _computed(self, obj: _Dataset | _Snapshot | _Bookmark, prop: str) -> str | None:
        """The read-only values the model works out; None when `prop` is not one."""
        row = None
        if prop in BASE_COLUMNS:  # what `zfs list` reports, the model already works out
            row = self._row(obj, ())
        if row is None:
            return None
        value = getattr(row, prop)
        if prop == "type":
            return str(row.type.value)
        if prop == "userrefs" and not isinstance(obj, _Snapshot):
            return "-"
        if prop == "used" and isinstance(obj, _Bookmark):
            return "-"
        return "-" if value is None else str(value)

    def _crypt_value(self, obj: _Dataset | _Snapshot | _Bookmark, prop: str) -> PropertyValue:
        ds = obj if isinstance(obj, _Dataset) else obj.dataset
        crypt = ds.crypt
        none = PropertySource.NONE
        if crypt is None:
            if prop == "encryption":
                return PropertyValue(value="off", source=PropertySource.DEFAULT)
            if prop in ("keystatus", "encryptionroot") or not isinstance(obj, _Dataset):
                return PropertyValue(value="-", source=none)
            return PropertyValue(value="none", source=PropertySource.DEFAULT)
        if prop == "encryption":
            return PropertyValue(value=crypt.cipher, source=none)
        if prop == "keystatus":
            return PropertyValue(
                value="available" if crypt.key_loaded else "unavailable", source=none
            )
        if prop == "encryptionroot":
            return PropertyValue(value=crypt.root.name, source=none)
        if not isinstance(obj, _Dataset):
            return PropertyValue(value="-", source=none)
        if prop == "keyformat":
            return PropertyValue(value=crypt.keyformat, source=none)
        # keylocation lives on the encryption root only
        if crypt.root is ds:
            return PropertyValue(
                value=ds.local.get("keylocation", "prompt"), source=PropertySource.LOCAL
            )
        return PropertyValue(value="none", source=PropertySource.DEFAULT)

    def _dataset_native(self, ds: _Dataset, prop: str) -> PropertyValue:
        spec = _NATIVE[prop]
        if prop in ds.local:
            return PropertyValue(value=ds.local[prop], source=PropertySource.LOCAL)
        if prop in ds.received:
            return PropertyValue(value=ds.received[prop], source=PropertySource.RECEIVED)
        if spec.inheritable:
            ancestor = self._parent(ds)
            while ancestor is not None:
                value = ancestor.local.get(prop, ancestor.received.get(prop))
                if value is not None:
                    if prop == "mountpoint" and value.startswith("/"):
                        below = ds.name[len(ancestor.name) :]
                        value = value.rstrip("/") + below
                    return PropertyValue(
                        value=value, source=PropertySource.INHERITED, inherited_from=ancestor.name
                    )
                ancestor = self._parent(ancestor)
        if prop == "mountpoint":
            return PropertyValue(value="/" + ds.name, source=PropertySource.DEFAULT)
        return PropertyValue(value=spec.default, source=PropertySource.DEFAULT)

    def _check_native_value(self, prop: str, value: str) -> tuple[str, str | None]:
        """(normalised value, None) or (value, the problem real zfs reports)."""
        spec = _NATIVE[prop]
        if spec.choices and value not in spec.choices:
            return value, f"'{prop}' must be one of '{' | '.join(spec.choices)}'"
        if prop == "compression" and _COMPRESSION.fullmatch(value) is None:
            return value, f"'compression' must be one of '{_COMPRESSION_VALUES}'"
        if prop == "mountpoint" and not (value in ("none", "legacy") or value.startswith("/")):
            return value, "'mountpoint' must be an absolute path, 'none', or 'legacy'"
        if prop in ("quota", "volsize"):
            if value == "none" and prop == "quota":
                return "0", None
            size = _parse_size(value)
            return (str(size), None) if isinstance(size, int) else (value, size)
        if prop == "encryption":
            cipher = "aes-256-gcm" if value == "on" else value
            if cipher != "off" and cipher not in _CIPHERS:
                ciphers = " | ".join(("on", "off", *_CIPHERS))
                return value, f"'encryption' must be one of '{ciphers}'"
            return cipher, None
        if prop == "keyformat" and value not in (*_KEYFORMATS, "none"):
            return value, "'keyformat' must be one of 'none | raw | hex | passphrase'"
        if prop == "keylocation" and not (
            value == "prompt"
            or value.startswith("file://")
            or value.startswith(("https://", "http://"))
        ):
            return value, "invalid keylocation"
        return value, None

    def _native_problem(self, prop: str, *, creating: bool) -> str | None:
        """Why `prop` cannot be set at all (unknown or read-only), or None."""
        if prop in _READ_ONLY or (prop in _NATIVE and not _NATIVE[prop].editable and not creating):
            return f"'{prop}' is readonly"
        if prop not in _NATIVE:
            return f"invalid property '{prop}'"
        return None

    def _validated(
        self, argv: Sequence[str], prefix: str, props: Mapping[str, str], *, creating: bool
    ) -> dict[str, str]:
        """Check property assignments the way zfs does before it changes anything."""
        clean: dict[str, str] = {}
        for prop, value in props.items():
            if ":" in prop:
                clean[prop] = value
                continue
            problem = self._native_problem(prop, creating=creating)
            if problem is None:
                value, problem = self._check_native_value(prop, value)
            if problem is not None:
                raise self._fail(argv, f"{prefix}: {problem}")
            clean[prop] = value
        return clean

    @staticmethod
    def _checked_assignments(properties: Mapping[str, str] | None) -> dict[str, str]:
        """The name checks CliBackend makes before it builds `-o prop=value`."""
        for prop, value in (properties or {}).items():
            names.check_property_name(prop)
            names.check_property_value(prop, value)
        return dict(properties or {})

    # ----------------------------------------------------------------------- rows

    def _row(
        self, obj: _Dataset | _Snapshot | _Bookmark, user_properties: Sequence[str]
    ) -> ZfsObject:
        """What `zfs list -Hp` prints for one object."""
        if isinstance(obj, _Snapshot):
            return ZfsObject(
                name=obj.name,
                type=ObjectType.SNAPSHOT,
                guid=obj.guid,
                createtxg=obj.createtxg,
                creation=obj.creation,
                used=self._snapshot_used(obj),
                referenced=EMPTY_DATASET_BYTES + _bytes(obj.content),
                userrefs=len(obj.holds),
                user_properties=self._user_properties(obj, user_properties),
            )
        if isinstance(obj, _Bookmark):
            # real: '-' for used and userrefs, which the inventory parser reads as 0
            return ZfsObject(
                name=obj.name,
                type=ObjectType.BOOKMARK,
                guid=obj.guid,
                createtxg=obj.createtxg,
                creation=obj.creation,
                used=0,
                referenced=EMPTY_DATASET_BYTES + _bytes(obj.content),
            )
        return ZfsObject(
            name=obj.name,
            type=obj.type,
            guid=obj.guid,
            createtxg=obj.createtxg,
            creation=obj.creation,
            used=self._used(obj),
            referenced=self._referenced(obj),
            origin=None if obj.origin is None else obj.origin.name,
            receive_resume_token=None if obj.partial is None else obj.partial.token,
            user_properties=self._user_properties(obj, user_properties),
        )

    @staticmethod
    def _sort_key(obj: _Dataset | _Snapshot | _Bookmark) -> tuple[str, int, int]:
        """zfs list's default order (zfs_main.c zfs_compare): by name with a snapshot cut
        at its '@', a dataset before its snapshots, snapshots by createtxg; bookmarks are
        plain names, so they come after the snapshots and before the children."""
        if isinstance(obj, _Snapshot):
            return (obj.dataset.name, 1, obj.createtxg)
        return (obj.name, 0, 0)

    def _objects(self, ds: _Dataset, depth: int | None) -> list[_Dataset | _Snapshot | _Bookmark]:
        found: list[_Dataset | _Snapshot | _Bookmark] = []
        base = ds.name.count("/")
        for d in self._subtree(ds):
            level = d.name.count("/") - base
            if depth is not None and level > depth:
                continue
            found.append(d)
            if depth is None or level + 1 <= depth:
                found.extend(d.snapshots.values())
                found.extend(d.bookmarks.values())
        return found

    @staticmethod
    def _type_of(obj: _Dataset | _Snapshot | _Bookmark) -> ObjectType:
        if isinstance(obj, _Snapshot):
            return ObjectType.SNAPSHOT
        if isinstance(obj, _Bookmark):
            return ObjectType.BOOKMARK
        return obj.type

    def _lookup(self, name: str) -> _Dataset | _Snapshot | _Bookmark | None:
        if "@" in name:
            return self._snapshot(name)
        if "#" in name:
            return self._bookmark_of(name)
        return self._dataset(name)

    # ======================================================================= protocol

    async def capabilities(self) -> Capabilities:
        return parse_version(_VERSION_TEXT)

    async def list(
        self,
        root: str | None = None,
        *,
        types: Sequence[ObjectType] = ALL_TYPES,
        recursive: bool = True,
        depth: int | None = None,
        user_properties: Sequence[str] = (),
    ) -> builtins.list[ZfsObject]:
        for prop in user_properties:
            names.check_user_property(prop)
        if root is not None:
            names.check_any(root)
        wanted = set(types)
        argv = ["zfs", "list", "-Hp", "-t", ",".join(t.value for t in types)]
        if root is None:
            objects: builtins.list[_Dataset | _Snapshot | _Bookmark] = []
            for pool in sorted(self._pools):  # `-d N` with no name: N levels below each pool
                objects += self._objects(self._datasets[pool], depth)
        else:
            objects = self._list_root(argv, root, wanted, recursive, depth)
        chosen = [o for o in objects if self._type_of(o) in wanted]
        chosen.sort(key=self._sort_key)
        return [self._row(o, user_properties) for o in chosen]

    def _list_root(
        self,
        argv: Sequence[str],
        root: str,
        wanted: set[ObjectType],
        recursive: bool,
        depth: int | None,
    ) -> builtins.list[_Dataset | _Snapshot | _Bookmark]:
        obj = self._lookup(root)
        if obj is None:
            raise self._not_found(argv, root)
        if not isinstance(obj, _Dataset):
            if not recursive and depth is None and self._type_of(obj) not in wanted:
                delimiter = "@" if isinstance(obj, _Snapshot) else "#"
                what = "snapshot" if delimiter == "@" else "bookmark"
                raise self._fail(
                    argv,
                    f"cannot open '{root}': {what} delimiter '{delimiter}' is not expected here",
                )
            return [obj]
        if not recursive and depth is None:
            # real quirk (zfs_main.c): `zfs list -t snapshot fs` lists the snapshots of
            # fs, as if -d 1 was given; the same for exactly `-t bookmark`
            if wanted in ({ObjectType.SNAPSHOT}, {ObjectType.BOOKMARK}):
                depth = 1
            elif obj.type not in wanted:
                raise self._fail(
                    argv, f"cannot open '{root}': operation not applicable to datasets of this type"
                )
            else:
                return [obj]
        if depth is not None and depth < 0:
            raise ValueError("depth must be >= 0")
        return self._objects(obj, None if depth is None else depth)

    async def get(self, name: str, *, user_properties: Sequence[str] = ()) -> ZfsObject:
        found = await self.list(name, recursive=False, user_properties=user_properties)
        if len(found) != 1:
            raise NotFoundError(["zfs", "list", name], 1, f"cannot open '{name}': not listed")
        return found[0]

    async def exists(self, name: str) -> bool:
        names.check_any(name)
        return self._lookup(name) is not None

    # ------------------------------------------------------------------- create

    async def create(
        self,
        name: str,
        *,
        properties: Mapping[str, str] | None = None,
        parents: bool = False,
        volume_size: int | None = None,
    ) -> None:
        names.check_dataset(name)
        if "/" not in name:
            raise InvalidNameError(name, "a pool's root dataset is made by zpool create")
        props = self._checked_assignments(properties)
        argv = ["zfs", "create", *(["-p"] if parents else []), name]
        if self._dataset(name) is not None:
            if parents:
                return  # real `zfs create -p` of an existing dataset succeeds quietly
            raise self._fail(argv, f"cannot create '{name}': dataset already exists")
        prefix = f"cannot create '{name}'"
        ancestor, missing = self._existing_ancestor(name)
        if missing and not parents:
            raise self._fail(argv, f"{prefix}: parent does not exist")
        if ancestor is None or ancestor.pool not in self._pools:
            raise self._not_found(argv, name)
        if ancestor.type is not ObjectType.FILESYSTEM:
            raise self._fail(argv, f"{prefix}: parent is not a filesystem")
        clean = self._validated(argv, prefix, props, creating=True)
        if volume_size is not None and volume_size <= 0:
            raise self._fail(argv, f"{prefix}: volume size must be a positive number")
        crypt_spec = self._new_crypt(argv, prefix, clean, ancestor)
        if self._pool_full(ancestor.pool):
            raise self._fail(argv, f"{prefix}: out of space")
        txg = self._txg(ancestor.pool)
        for parent_name in missing:
            self._add_dataset(parent_name, ObjectType.FILESYSTEM, txg)
        kind = ObjectType.FILESYSTEM if volume_size is None else ObjectType.VOLUME
        ds = self._add_dataset(name, kind, txg)
        ds.volsize = volume_size
        ds.local = {
            p: v for p, v in clean.items() if p not in ("encryption", "keyformat", "keylocation")
        }
        if crypt_spec is not None:
            cipher, keyformat, keylocation = crypt_spec
            ds.crypt = _Crypt(cipher, keyformat, ds, loaded=True)
            ds.local["keylocation"] = keylocation

    def _existing_ancestor(self, name: str) -> tuple[_Dataset | None, builtins.list[str]]:
        """The nearest existing ancestor of `name` and the missing ones in between."""
        missing: builtins.list[str] = []
        parent = names.parent_of(name)
        while parent is not None and parent not in self._datasets:
            missing.insert(0, parent)
            parent = names.parent_of(parent)
        return (None if parent is None else self._datasets[parent]), missing

    def _add_dataset(self, name: str, kind: ObjectType, txg: int) -> _Dataset:
        ds = _Dataset(name, kind, self._guid(), txg, self._now(), birth=txg)
        parent = self._parent(ds)
        if parent is not None and parent.crypt is not None:
            # a child of an encrypted dataset is encrypted under the same root
            ds.crypt = _Crypt(parent.crypt.cipher, parent.crypt.keyformat, parent.crypt.root)
        self._datasets[name] = ds
        return ds

    def _new_crypt(
        self, argv: Sequence[str], prefix: str, props: Mapping[str, str], parent: _Dataset
    ) -> tuple[str, str, str] | None:
        """(cipher, keyformat, keylocation) for a new encryption root, or None."""
        cipher = props.get("encryption", "off")
        keyformat = props.get("keyformat")
        if cipher == "off":
            if keyformat is not None or "keylocation" in props:
                raise self._fail(
                    argv, f"{prefix}: Encryption must be turned on to set encryption properties"
                )
            return None
        if keyformat is None:
            if parent.crypt is not None:
                return None  # a child of an encrypted parent inherits its root
            raise self._fail(argv, f"{prefix}: Keyformat required for new encryption root.")
        return cipher, keyformat, props.get("keylocation", "prompt")

    # ----------------------------------------------------------------- snapshot

    async def snapshot(
        self,
        snapshots: Sequence[str],
        *,
        recursive: bool = False,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        if not snapshots:
            raise ValueError("snapshot needs at least one name")
        for snap in snapshots:
            names.check_snapshot(snap)
        props = self._checked_assignments(properties)
        argv = ["zfs", "snapshot", *(["-r"] if recursive else []), *snapshots]
        for prop in props:
            if ":" not in prop:
                problem = (
                    self._native_problem(prop, creating=False)
                    or "this property can not be modified for snapshots"
                )
                raise self._fail(argv, f"cannot create snapshots : {problem}")
        targets = self._snapshot_targets(argv, snapshots, recursive)
        pool = targets[0][0].pool
        if self._pool_full(pool):
            raise self._fail(argv, "cannot create snapshots : out of space")
        txg = self._txg(pool)  # one txg for all: `zfs snapshot a@x b@x` is atomic
        for ds, short in targets:
            ds.snapshots[short] = _Snapshot(
                ds,
                short,
                self._guid(),
                txg,
                self._now(),
                ds.content,
                ds.birth,
                local=dict(props),
            )

    def _snapshot_targets(
        self, argv: Sequence[str], snapshots: Sequence[str], recursive: bool
    ) -> builtins.list[tuple[_Dataset, str]]:
        targets: builtins.list[tuple[_Dataset, str]] = []
        for snap in snapshots:
            dataset, short = snap.split("@")
            ds = self._dataset(dataset)
            if ds is None:
                raise self._fail(argv, f"cannot open '{dataset}': dataset does not exist", 2)
            for d in self._subtree(ds) if recursive else [ds]:
                targets.append((d, short))
        seen: set[int] = set()
        for ds, _ in targets:
            if id(ds) in seen or ds.pool != targets[0][0].pool:
                # real prints this for two snapshots of one dataset and, oddly, for two pools
                raise self._fail(
                    argv,
                    "cannot create snapshots : multiple snapshots of "
                    "same fs not allowed\nno snapshots were created",
                )
            seen.add(id(ds))
        for ds, short in targets:
            if ds.half_made:
                raise self._fail(
                    argv, f"cannot create snapshot '{ds.name}@{short}': dataset is busy"
                )
            if short in ds.snapshots:
                raise self._fail(
                    argv,
                    f"cannot create snapshot '{ds.name}@{short}': dataset "
                    "already exists\nno snapshots were created",
                )
        return targets

    # ------------------------------------------------------------------ destroy

    async def destroy(self, name: str, *, mode: DestroyMode = DestroyMode.SINGLE) -> None:
        _, kind = names.check_any(name)
        if kind is names.NameKind.DATASET and "/" not in name:
            raise InvalidNameError(name, "a pool's root dataset is destroyed by zpool destroy")
        flag = {
            DestroyMode.SINGLE: [],
            DestroyMode.RECURSIVE: ["-r"],
            DestroyMode.DEPENDENTS: ["-R"],
        }[mode]
        argv = ["zfs", "destroy", *flag, name]
        if kind is names.NameKind.SNAPSHOT:
            self._destroy_snapshots(argv, name, mode)
        elif kind is names.NameKind.BOOKMARK:
            mark = self._bookmark_of(name)
            if mark is None:
                raise self._fail(argv, f"bookmark '{name}' does not exist.")
            del mark.dataset.bookmarks[mark.short]
        else:
            self._destroy_dataset(argv, name, mode)

    def _destroy_snapshots(self, argv: Sequence[str], name: str, mode: DestroyMode) -> None:
        dataset, short = name.split("@")
        top = self._dataset(dataset)
        where = [] if top is None else ([top] if mode is DestroyMode.SINGLE else self._subtree(top))
        targets = [d.snapshots[short] for d in where if short in d.snapshots]
        if not targets:
            raise self._fail(argv, "could not find any snapshots to destroy; check snapshot names.")
        doomed: builtins.list[_Dataset] = []
        for snap in targets:
            self._check_not_held(argv, snap)
            dependents = self._clones_of(snap)
            if mode is DestroyMode.DEPENDENTS:
                doomed += self._dependents_closure(dependents)
            elif dependents or self._partials_on(snap):
                clones = [d.name for d in dependents] + [
                    f"{d.name}/%recv" for d in self._partials_on(snap)
                ]
                raise self._fail(
                    argv,
                    f"cannot destroy '{snap.name}': snapshot has dependent "
                    "clones\nuse '-R' to destroy the following datasets:\n" + "\n".join(clones),
                )
        for ds in doomed:
            for snap in ds.snapshots.values():
                self._check_not_held(argv, snap)
        self._remove_datasets(doomed)
        self._txg(targets[0].dataset.pool)
        for snap in targets:
            for ds in self._partials_on(snap):
                ds.partial = None  # -R: the hidden %recv clone goes too
            del snap.dataset.snapshots[snap.short]

    def _check_not_held(self, argv: Sequence[str], snap: _Snapshot) -> None:
        if snap.holds:
            raise self._fail(
                argv,
                f"cannot destroy snapshot {snap.name}: it's being held. "
                f"Run 'zfs holds -r {snap.name}' to see holders.",
            )

    def _dependents_closure(self, start: Iterable[_Dataset]) -> builtins.list[_Dataset]:
        """Datasets to destroy with `start`: their descendants and, through every
        snapshot among them, the clones (and theirs), deepest first."""
        found: dict[int, _Dataset] = {}
        queue = builtins.list(start)
        while queue:
            ds = queue.pop()
            for d in self._subtree(ds):
                if id(d) not in found:
                    found[id(d)] = d
                    for snap in d.snapshots.values():
                        queue.extend(self._clones_of(snap))
        return sorted(found.values(), key=lambda d: d.name.count("/"), reverse=True)

    def _remove_datasets(self, doomed: Iterable[_Dataset]) -> None:
        for ds in doomed:
            self._datasets.pop(ds.name, None)

    def _destroy_dataset(self, argv: Sequence[str], name: str, mode: DestroyMode) -> None:
        ds = self._dataset(name)
        if ds is None:
            raise self._not_found(argv, name)
        if mode is DestroyMode.SINGLE:
            kids = [c.name for c in self._children(ds)] + [s.name for s in ds.ordered_snapshots()]
            if ds.partial is not None and not ds.partial.new_fs:
                kids.insert(0, f"{name}/%recv")
            if kids:
                raise self._fail(
                    argv,
                    f"cannot destroy '{name}': filesystem has children\n"
                    "use '-r' to destroy the following datasets:\n" + "\n".join(kids),
                )
            doomed = [ds]
        elif mode is DestroyMode.RECURSIVE:
            doomed = self._subtree(ds)
            inside = {id(d) for d in doomed}
            outside = [
                c.name
                for d in doomed
                for s in d.snapshots.values()
                for c in self._clones_of(s)
                if id(c) not in inside
            ]
            if outside:
                raise self._fail(
                    argv,
                    f"cannot destroy '{name}': filesystem has dependent "
                    "clones\nuse '-R' to destroy the following datasets:\n" + "\n".join(outside),
                )
        else:
            doomed = self._dependents_closure([ds])
        self._txg(ds.pool)
        # Real zfs destroys as it walks the tree, children before parents, and stops at the
        # first held snapshot: what it passed before is gone (seen in the lab). Its walk
        # follows on-disk order; the model's follows names.
        for d in self._walk_order(doomed):
            for snap in d.ordered_snapshots():
                self._check_not_held(argv, snap)
            self._remove_datasets([d])

    @staticmethod
    def _walk_order(doomed: builtins.list[_Dataset]) -> builtins.list[_Dataset]:
        """Children before their parent, sibling trees by name (a post-order walk): a
        name's components, then a marker that sorts after any child's component."""
        return sorted(doomed, key=lambda d: [*d.name.split("/"), "\U0010ffff"])

    # -------------------------------------------------------------------- holds

    async def hold(self, tag: str, snapshots: Sequence[str], *, recursive: bool = False) -> None:
        await self._each_snapshot("hold", tag, snapshots, recursive, self._hold_one)

    async def release(self, tag: str, snapshots: Sequence[str], *, recursive: bool = False) -> None:
        await self._each_snapshot("release", tag, snapshots, recursive, self._release_one)

    async def _each_snapshot(
        self,
        verb: str,
        tag: str,
        snapshots: Sequence[str],
        recursive: bool,
        one: Callable[[Sequence[str], str, str, bool], None],
    ) -> None:
        """Real `zfs hold/release` handles each named snapshot on its own and carries on
        past a failure: the others are held (or released) and it fails at the end."""
        names.check_hold_tag(tag)
        if not snapshots:
            raise ValueError(f"{verb} needs at least one snapshot")
        for snap in snapshots:
            names.check_snapshot(snap)
        argv = ["zfs", verb, *(["-r"] if recursive else []), tag, *snapshots]
        failures: builtins.list[ZfsCommandError] = []
        for snap in snapshots:
            try:
                one(argv, tag, snap, recursive)
            except ZfsCommandError as exc:
                failures.append(exc)
        if failures:
            raise self._fail(argv, "\n".join(f.stderr for f in failures))

    def _same_named(self, name: str, recursive: bool) -> builtins.list[_Snapshot]:
        dataset, short = name.split("@")
        top = self._dataset(dataset)
        if top is None:
            return []
        where = self._subtree(top) if recursive else [top]
        return [d.snapshots[short] for d in where if short in d.snapshots]

    def _hold_one(self, argv: Sequence[str], tag: str, name: str, recursive: bool) -> None:
        targets = self._same_named(name, recursive)
        if not targets:
            raise self._fail(argv, f"cannot hold snapshot '{name}': dataset does not exist")
        for snap in targets:
            if tag in snap.holds:
                raise self._fail(
                    argv, f"cannot hold snapshot '{snap.name}': tag already exists on this dataset"
                )
        now = self._now()
        for snap in targets:
            snap.holds[tag] = now

    def _release_one(self, argv: Sequence[str], tag: str, name: str, recursive: bool) -> None:
        targets = self._same_named(name, recursive)
        if not targets:
            raise self._fail(
                argv, f"cannot release hold from snapshot '{name}': dataset does not exist"
            )
        # -r releases where the tag is and passes over the rest (real)
        tagged = [s for s in targets if tag in s.holds]
        if not tagged or (not recursive and len(tagged) != len(targets)):
            raise self._fail(
                argv, f"cannot release hold from snapshot '{name}': no such tag on this dataset"
            )
        for snap in tagged:
            del snap.holds[tag]

    async def holds(self, snapshot: str, *, recursive: bool = False) -> builtins.list[Hold]:
        names.check_snapshot(snapshot)
        targets = self._same_named(snapshot, recursive)
        if not targets and not recursive:
            raise self._not_found(["zfs", "holds", snapshot], snapshot)
        return [
            Hold(snapshot=snap.name, tag=tag, timestamp=stamp)
            for snap in sorted(targets, key=lambda s: s.name)
            for tag, stamp in sorted(snap.holds.items())
        ]

    # ----------------------------------------------------------------- bookmark

    async def bookmark(self, source: str, bookmark: str) -> None:
        names.check_snapshot_or_bookmark(source)
        names.check_bookmark(bookmark)
        argv = ["zfs", "bookmark", source, bookmark]
        origin = self._snapshot(source) if "@" in source else self._bookmark_of(source)
        if origin is None:
            raise self._not_found(argv, source)
        prefix = f"cannot create bookmark '{bookmark}'"
        if names.dataset_of(bookmark) != origin.dataset.name:
            raise self._fail(
                argv, f"{prefix}: source is not an ancestor of the new bookmark's dataset"
            )
        short = names.short_name(bookmark)
        if short in origin.dataset.bookmarks:
            raise self._fail(argv, f"{prefix}: bookmark exists")
        if self._pool_full(origin.dataset.pool):
            raise self._fail(argv, f"{prefix}: out of space")
        origin.dataset.bookmarks[short] = _Bookmark(
            origin.dataset,
            short,
            origin.guid,
            origin.createtxg,
            origin.creation,
            origin.content,
        )
        self._txg(origin.dataset.pool)

    # ------------------------------------------------------------------- rename

    async def rename(self, old: str, new: str, *, recursive: bool = False) -> None:
        _, old_kind = names.check_any(old)
        _, new_kind = names.check_any(new)
        if old_kind is not new_kind:
            raise InvalidNameError(new, f"cannot rename a {old_kind} to a {new_kind} name")
        if recursive and old_kind is not names.NameKind.SNAPSHOT:
            raise InvalidNameError(old, "a recursive rename is for snapshots only")
        argv = ["zfs", "rename", *(["-r"] if recursive else []), old, new]
        if old_kind is names.NameKind.SNAPSHOT:
            self._rename_snapshot(argv, old, new, recursive)
        elif old_kind is names.NameKind.DATASET:
            self._rename_dataset(argv, old, new)
        else:
            raise self._fail(
                argv, f"cannot open '{old}': bookmark delimiter '#' is not expected here"
            )

    def _rename_snapshot(self, argv: Sequence[str], old: str, new: str, recursive: bool) -> None:
        dataset, short = old.split("@")
        new_dataset, new_short = new.split("@")
        if new_dataset != dataset:
            raise self._fail(
                argv, f"cannot rename to '{new}': snapshots must be part of same dataset"
            )
        if self._snapshot(old) is None:
            raise self._not_found(argv, old)
        if old == new:
            return
        targets = self._same_named(old, recursive)
        for snap in targets:
            if new_short in snap.dataset.snapshots:
                raise self._fail(argv, f"cannot rename '{snap.name}': dataset already exists")
        for snap in targets:
            del snap.dataset.snapshots[short]
            snap.short = new_short
            snap.dataset.snapshots[new_short] = snap
        self._txg(targets[0].dataset.pool)

    def _rename_dataset(self, argv: Sequence[str], old: str, new: str) -> None:
        ds = self._dataset(old)
        if ds is None:
            raise self._not_found(argv, old)
        if "/" not in old:
            raise self._fail(argv, f"cannot rename '{old}': operation does not apply to pools")
        if names.pool_of(new) != ds.pool:
            raise self._fail(argv, f"cannot rename to '{new}': datasets must be within same pool")
        if new == old:
            return
        if new.startswith(old + "/"):
            raise self._fail(
                argv,
                f"cannot rename to '{new}': New dataset name cannot be a "
                "descendant of current dataset name",
            )
        if self._dataset(new) is not None:
            raise self._fail(argv, f"cannot rename '{old}': dataset already exists")
        parent = self._dataset(names.parent_of(new) or "")
        if parent is None:
            raise self._fail(argv, f"cannot create '{new}': parent does not exist")
        if parent.type is not ObjectType.FILESYSTEM:
            raise self._fail(argv, f"cannot rename to '{new}': parent is not a filesystem")
        for d in self._subtree(ds):
            del self._datasets[d.name]
            d.name = new + d.name[len(old) :]
            self._datasets[d.name] = d
        self._txg(ds.pool)

    # ------------------------------------------------------------ clone, promote

    async def clone(
        self, snapshot: str, target: str, *, properties: Mapping[str, str] | None = None
    ) -> None:
        names.check_snapshot(snapshot)
        names.check_dataset(target)
        props = self._checked_assignments(properties)
        argv = ["zfs", "clone", snapshot, target]
        snap = self._snapshot(snapshot)
        if snap is None:
            raise self._not_found(argv, snapshot)
        prefix = f"cannot create '{target}'"
        if names.pool_of(target) != snap.dataset.pool:
            raise self._fail(argv, f"{prefix}: source and target pools differ")
        if self._dataset(target) is not None:
            raise self._fail(argv, f"{prefix}: dataset already exists")
        parent = self._dataset(names.parent_of(target) or "")
        if parent is None:
            raise self._fail(argv, f"{prefix}: parent does not exist")
        if parent.type is not ObjectType.FILESYSTEM:
            raise self._fail(argv, f"{prefix}: parent is not a filesystem")
        clean = self._validated(argv, prefix, props, creating=False)
        if self._pool_full(snap.dataset.pool):
            raise self._fail(argv, f"{prefix}: out of space")
        ds = self._add_dataset(target, snap.dataset.type, self._txg(snap.dataset.pool))
        ds.origin = snap
        ds.content = snap.content
        ds.birth = snap.head_birth
        ds.volsize = snap.dataset.volsize
        ds.crypt = snap.dataset.crypt
        ds.local = clean

    async def promote(self, clone: str) -> None:
        names.check_dataset(clone)
        argv = ["zfs", "promote", clone]
        ds = self._dataset(clone)
        if ds is None:
            raise self._not_found(argv, clone)
        origin = ds.origin
        if origin is None:
            raise self._fail(argv, f"cannot promote '{clone}': not a cloned filesystem")
        parent = origin.dataset
        # the origin and every snapshot before it move to the clone, with the bookmarks
        # of that stretch (real, checked in the lab)
        moving = [s for s in parent.ordered_snapshots() if s.createtxg <= origin.createtxg]
        marks = [b for b in parent.bookmarks.values() if b.createtxg <= origin.createtxg]
        for snap in moving:
            if snap.short in ds.snapshots:
                raise self._fail(
                    argv,
                    f"cannot promote '{clone}': conflicting snapshot "
                    f"'{snap.short}' from parent '{snap.name}'",
                )
        for snap in moving:
            del parent.snapshots[snap.short]
            snap.dataset = ds
        ds.snapshots = {
            s.short: s for s in sorted([*moving, *ds.snapshots.values()], key=lambda s: s.createtxg)
        }
        for mark in marks:
            if mark.short not in ds.bookmarks:
                del parent.bookmarks[mark.short]
                mark.dataset = ds
                ds.bookmarks[mark.short] = mark
        ds.origin, parent.origin = parent.origin, origin
        self._txg(ds.pool)

    # ----------------------------------------------------------------- rollback

    async def rollback(self, snapshot: str, *, destroy_newer: bool = False) -> None:
        names.check_snapshot(snapshot)
        argv = ["zfs", "rollback", *(["-r"] if destroy_newer else []), snapshot]
        snap = self._snapshot(snapshot)
        if snap is None:
            raise self._not_found(argv, snapshot)
        ds = snap.dataset
        # bookmarks count as "more recent" too (real message and behaviour)
        newer_snaps = [s for s in ds.ordered_snapshots() if s.createtxg > snap.createtxg]
        newer_marks = [b for b in ds.bookmarks.values() if b.createtxg > snap.createtxg]
        if (newer_snaps or newer_marks) and not destroy_newer:
            listed = "\n".join([s.name for s in newer_snaps] + [b.name for b in newer_marks])
            raise self._fail(
                argv,
                f"cannot rollback to '{snapshot}': more recent snapshots "
                "or bookmarks exist\nuse '-r' to force deletion of the following "
                f"snapshots and bookmarks:\n{listed}",
            )
        clones = [c.name for s in newer_snaps for c in self._clones_of(s)]
        if clones:
            raise self._fail(
                argv,
                f"cannot rollback to '{snapshot}': clones of previous "
                "snapshots exist\nuse '-R' to force deletion of the following "
                "clones and dependents:\n" + "\n".join(clones),
            )
        # real -r destroys each newer snapshot it can, then fails (without rolling back)
        # if a held one stayed
        held = [s for s in newer_snaps if s.holds]
        for s in newer_snaps:
            if not s.holds:
                del ds.snapshots[s.short]
        for mark in newer_marks:
            del ds.bookmarks[mark.short]
        if held:
            raise self._fail(argv, f"cannot destroy '{held[0].name}': dataset is busy")
        ds.content = snap.content
        ds.birth = snap.head_birth
        self._txg(ds.pool)

    # --------------------------------------------------------------- properties

    async def get_properties(
        self, name: str, properties: Sequence[str]
    ) -> dict[str, PropertyValue]:
        names.check_any(name)
        if not properties:
            return {}
        for prop in properties:
            names.check_property_name(prop)
        argv = ["zfs", "get", "-Hp", ",".join(properties), name]
        for prop in properties:
            if ":" not in prop and prop not in _NATIVE and prop not in _READ_ONLY:
                raise self._fail(argv, f"bad property list: invalid property '{prop}'", 2)
        obj = self._lookup(name)
        if obj is None:
            raise self._not_found(argv, name)
        return {
            prop: self._user_value(obj, prop) if ":" in prop else self._native_value(obj, prop)
            for prop in properties
        }

    async def local_properties(
        self, name: str, *, source: PropertySource = PropertySource.LOCAL
    ) -> dict[str, str]:
        names.check_any(name)
        if source not in EXPLICIT_SOURCES:
            raise ValueError(f"local_properties reads local or received values, not {source}")
        argv = ["zfs", "get", "-H", "-p", "-s", source.value, "all", name]
        obj = self._lookup(name)
        if obj is None:
            raise self._not_found(argv, name)
        if isinstance(obj, _Bookmark):
            return {}  # nothing can be set on a bookmark
        if source is PropertySource.RECEIVED:
            return {p: v for p, v in obj.received.items() if p not in obj.local}
        found = dict(obj.local)
        if isinstance(obj, _Dataset) and obj.volsize is not None:
            # the model keeps volsize apart, real lists it as set locally. (Real also lists
            # the refreservation `zfs create -V` sets, which the model does not know.)
            found["volsize"] = str(obj.volsize)
        return found

    async def set_properties(self, name: str, properties: Mapping[str, str]) -> None:
        names.check_any(name)
        props = self._checked_assignments(properties)
        if not props:
            return
        argv = ["zfs", "set", *(f"{p}={v}" for p, v in props.items()), name]
        obj = self._lookup(name)
        if obj is None:
            raise self._not_found(argv, name)
        prefix = f"cannot set property for '{name}'"
        if isinstance(obj, _Bookmark):
            raise self._fail(argv, f"{prefix}: operation not applicable to datasets of this type")
        if isinstance(obj, _Snapshot):
            for prop in props:
                if ":" not in prop:
                    problem = (
                        self._native_problem(prop, creating=False)
                        or "this property can not be modified for snapshots"
                    )
                    raise self._fail(argv, f"{prefix}: {problem}", 255)
            obj.local.update(props)
            return
        clean = self._set_checked(argv, prefix, obj, props)
        obj.local.update(clean)
        self._txg(obj.pool)

    def _set_checked(
        self, argv: Sequence[str], prefix: str, ds: _Dataset, props: Mapping[str, str]
    ) -> dict[str, str]:
        """All of `zfs set`'s checks, before any property changes (it is all or none)."""
        try:
            clean = self._validated(argv, prefix, props, creating=False)
        except ZfsCommandError as exc:
            raise self._fail(argv, exc.stderr, 255) from None
        for prop, value in clean.items():
            if prop == "quota" and value != "0" and int(value) < self._used(ds):
                raise self._fail(
                    argv, f"{prefix}: size is less than current used or reserved space", 255
                )
            if prop == "volsize" and ds.type is not ObjectType.VOLUME:
                raise self._fail(
                    argv, f"{prefix}: 'volsize' does not apply to datasets of this type", 255
                )
            if prop == "keylocation" and (ds.crypt is None or ds.crypt.root is not ds):
                raise self._fail(
                    argv, f"{prefix}: 'keylocation' can only be set on encryption roots", 255
                )
        if "volsize" in clean:
            ds.volsize = int(clean.pop("volsize"))
        return clean

    async def inherit(self, name: str, prop: str, *, recursive: bool = False) -> None:
        names.check_any(name)
        names.check_property_name(prop)
        argv = ["zfs", "inherit", *(["-r"] if recursive else []), prop, name]
        if ":" not in prop:
            if prop in _READ_ONLY or prop in ("encryption", "keyformat"):
                raise self._fail(argv, f"{prop} property is read-only")
            if prop not in _NATIVE:
                raise self._fail(argv, f"invalid property '{prop}'", 2)
            if not _NATIVE[prop].inheritable:
                raise self._fail(argv, f"'{prop}' property cannot be inherited")
        obj = self._lookup(name)
        if obj is None:
            raise self._not_found(argv, name)
        if isinstance(obj, _Bookmark):
            raise self._fail(
                argv,
                f"cannot inherit {prop} for '{name}': operation not "
                "applicable to datasets of this type",
            )
        targets: builtins.list[_Dataset | _Snapshot] = [obj]
        if recursive and isinstance(obj, _Dataset):
            targets = []
            for d in self._subtree(obj):
                targets += [d, *d.snapshots.values()]
        for target in targets:
            target.local.pop(prop, None)
            target.received.pop(prop, None)

    # ----------------------------------------------------------------- send side

    def _plan(self, spec: SendSpec) -> _Plan:
        """What `zfs send` would send; raises what real send says when it cannot."""
        if spec.resume_token is not None:
            return self._plan_resume(spec.resume_token)
        if spec.snapshot is None:  # SendSpec's validator makes this unreachable
            raise ValueError("a send needs a snapshot or a resume token")
        argv = ["zfs", "send", spec.snapshot]
        snap = self._snapshot(spec.snapshot)
        if snap is None:
            raise self._not_found(argv, spec.snapshot)
        base: _Snapshot | _Bookmark | None = None
        if spec.base is not None:
            base = self._snapshot(spec.base) if "@" in spec.base else self._bookmark_of(spec.base)
            if base is None:
                raise self._not_found(argv, spec.base)
            if base.createtxg >= snap.createtxg:
                # real: -I and -i find this in different places and say it differently
                if spec.intermediates:
                    raise self._fail(
                        argv,
                        f"WARNING: could not send {spec.snapshot}:\n"
                        f"incremental source ({spec.base}) does not exist",
                    )
                raise self._fail(
                    argv,
                    f"warning: cannot send '{spec.snapshot}': not an "
                    "earlier snapshot from the same fs",
                )
        top = snap.dataset
        sent = (
            [d for d in self._subtree(top) if snap.short in d.snapshots]
            if spec.replicate
            else [top]
        )
        plan = _Plan(streams=[], replicate=spec.replicate)
        for ds in sent:
            self._check_sendable(argv, spec, ds)
            relative = ds.name[len(top.name) :]
            to = ds.snapshots[snap.short]
            plan.source_snapshots[relative] = {
                s.guid for s in ds.snapshots.values() if s.createtxg <= to.createtxg
            }
            plan.streams += self._dataset_streams(spec, top, ds, to, base)
        return plan

    def _check_sendable(self, argv: Sequence[str], spec: SendSpec, ds: _Dataset) -> None:
        crypt = ds.crypt
        if crypt is None or spec.raw:
            return
        if spec.properties or spec.replicate:
            raise self._fail(
                argv,
                f"cannot send {spec.snapshot}: encrypted dataset {ds.name} "
                "may not be sent with properties without the raw flag",
            )
        if not crypt.key_loaded:
            raise self._fail(
                argv, f"cannot send {spec.snapshot}: encryption key for {ds.name} is not loaded"
            )

    def _dataset_streams(
        self,
        spec: SendSpec,
        top: _Dataset,
        ds: _Dataset,
        to: _Snapshot,
        base: _Snapshot | _Bookmark | None,
    ) -> builtins.list[_Stream]:
        """The streams for one dataset: a full one or incrementals, as -i/-I/-R say."""
        ordered = [s for s in ds.ordered_snapshots() if s.createtxg <= to.createtxg]
        own_base: _Snapshot | _Bookmark | None = base
        if spec.replicate and base is not None:
            # -R: each dataset's own snapshot of the base's name; none: a new dataset
            own_base = ds.snapshots.get(base.short) if isinstance(base, _Snapshot) else None
        if own_base is None:
            chain: builtins.list[_Snapshot | _Bookmark | None] = [None]
            steps = ordered if spec.replicate and (spec.intermediates or base is None) else [to]
        else:
            chain = [own_base]
            steps = (
                [s for s in ordered if s.createtxg > own_base.createtxg]
                if spec.intermediates
                else [to]
            )
        streams = []
        previous = chain[0]
        for step in steps:
            streams.append(self._stream(spec, top, ds, step, previous))
            previous = step
        if streams and (spec.properties or spec.replicate):
            first = streams[0]
            streams[0] = dataclasses.replace(first, props=self._sent_props(ds, spec))
        return streams

    def _stream(
        self,
        spec: SendSpec,
        top: _Dataset,
        ds: _Dataset,
        to: _Snapshot,
        base: _Snapshot | _Bookmark | None,
    ) -> _Stream:
        carry = spec.properties or spec.replicate
        raw = spec.raw and ds.crypt is not None
        if base is None:
            nbytes = FULL_STREAM_BYTES + _bytes(to.content)
        else:
            nbytes = INCREMENTAL_STREAM_BYTES + _added(to.content, base.content)
        root = ds.crypt.root.name if raw and ds.crypt is not None else None
        return _Stream(
            relative=ds.name[len(top.name) :],
            source_name=to.name,
            type=ds.type,
            to_short=to.short,
            to_guid=to.guid,
            creation=to.creation,
            content=to.content,
            from_guid=0 if base is None else base.guid,
            nbytes=nbytes,
            snap_props={**to.received, **to.local} if carry else {},
            volsize=ds.volsize,
            raw_cipher=(ds.crypt.cipher, ds.crypt.keyformat) if raw and ds.crypt else None,
            raw_root=root[len(top.name) :]
            if root is not None and names.is_descendant(root, top.name)
            else None,
            raw=spec.raw,
        )

    def _sent_props(self, ds: _Dataset, spec: SendSpec) -> dict[str, str]:
        """-p sends what is set locally or was received (not inherited, not default)."""
        props = {
            p: v for p, v in {**ds.received, **ds.local}.items() if ":" in p or p in _SENT_NATIVE
        }
        if spec.raw and ds.crypt is not None and ds.crypt.root is ds:
            props["keylocation"] = ds.local.get("keylocation", "prompt")
        return props

    def _plan_resume(self, token: str) -> _Plan:
        argv = ["zfs", "send", "-t", token]
        fields = _decode_token(token)
        if fields is None:
            raise self._fail(
                argv, "cannot resume send: resume token is corrupt (invalid format)", 255
            )
        toname, toguid = str(fields.get("toname")), fields.get("toguid")
        fromguid, offset = fields.get("fromguid", 0), fields.get("bytes", 0)
        snap = self._snapshot(toname) if "@" in toname else None
        if snap is None or snap.guid != toguid:
            raise self._fail(
                argv, f"cannot resume send: '{toname}' used in the initial send no longer exists"
            )
        base: _Snapshot | _Bookmark | None = None
        if fromguid:
            candidates: builtins.list[_Snapshot | _Bookmark] = [
                *snap.dataset.snapshots.values(),
                *snap.dataset.bookmarks.values(),
            ]
            base = next((o for o in candidates if o.guid == fromguid), None)
            if base is None:
                raise self._fail(
                    argv, f"cannot resume send: incremental source {fromguid:#x} no longer exists"
                )
        spec = SendSpec(snapshot=toname, raw=bool(fields.get("raw")))
        stream = self._stream(spec, snap.dataset, snap.dataset, snap, base)
        stream = dataclasses.replace(stream, offset=int(str(offset)))
        return _Plan(streams=[stream])

    async def send_estimate(self, spec: SendSpec) -> int:
        return self._plan(spec).nbytes

    # --------------------------------------------------------------- receive side

    async def send_recv(
        self,
        spec: SendSpec,
        target: MemoryBackend,
        recv: RecvSpec,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransferResult:
        """Send from this model into `target` (this one or another MemoryBackend).

        Like CliBackend, which estimates before it starts the pipe, an error of the send
        side comes bare before anything moved; an error of the receive side carries
        `transfer` details. Every chunk yields to the loop, so a cancellation lands
        mid-stream: with `recv.resumable` the target keeps the part it got and a token.
        """
        if not isinstance(target, MemoryBackend):
            raise TypeError("a MemoryBackend sends only into a MemoryBackend")
        started = time.monotonic()
        plan = self._plan(spec)
        total = plan.nbytes
        receiver = _Receiver(target, recv, plan)
        done = 0
        try:
            receiver.check_properties()
            if plan.replicate and recv.force:
                receiver.prune()
            for stream in plan.streams:
                receiver.begin(stream)
                # space that runs out mid-stream ends it there, as a cut does (real: with
                # -s the part received is kept, seen for a quota in the lab)
                room = min(stream.remaining, receiver.room(stream))
                moved = 0
                while moved < room:
                    try:
                        await asyncio.sleep(0)
                    except asyncio.CancelledError:
                        receiver.cut(stream, moved)
                        raise
                    step = min(CHUNK_BYTES, room - moved)
                    moved += step
                    done += step
                    if progress is not None:
                        progress(TransferProgress(bytes_done=done, bytes_total=total))
                if moved < stream.remaining:
                    error = receiver.out_of_space(stream)
                    receiver.cut(stream, moved)
                    raise error
                receiver.commit(stream)
        except ZfsCommandError as exc:
            exc.transfer = TransferDetails(send_error=None, recv_error=exc, bytes_done=done)
            raise
        return TransferResult(
            bytes_done=done, bytes_estimated=total, seconds=time.monotonic() - started
        )

    async def recv_abort(self, dataset: str) -> None:
        names.check_dataset(dataset)
        argv = ["zfs", "receive", "-A", dataset]
        ds = self._dataset(dataset)
        if ds is None:
            raise self._not_found(argv, dataset)
        if ds.partial is None:
            raise self._fail(
                argv, f"'{dataset}' does not have any resumable receive state to abort"
            )
        if ds.partial.new_fs:
            self._remove_datasets([ds])  # real: the half-made dataset goes entirely
        else:
            ds.partial = None
        self._txg(ds.pool)


class _Receiver:
    """The receive side of one transfer into a MemoryBackend: per stream, checks before
    the first byte (`begin`), applies it (`commit`), or keeps a cut one (`cut`)."""

    def __init__(self, model: MemoryBackend, recv: RecvSpec, plan: _Plan) -> None:
        self.m = model
        self.recv = recv
        self.plan = plan
        flags = [f for f, on in (("-F", recv.force), ("-s", recv.resumable)) if on]
        self.argv = ["zfs", "receive", *flags, recv.target]

    def fail(self, message: str) -> ZfsCommandError:
        return self.m._fail(self.argv, message)

    def target_of(self, stream: _Stream) -> str:
        return self.recv.target + stream.relative

    def check_properties(self) -> None:
        """-o/-x name real properties (RecvSpec checked the syntax already)."""
        for prop in [*self.recv.properties, *self.recv.exclude_properties]:
            if ":" not in prop and (prop not in _NATIVE or not _NATIVE[prop].editable):
                raise self.fail(f"cannot receive: cannot receive: invalid property '{prop}'")
        for prop, value in self.recv.properties.items():
            if ":" not in prop:
                _, problem = self.m._check_native_value(prop, value)
                if problem is not None:
                    raise self.fail(f"cannot receive: {problem}")

    def prune(self) -> None:
        """-R -F: before receiving, destroy what the target has that the source no longer
        has: snapshots and whole datasets (real, checked in the lab)."""
        top = self.m._dataset(self.recv.target)
        if top is None:
            return
        for ds in reversed(self.m._subtree(top)):
            relative = ds.name[len(top.name) :]
            keep = self.plan.source_snapshots.get(relative)
            if keep is None:
                if not any(s.holds for s in ds.snapshots.values()):
                    self.m._remove_datasets(self.m._dependents_closure([ds]))
                continue
            for snap in ds.ordered_snapshots():
                if snap.guid not in keep and not snap.holds and not self.m._clones_of(snap):
                    del ds.snapshots[snap.short]

    # ------------------------------------------------------------------- checks

    def begin(self, stream: _Stream) -> None:
        """Check that the stream can apply at all; raise as real receive does."""
        name = self.target_of(stream)
        ds = self.m._dataset(name)
        if stream.offset:
            self._begin_resume(stream, name, ds)
        elif stream.from_guid == 0:
            self._begin_full(stream, name, ds)
        else:
            self._begin_incremental(stream, name, ds)
        if self.room(stream) == 0:
            raise self.out_of_space(stream)

    def room(self, stream: _Stream) -> int:
        """How many of the stream's bytes the target has space for (pool, quotas)."""
        name = self.target_of(stream)
        free = self.m.pool_free(names.pool_of(name))
        holder = self.m._dataset(name) or self.m._dataset(names.parent_of(name) or "")
        quota = self.m._quota_room(holder)
        return min(free, free if quota is None else quota)

    def out_of_space(self, stream: _Stream) -> ZfsCommandError:
        name = self.target_of(stream)
        what = "new filesystem" if stream.from_guid == 0 else "incremental"
        free = self.m.pool_free(names.pool_of(name))
        if self.room(stream) < free:
            return self.fail(
                f"cannot receive {what} stream: destination {name} space quota exceeded."
            )
        return self.fail(f"cannot receive {what} stream: out of space")

    def _begin_resume(self, stream: _Stream, name: str, ds: _Dataset | None) -> None:
        partial = None if ds is None else ds.partial
        if (
            partial is None
            or partial.to_guid != stream.to_guid
            or partial.bytes_done != stream.offset
        ):
            raise self.fail(
                f"cannot receive resume stream: destination '{name}' has no "
                "matching partially-complete state"
            )

    def _begin_full(self, stream: _Stream, name: str, ds: _Dataset | None) -> None:
        prefix = "cannot receive new filesystem stream"
        if ds is not None:
            if not self.recv.force:
                raise self.fail(
                    f"{prefix}: destination '{name}' exists\nmust specify -F to overwrite it"
                )
            if ds.partial is not None:
                raise self.fail(
                    f"{prefix}: destination {name} contains partially-complete "
                    'state from "zfs receive -s".'
                )
            latest = ds.latest()
            if latest is not None:
                raise self.fail(
                    f"{prefix}: destination has snapshots (eg. {latest.name})\n"
                    "must destroy them to overwrite it"
                )
            return
        parent = self.m._dataset(names.parent_of(name) or "")
        if parent is None:
            missing = names.parent_of(name) or name
            raise self.fail(
                f"cannot open '{missing}': dataset does not exist\n{prefix}: "
                "unable to restore to destination"
            )
        if stream.raw_cipher is None and parent.crypt is not None and not parent.crypt.key_loaded:
            raise self.fail(f"{prefix}: inherited key must be loaded")

    def _begin_incremental(self, stream: _Stream, name: str, ds: _Dataset | None) -> None:
        prefix = "cannot receive incremental stream"
        if ds is None:
            raise self.fail(f"{prefix}: destination '{name}' does not exist")
        if ds.partial is not None:
            raise self.fail(
                f"{prefix}: destination {name} contains partially-complete state "
                'from "zfs receive -s".'
            )
        existing = ds.snapshots.get(stream.to_short)
        if existing is not None:
            if existing.guid == stream.to_guid:
                return  # real: a snapshot it already has is skipped, quietly
            raise self.fail(f"cannot restore to {existing.name}: destination already exists")
        base = self._base(ds, stream)
        if base is None:
            raise self.fail(
                f"{prefix}: most recent snapshot of {name} does not\nmatch incremental source"
            )
        if not self.recv.force and ds.birth > base.createtxg:
            # real asks whether the head changed since the *base*, not since the latest:
            # newer untouched snapshots on the target do not stop an incremental
            raise self.fail(
                f"{prefix}: destination {name} has been modified\nsince most recent snapshot"
            )
        if stream.raw_cipher is None and ds.crypt is not None and not ds.crypt.key_loaded:
            raise self.fail(f"{prefix}: inherited key must be loaded")
        if self.recv.force:
            for snap in ds.ordered_snapshots():
                if snap.createtxg > base.createtxg and (snap.holds or self.m._clones_of(snap)):
                    raise self.fail(f"{prefix}: dataset is busy")

    @staticmethod
    def _base(ds: _Dataset, stream: _Stream) -> _Snapshot | None:
        return next((s for s in ds.snapshots.values() if s.guid == stream.from_guid), None)

    # ------------------------------------------------------------------- apply

    def commit(self, stream: _Stream) -> None:
        name = self.target_of(stream)
        pool = names.pool_of(name)
        ds = self.m._dataset(name)
        if (
            ds is not None
            and ds.snapshots.get(stream.to_short) is not None
            and ds.snapshots[stream.to_short].guid == stream.to_guid
        ):
            return  # skipped: the target had it
        txg = self.m._txg(pool)
        if ds is None or (stream.from_guid == 0 and not ds.half_made):
            ds = self._fresh_dataset(stream, name, ds, txg)
        elif stream.from_guid and not stream.offset:
            self._roll_back_to_base(ds, stream)
        ds.partial = None
        ds.content = stream.content
        ds.birth = txg
        ds.snapshots[stream.to_short] = _Snapshot(
            ds,
            stream.to_short,
            stream.to_guid,
            txg,
            stream.creation,
            stream.content,
            txg,
            received=dict(stream.snap_props),
        )
        if stream.props is not None:
            excluded = set(self.recv.exclude_properties)
            ds.received = {
                p: v for p, v in stream.props.items() if p not in excluded and p != "keylocation"
            }
            if "keylocation" in stream.props and ds.crypt is not None and ds.crypt.root is ds:
                ds.local["keylocation"] = stream.props["keylocation"]
        if stream.relative == "" and not stream.offset:
            ds.local.update(self.recv.properties)

    def _fresh_dataset(
        self, stream: _Stream, name: str, old: _Dataset | None, txg: int
    ) -> _Dataset:
        """The dataset a full stream makes (or, with -F, replaces an empty one with)."""
        if old is not None:
            old.content = ()
            return old
        ds = self.m._add_dataset(name, stream.type, txg)
        ds.volsize = stream.volsize
        if stream.raw_cipher is not None:
            # raw: still encrypted, key not loaded; its encryption root is the received
            # copy of the source's root when that came in the same stream, else itself
            cipher, keyformat = stream.raw_cipher
            root = None
            if stream.raw_root is not None and stream.raw_root != stream.relative:
                root = self.m._dataset(self.recv.target + stream.raw_root)
            ds.crypt = _Crypt(cipher, keyformat, root or ds, loaded=False)
            if root is None:
                # a raw stream without -p cannot say where the key is: real sets 'prompt'
                ds.local["keylocation"] = "prompt"
        return ds

    def _roll_back_to_base(self, ds: _Dataset, stream: _Stream) -> None:
        """-F: forget what the target did after the base (newer snapshots, writes)."""
        base = self._base(ds, stream)
        if base is None or not self.recv.force:
            return
        for snap in ds.ordered_snapshots():
            if snap.createtxg > base.createtxg:
                del ds.snapshots[snap.short]

    def cut(self, stream: _Stream, moved: int) -> None:
        """The stream stopped after `moved` bytes: keep it when the receive is resumable
        and got anything at all (real: nothing to keep before the begin record)."""
        if not self.recv.resumable or moved == 0:
            return
        name = self.target_of(stream)
        ds = self.m._dataset(name)
        done = stream.offset + moved
        token = _encode_token(
            {
                "toname": stream.source_name,
                "toguid": stream.to_guid,
                "fromguid": stream.from_guid,
                "bytes": done,
                "raw": stream.raw,
            }
        )
        if ds is None:
            ds = self.m._add_dataset(name, stream.type, self.m._txg(names.pool_of(name)))
            if stream.raw_cipher is not None:
                ds.crypt = _Crypt(*stream.raw_cipher, root=ds, loaded=False)
            ds.partial = _Partial(token, True, stream.to_guid, 0, done)
            return
        new_fs = ds.half_made or stream.from_guid == 0
        ds.partial = _Partial(token, new_fs, stream.to_guid, stream.from_guid, done)
