"""What the zfs/ layer reports and accepts, as pydantic models.

Models that come out of `zfs list` are frozen: an inventory is a reading of the pool at
one moment, not something to edit. Requests (`SendSpec`, `RecvSpec`) validate their names
on construction, so a bad name fails where the request is made, before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from zfsyncd.zfs import names


class ObjectType(StrEnum):
    FILESYSTEM = "filesystem"
    VOLUME = "volume"
    SNAPSHOT = "snapshot"
    BOOKMARK = "bookmark"


class _Named:
    """Where an object's name says it lies: its dataset and its short name."""

    name: str

    @property
    def dataset(self) -> str:
        return names.dataset_of(self.name)

    @property
    def short_name(self) -> str:
        return names.short_name(self.name)


class ZfsObject(_Named, BaseModel):
    """One row of `zfs list -Hp -t all`: a filesystem, volume, snapshot or bookmark."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: ObjectType
    guid: int
    createtxg: int
    creation: int  # seconds since the epoch
    used: int
    referenced: int
    userrefs: int = 0  # number of holds; always 0 for anything but a snapshot
    origin: str | None = None  # the snapshot a clone was made from
    receive_resume_token: str | None = None  # set on a dataset with a partial resumable recv
    #: bytes written since the previous snapshot (a snapshot: since the one before it);
    #: None when not asked for (`list_many(written=True)`) or for a bookmark
    written: int | None = None
    #: the cipher, "off" when not encrypted; None when not asked for
    #: (`list_many(encryption=True)`) or for a bookmark
    encryption: str | None = None
    user_properties: Mapping[str, str] = Field(default_factory=dict)

    def __copy__(self) -> Self:
        copied = super().__copy__()
        # the rows zfs/inventory.py parses share one frozenset of fields set (no set per
        # row), and model_copy(update=...) adds the updated names to the copy's: it needs a
        # set of its own (found in the lab: sync-to's plan failed on every real listing)
        object.__setattr__(copied, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
        return copied

    @property
    def is_snapshot(self) -> bool:
        return self.type is ObjectType.SNAPSHOT


class ReachedSnapshot(_Named, BaseModel):
    """What a step keeps of a snapshot that a recursive command would reach: its name, its
    guid (an undo acts only on what is still the object it recorded) and its hold count
    (tags are read only where it is not 0): each property a channel program reads costs
    (programs.READ_REACHED), and a step needs no other."""

    model_config = ConfigDict(frozen=True)

    name: str
    guid: int
    userrefs: int


class Hold(BaseModel):
    model_config = ConfigDict(frozen=True)

    snapshot: str
    tag: str
    timestamp: int  # seconds since the epoch


class PropertySource(StrEnum):
    LOCAL = "local"
    DEFAULT = "default"
    INHERITED = "inherited"
    RECEIVED = "received"
    TEMPORARY = "temporary"
    NONE = "none"  # read-only values and unset user properties ("-")


class PropertyValue(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: str | None  # None for an unset user property ("-")
    source: PropertySource
    inherited_from: str | None = None


def _snapshot_name(value: str) -> str:
    return names.check_snapshot(value)


def _base_name(value: str) -> str:
    return names.check_snapshot_or_bookmark(value)


def _dataset_name(value: str) -> str:
    return names.check_dataset(value)


def _object_name(value: str) -> str:
    return names.check_any(value)[0]


def _properties(value: dict[str, str]) -> dict[str, str]:
    for prop, text in value.items():
        names.check_property_name(prop)
        names.check_property_value(prop, text)
    return value


def _property_changes(value: dict[str, str | None]) -> dict[str, str | None]:
    for prop, text in value.items():
        names.check_property_name(prop)
        if text is not None:
            names.check_property_value(prop, text)
    return value


# Validated string types for requests: a model field of one of these types cannot hold a name
# that ZFS would reject or that could be read as an option.
SnapshotName = Annotated[str, AfterValidator(_snapshot_name)]
DatasetName = Annotated[str, AfterValidator(_dataset_name)]
BaseName = Annotated[str, AfterValidator(_base_name)]
ObjectName = Annotated[str, AfterValidator(_object_name)]
BookmarkName = Annotated[str, AfterValidator(names.check_bookmark)]
HoldTag = Annotated[str, AfterValidator(names.check_hold_tag)]
Properties = Annotated[dict[str, str], AfterValidator(_properties)]
PropertyName = Annotated[str, AfterValidator(names.check_property_name)]
#: property -> value, or None for "inherit"
PropertyChanges = Annotated[dict[str, str | None], AfterValidator(_property_changes)]


class SendSpec(BaseModel):
    """What `zfs send` is asked for.

    Either `snapshot` (full, or incremental from `base`) or `resume_token` (the rest of an
    interrupted resumable receive); never both.
    """

    model_config = ConfigDict(frozen=True)

    snapshot: SnapshotName | None = None
    base: BaseName | None = None  # incremental source: a snapshot or a bookmark
    intermediates: bool = True  # -I (every snapshot between) rather than -i (just the two)
    raw: bool = False  # -w: encrypted blocks as they are on disk
    replicate: bool = False  # -R: the dataset, its descendants and their snapshots
    properties: bool = False  # -p: carry the properties
    compressed: bool = True  # -c: blocks as compressed on disk
    large_blocks: bool = True  # -L
    embedded: bool = True  # -e
    resume_token: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SendSpec:
        if (self.snapshot is None) == (self.resume_token is None):
            raise ValueError("a send needs exactly one of snapshot or resume_token")
        if self.resume_token is not None:
            if self.base is not None or self.replicate:
                raise ValueError("a resumed send takes everything from its token")
            if not _TOKEN_CHARS.issuperset(self.resume_token):
                raise ValueError("a resume token holds only hex digits and '-'")
        if self.base is not None and self.snapshot is not None:
            if names.dataset_of(self.base) != names.dataset_of(self.snapshot):
                raise ValueError(
                    f"incremental base {self.base} is not of the same dataset as {self.snapshot}"
                )
            if "#" in self.base and self.intermediates:
                # zfs send -I does not accept a bookmark; only -i does
                raise ValueError("a bookmark base needs intermediates=False (zfs send -i)")
        return self

    @property
    def dataset(self) -> str | None:
        return None if self.snapshot is None else names.dataset_of(self.snapshot)


_TOKEN_CHARS = frozenset("0123456789abcdefABCDEF-")


class RecvSpec(BaseModel):
    """What `zfs receive` is asked for."""

    model_config = ConfigDict(frozen=True)

    target: DatasetName
    force: bool = False  # -F: roll the target back (and destroy what is not in a -R stream)
    resumable: bool = True  # -s: keep a partial receive so it can be resumed
    mount: bool = False  # without -u the received filesystem would be mounted
    properties: Properties = Field(default_factory=dict)  # -o prop=value
    exclude_properties: tuple[PropertyName, ...] = ()  # -x prop


class TransferProgress(BaseModel):
    bytes_done: int
    bytes_total: int | None  # the size `zfs send -vP` reported (the model: exact), when known


class TransferResult(BaseModel):
    bytes_done: int
    bytes_estimated: int | None
    seconds: float
