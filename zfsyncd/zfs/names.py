"""Strict validation of ZFS names, done before any command runs.

The rules follow OpenZFS's own checks (module/zcommon/zfs_namecheck.c), so that a name we
accept is one ZFS accepts, and add one of our own: nothing may be read as an option. Every
name that reaches an argv has passed through one of the `check_*` functions here; a name
from a caller that fails gets an `InvalidNameError` that says what is wrong with it.
"""

from __future__ import annotations

import re
from enum import StrEnum

from zfsyncd.zfs.errors import InvalidNameError

#: ZFS_MAX_DATASET_NAME_LEN is 256 including the terminating NUL.
MAX_NAME_BYTES = 255
#: zfs_max_dataset_nesting, the module parameter's default.
MAX_NESTING = 50
#: user property values are limited to ZAP_MAXVALUELEN (8 KiB).
MAX_USER_PROPERTY_VALUE_BYTES = 8192
MAX_USER_PROPERTY_NAME_BYTES = 255

# The characters OpenZFS's valid_char() admits in a name component. Space is among them.
_COMPONENT_CHARS = re.compile(r"[A-Za-z0-9_\-.: ]+")
_USER_PROPERTY = re.compile(r"[a-z0-9_\-.:]+")
# Pool names beginning with these are reserved for vdev types (zpool create would misread).
_RESERVED_POOL_PREFIXES = ("mirror", "raidz", "draid", "spare")
_RESERVED_POOL_NAMES = ("log",)


class NameKind(StrEnum):
    POOL = "pool"
    DATASET = "dataset"  # a filesystem or a volume: the syntax is the same
    SNAPSHOT = "snapshot"
    BOOKMARK = "bookmark"


def _fail(name: str, problem: str, what: str = "ZFS name") -> InvalidNameError:
    return InvalidNameError(name, problem, what=what)


def _check_text(name: object) -> str:
    if not isinstance(name, str):
        raise _fail(repr(name), f"expected a string, got {type(name).__name__}")
    if not name:
        raise _fail(name, "the name is empty")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise _fail(name, f"the name is {len(name.encode())} bytes long, over {MAX_NAME_BYTES}")
    if name.startswith("-"):
        raise _fail(name, "it begins with '-' and would be read as an option")
    return name


def _check_component(name: str, component: str, what: str) -> None:
    if not component:
        raise _fail(name, f"it has an empty {what} (a doubled, leading or trailing delimiter)")
    if component in (".", ".."):
        raise _fail(name, f"{what} {component!r} is reserved")
    match = _COMPONENT_CHARS.fullmatch(component)
    if match is None:
        bad = next(c for c in component if not _COMPONENT_CHARS.fullmatch(c))
        raise _fail(name, f"invalid character {bad!r} in {what} {component!r}")


def _check_pool(name: str, pool: str) -> None:
    _check_component(name, pool, "pool name")
    if not pool[0].isalpha():
        raise _fail(name, f"pool name {pool!r} must begin with a letter")
    lowered = pool.lower()
    if lowered in _RESERVED_POOL_NAMES or lowered.startswith(_RESERVED_POOL_PREFIXES):
        raise _fail(name, f"pool name {pool!r} is reserved")
    if re.fullmatch(r"c[0-9].*", pool):
        raise _fail(name, f"pool name {pool!r} is reserved (c[0-9]...)")


def _check_dataset_path(name: str, path: str) -> None:
    if "@" in path or "#" in path:
        raise _fail(name, "a dataset name may not contain '@' or '#'")
    parts = path.split("/")
    _check_pool(name, parts[0])
    if len(parts) > MAX_NESTING:
        raise _fail(name, f"it is nested {len(parts)} deep, over {MAX_NESTING}")
    for part in parts[1:]:
        _check_component(name, part, "component")


def check_pool(name: str) -> str:
    name = _check_text(name)
    if "/" in name or "@" in name or "#" in name:
        raise _fail(name, "a pool name may not contain '/', '@' or '#'")
    _check_pool(name, name)
    return name


def check_dataset(name: str) -> str:
    """A filesystem or volume (a pool's root dataset included)."""
    name = _check_text(name)
    _check_dataset_path(name, name)
    return name


def _check_suffixed(name: str, delimiter: str, what: str) -> str:
    name = _check_text(name)
    if name.count(delimiter) != 1:
        found = "none" if delimiter not in name else "more than one"
        example = "pool/fs@snap" if delimiter == "@" else "pool/fs#mark"
        raise _fail(
            name, f"a {what} name has exactly one {delimiter!r} ({example}); it has {found}"
        )
    other = "#" if delimiter == "@" else "@"
    if other in name:
        raise _fail(name, f"a {what} name may not contain {other!r}")
    dataset, short = name.split(delimiter)
    _check_dataset_path(name, dataset)
    _check_component(name, short, f"{what} name")
    return name


def check_snapshot(name: str) -> str:
    """A full snapshot name, `pool/fs@snap`."""
    return _check_suffixed(name, "@", "snapshot")


