"""The objects the model is made of: pools, datasets, snapshots, bookmarks, their data.

Plain records with no behaviour beyond naming themselves; `tree.Tree` holds them and
answers questions about them. Data is a sequence of `Write`s whose identity matters: a
snapshot, a clone and a received copy share the very `Write` objects of their source,
which is how a stream knows what the other side already has and how space is counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from zfsyncd.zfs.models import ObjectType

#: what an empty filesystem references on an ashift=12 pool (real: 98304)
EMPTY_DATASET_BYTES = 98_304


@dataclass(eq=False)
class Write:
    """One simulated write. Identity matters: snapshots, clones and received copies share
    the very objects, which is how a stream knows what the other side already has."""

    nbytes: int


Content = tuple[Write, ...]


def content_bytes(content: Iterable[Write]) -> int:
    return sum(w.nbytes for w in content)


def added(content: Content, base: Content) -> int:
    """Bytes in `content` that `base` does not have: an incremental stream's payload."""
    have = {id(w) for w in base}
    return sum(w.nbytes for w in content if id(w) not in have)


@dataclass(eq=False)
class Crypt:
    """Encryption of a dataset; `root` is its encryption root (itself or an ancestor),
    whose own `Crypt` says whether the key is loaded."""

    cipher: str
    keyformat: str
    root: Dataset
    loaded: bool = True

    @property
    def key_loaded(self) -> bool:
        root = self.root.crypt
        return root.loaded if root is not None else self.loaded


@dataclass(eq=False)
class Snapshot:
    dataset: Dataset
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
class Bookmark:
    dataset: Dataset
    short: str
    guid: int
    createtxg: int
    creation: int
    content: Content

    @property
    def name(self) -> str:
        return f"{self.dataset.name}#{self.short}"


@dataclass(eq=False)
class Partial:
    """A resumable receive cut short (real: the token, plus a hidden `%recv` clone for an
    incremental, or the half-made dataset itself for a full stream)."""

    token: str
    new_fs: bool
    to_guid: int
    from_guid: int  # 0 for a full stream
    bytes_done: int


@dataclass(eq=False)
class Dataset:
    name: str
    type: ObjectType
    guid: int
    createtxg: int
    creation: int
    content: Content = ()
    birth: int = 0  # txg of the head's last change
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    bookmarks: dict[str, Bookmark] = field(default_factory=dict)
    local: dict[str, str] = field(default_factory=dict)  # user and native properties
    received: dict[str, str] = field(default_factory=dict)
    origin: Snapshot | None = None
    partial: Partial | None = None
    volsize: int | None = None
    crypt: Crypt | None = None

    @property
    def pool(self) -> str:
        return self.name.split("/", 1)[0]

    def ordered_snapshots(self) -> list[Snapshot]:
        return sorted(self.snapshots.values(), key=lambda s: s.createtxg)

    def latest(self) -> Snapshot | None:
        ordered = self.ordered_snapshots()
        return ordered[-1] if ordered else None

    @property
    def half_made(self) -> bool:
        """Only the partial state of a full receive: no snapshot, not usable yet."""
        return self.partial is not None and self.partial.new_fs


#: anything `zfs list` can name
Object = Dataset | Snapshot | Bookmark


@dataclass
class Pool:
    name: str
    size: int
    txg: int = 1
