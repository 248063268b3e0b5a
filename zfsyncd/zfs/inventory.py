"""Parsing `zfs list -Hp` into models, fast enough for pools with 100,000s of snapshots.

`zfs list -H` separates fields by one tab and rows by a newline, and names may hold spaces
but never tabs or newlines, so splitting is exact. The parser converts each field itself and
builds models without pydantic's validation (`_trusted`): validating a million rows, or even
`model_construct`, cost 3x the parsing and 1.7x the memory, for values whose types the loop
already fixed. tests/unit/test_inventory.py checks that what it builds equals a validated
model.
bench/inventory.py measures this loop against a bare `str.split` over the same text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from zfsyncd.zfs import names
from zfsyncd.zfs.models import ObjectType, ZfsObject

#: The columns every inventory asks for, in the order the parser expects them.
BASE_COLUMNS: tuple[str, ...] = (
    "name",
    "type",
    "guid",
    "createtxg",
    "creation",
    "used",
    "referenced",
    "userrefs",
    "origin",
    "receive_resume_token",
)

_TYPES = {t.value: t for t in ObjectType}
# Most objects carry none of the user properties asked for: they all share this one empty
# dict instead of each holding their own. The field is typed Mapping (read-only) and the
# model frozen, so nothing typed can add to it; a MappingProxyType would be safer still but
# pydantic's serializer warns on it.
_NO_PROPERTIES: Mapping[str, str] = {}


class InventoryParseError(ValueError):
    def __init__(self, line_number: int, line: str, problem: str) -> None:
        super().__init__(f"zfs list output line {line_number}: {problem}: {line[:200]!r}")


#: the optional columns after BASE_COLUMNS, in this order: bytes written since the
#: previous snapshot, and the encryption cipher ("off" when not encrypted)
WRITTEN = "written"
ENCRYPTION = "encryption"


def _optional(written: bool, encryption: bool) -> tuple[str, ...]:
    return (*((WRITTEN,) if written else ()), *((ENCRYPTION,) if encryption else ()))


def list_columns(
    user_properties: Sequence[str] = (), *, written: bool = False, encryption: bool = False
) -> str:
    """The `-o` argument that `parse_list` expects: `written` and `encryption` when asked
    for, then the user properties."""
    for prop in user_properties:
        names.check_user_property(prop)
    return ",".join((*BASE_COLUMNS, *_optional(written, encryption), *user_properties))


_ALL_FIELDS = frozenset(ZfsObject.model_fields)
_new = object.__new__
_set = object.__setattr__


def _trusted(values: dict[str, object]) -> ZfsObject:
    """A ZfsObject from values already of the right types, as model_construct would make it,
    minus its per-object work (a fields-set per instance, defaults, extra handling)."""
    obj: ZfsObject = _new(ZfsObject)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", _ALL_FIELDS)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


#: distinct user-property value sets kept for sharing; past this, rows get their own mapping
_SHARED_LIMIT = 4096


def _user_properties(
    props: tuple[str, ...],
    values: tuple[str, ...],
    shared: dict[tuple[str, ...], Mapping[str, str]],
) -> Mapping[str, str]:
    """The mapping for one row's values. Rows mostly repeat the same values (an inherited
    `zfsync:role` on every snapshot), so equal value sets share one read-only mapping:
    a million rows then cost a handful of dicts instead of a million."""
    found = shared.get(values)
    if found is None:
        found = {p: v for p, v in zip(props, values, strict=True) if v != "-"} or _NO_PROPERTIES
        if len(shared) < _SHARED_LIMIT:
            shared[values] = found
    return found


def _number(text: str) -> int:
    # '-' is what zfs prints for a value that does not apply (a bookmark's `used`)
    return 0 if text == "-" else int(text)


def parse_list(
    text: str,
    user_properties: Sequence[str] = (),
    *,
    written: bool = False,
    encryption: bool = False,
) -> list[ZfsObject]:
    """Parse the output of `zfs list -Hp -o <list_columns(user_properties, ...)>`."""
    lines = text.split("\n")
    return list(iter_list(lines, user_properties, written=written, encryption=encryption))


def iter_list(
    lines: Iterable[str],
    user_properties: Sequence[str] = (),
    *,
    written: bool = False,
    encryption: bool = False,
) -> Iterator[ZfsObject]:
    first_user = len(BASE_COLUMNS) + len(_optional(written, encryption))
    crypt_at = first_user - 1
    width = first_user + len(user_properties)
    props = tuple(user_properties)
    types = _TYPES
    number = _number
    shared: dict[tuple[str, ...], Mapping[str, str]] = {}
    for line_number, line in enumerate(lines, 1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != width:
            raise InventoryParseError(line_number, line, f"{len(fields)} fields, expected {width}")
        name, kind, guid, txg, creation, used, refer, userrefs, origin, token = fields[:10]
        try:
            obj_type = types[kind]
            user: Mapping[str, str] = _NO_PROPERTIES
            if props:
                user = _user_properties(props, tuple(fields[first_user:]), shared)
            # '-' for a bookmark, which has neither
            wrote = None if not written or fields[10] == "-" else int(fields[10])
            cipher = None if not encryption or fields[crypt_at] == "-" else fields[crypt_at]
            yield _trusted(
                {
                    "name": name,
                    "type": obj_type,
                    "guid": int(guid),
                    "createtxg": int(txg),
                    "creation": int(creation),
                    "used": number(used),
                    "referenced": number(refer),
                    "userrefs": number(userrefs),
                    "origin": None if origin == "-" else origin,
                    "receive_resume_token": None if token == "-" else token,  # noqa: S105
                    "written": wrote,
                    "encryption": cipher,
                    "user_properties": user,
                }
            )
        except (KeyError, ValueError) as exc:
            raise InventoryParseError(line_number, line, f"bad value ({exc})") from None


class Inventory:
    """A reading of `zfs list`, indexed by name and by dataset for quick look-ups."""

    def __init__(self, objects: Iterable[ZfsObject]) -> None:
        self._by_name: dict[str, ZfsObject] = {}
        self._snapshots: dict[str, list[ZfsObject]] = {}
        for obj in objects:
            self._by_name[obj.name] = obj
            if obj.type is ObjectType.SNAPSHOT:
                self._snapshots.setdefault(obj.dataset, []).append(obj)

    def __len__(self) -> int:
        return len(self._by_name)

    def __iter__(self) -> Iterator[ZfsObject]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> ZfsObject | None:
        return self._by_name.get(name)

    def snapshots(self, dataset: str) -> list[ZfsObject]:
        """The snapshots of one dataset, oldest first (by createtxg, as ZFS orders them)."""
        return sorted(self._snapshots.get(dataset, ()), key=lambda s: s.createtxg)

    def datasets(self) -> list[ZfsObject]:
        return [o for o in self._by_name.values() if o.type in _DATASET_TYPES]


_DATASET_TYPES = (ObjectType.FILESYSTEM, ObjectType.VOLUME)