def check_bookmark(name: str) -> str:
    """A full bookmark name, `pool/fs#mark`."""
    return _check_suffixed(name, "#", "bookmark")


def check_short_snapshot(dataset: str, short: str) -> str:
    """The part after '@', checked together with the dataset it will be joined to."""
    return check_snapshot(f"{dataset}@{short}")


def check_any(name: str) -> tuple[str, NameKind]:
    """Any ZFS object name; returns it with what kind of object the syntax says it is."""
    name = _check_text(name)
    if "@" in name:
        return check_snapshot(name), NameKind.SNAPSHOT
    if "#" in name:
        return check_bookmark(name), NameKind.BOOKMARK
    return check_dataset(name), NameKind.DATASET


def check_snapshot_or_bookmark(name: str) -> str:
    """An incremental base or a bookmark source: `fs@snap` or `fs#mark`."""
    checked, kind = check_any(name)
    if kind not in (NameKind.SNAPSHOT, NameKind.BOOKMARK):
        raise _fail(name, "expected a snapshot (fs@snap) or a bookmark (fs#mark)")
    return checked


def check_user_property(prop: str) -> str:
    """A user property name (`module:property`), as `zfs set` accepts it."""
    if not isinstance(prop, str) or not prop:
        raise _fail(repr(prop), "a property name may not be empty", "property name")
    if ":" not in prop:
        raise _fail(
            prop, "a user property name must contain ':' (module:property)", "property name"
        )
    if len(prop.encode()) > MAX_USER_PROPERTY_NAME_BYTES:
        raise _fail(
            prop,
            f"a property name is limited to {MAX_USER_PROPERTY_NAME_BYTES} bytes",
            "property name",
        )
    if prop.startswith("-") or _USER_PROPERTY.fullmatch(prop) is None:
        raise _fail(
            prop, "a user property name may hold only a-z, 0-9, ':', '-', '.', '_'", "property name"
        )
    return prop


_NATIVE_PROPERTY = re.compile(r"[a-z][a-z0-9_]*")


def check_property_name(prop: str) -> str:
    """A native (`compression`) or user (`zfsync:role`) property name."""
    if isinstance(prop, str) and ":" in prop:
        return check_user_property(prop)
    if not isinstance(prop, str) or _NATIVE_PROPERTY.fullmatch(prop) is None:
        raise _fail(
            str(prop), "not a property name (lowercase letters, digits and '_')", "property name"
        )
    return prop


def check_property_value(prop: str, value: str) -> str:
    what = "value of property"
    if not isinstance(value, str):
        raise _fail(prop, f"the value must be text, not {type(value).__name__}", what)
    if "\n" in value or "\t" in value or "\0" in value:
        # zfs list -H separates fields with tabs and rows with newlines: such a value
        # could never be read back unambiguously
        raise _fail(prop, "a property value may not contain a tab, newline or NUL", what)
    if ":" in prop and len(value.encode()) > MAX_USER_PROPERTY_VALUE_BYTES:
        raise _fail(
            prop, f"a user property value is limited to {MAX_USER_PROPERTY_VALUE_BYTES} bytes", what
        )
    return value


def check_hold_tag(tag: str) -> str:
    """A user hold tag. ZFS admits almost anything; we admit what is safe in argv and logs."""
    if not isinstance(tag, str) or not tag:
        raise _fail(repr(tag), "a hold tag may not be empty", "hold tag")
    if tag.startswith("-"):
        raise _fail(
            tag, "a hold tag may not begin with '-' (it would be read as an option)", "hold tag"
        )
    if len(tag.encode()) > MAX_NAME_BYTES:
        raise _fail(tag, f"a hold tag is limited to {MAX_NAME_BYTES} bytes", "hold tag")
    if _COMPONENT_CHARS.fullmatch(tag) is None:
        raise _fail(
            tag, "a hold tag may hold only letters, digits, ' ', '_', '-', '.', ':'", "hold tag"
        )
    return tag


def dataset_of(name: str) -> str:
    """`pool/fs` for `pool/fs@snap`, `pool/fs#mark` or `pool/fs` itself."""
    return re.split(r"[@#]", name, maxsplit=1)[0]


def pool_of(name: str) -> str:
    return dataset_of(name).split("/", 1)[0]


def parent_of(name: str) -> str | None:
    """The parent dataset of a dataset, or None for a pool's root dataset."""
    dataset = dataset_of(name)
    if dataset != name:
        return dataset
    head, sep, _ = name.rpartition("/")
    return head if sep else None


def short_name(name: str) -> str:
    """`snap` for `pool/fs@snap`, `mark` for `pool/fs#mark`."""
    parts = re.split(r"[@#]", name, maxsplit=1)
    return parts[1] if len(parts) == 2 else name


def is_descendant(name: str, ancestor: str) -> bool:
    """True when `name` is `ancestor` itself or lies below it (snapshots included)."""
    dataset = dataset_of(name)
    return dataset == ancestor or dataset.startswith(ancestor + "/")
