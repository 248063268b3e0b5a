"""The native properties the model knows and the rules for setting them.

Which native properties exist, their defaults, which inherit, which are read-only or
create-only, and what values each accepts (with the message real zfs prints for a bad
one). Pure functions of names and values: what an object's properties *are* is in
values.py, what `zfs set` and `zfs inherit` do in properties.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from zfsyncd.zfs import names
from zfsyncd.zfs.inventory import BASE_COLUMNS
from zfsyncd.zfs.memory.tree import fail

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
class Native:
    """A native property the model knows. Real ZFS has many more; the model rejects the
    rest as unknown (a documented gap: tests/contract keeps to these)."""

    default: str
    inheritable: bool = False
    editable: bool = True  # `zfs set` may change it
    create_only: bool = False  # only `zfs create -o` may set it
    choices: tuple[str, ...] = ()


NATIVE: dict[str, Native] = {
    "mountpoint": Native("", inheritable=True),
    "readonly": Native("off", inheritable=True, choices=("on", "off")),
    "compression": Native("on", inheritable=True),
    "atime": Native("on", inheritable=True, choices=("on", "off")),
    "canmount": Native("on", choices=("on", "off", "noauto")),
    "quota": Native("0"),
    "keylocation": Native("none"),
    "encryption": Native("off", editable=False, create_only=True),
    "keyformat": Native("none", editable=False, create_only=True),
    "volsize": Native("-"),
}
#: native properties nobody sets: values the model computes
READ_ONLY = frozenset(
    {
        *BASE_COLUMNS,
        "keystatus",
        "encryptionroot",
        # computed: a filesystem the model counts as mounted (values.py `_mounted`)
        "mounted",
    }
)
#: what `zfs send -p` carries: settable native properties (plus every user property)
SENT_NATIVE = ("mountpoint", "readonly", "compression", "atime", "canmount", "quota")

#: what does not apply to a volume (real shows '-')
FILESYSTEM_ONLY = frozenset({"mountpoint", "canmount", "atime"})

_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(.*)")
_SUFFIXES = {"": 0, "B": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def parse_size(text: str) -> int | str:
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


def check_native_value(prop: str, value: str) -> tuple[str, str | None]:
    """(normalised value, None) or (value, the problem real zfs reports)."""
    spec = NATIVE[prop]
    if spec.choices and value not in spec.choices:
        return value, f"'{prop}' must be one of '{' | '.join(spec.choices)}'"
    if prop == "compression" and _COMPRESSION.fullmatch(value) is None:
        return value, f"'compression' must be one of '{_COMPRESSION_VALUES}'"
    if prop == "mountpoint" and not (value in ("none", "legacy") or value.startswith("/")):
        return value, "'mountpoint' must be an absolute path, 'none', or 'legacy'"
    if prop in ("quota", "volsize"):
        if value == "none" and prop == "quota":
            return "0", None
        size = parse_size(value)
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


def native_problem(prop: str, *, creating: bool) -> str | None:
    """Why `prop` cannot be set at all (unknown or read-only), or None."""
    if prop in READ_ONLY or (prop in NATIVE and not NATIVE[prop].editable and not creating):
        return f"'{prop}' is readonly"
    if prop not in NATIVE:
        return f"invalid property '{prop}'"
    return None


def snapshot_problem(props: Iterable[str]) -> str | None:
    """Why `props` cannot be set on a snapshot (only user properties can), or None."""
    for prop in props:
        if ":" not in prop:
            problem = native_problem(prop, creating=False)
            return problem or "this property can not be modified for snapshots"
    return None


def validated(
    argv: Sequence[str],
    prefix: str,
    props: Mapping[str, str],
    *,
    creating: bool,
    returncode: int = 1,
) -> dict[str, str]:
    """Check property assignments the way zfs does before it changes anything (`zfs set`
    exits 255 where create and clone exit 1)."""
    clean: dict[str, str] = {}
    for prop, value in props.items():
        if ":" in prop:
            clean[prop] = value
            continue
        problem = native_problem(prop, creating=creating)
        if problem is None:
            value, problem = check_native_value(prop, value)
        if problem is not None:
            raise fail(argv, f"{prefix}: {problem}", returncode)
        clean[prop] = value
    return clean


def checked_assignments(properties: Mapping[str, str] | None) -> dict[str, str]:
    """The name checks CliBackend makes before it builds `-o prop=value`."""
    for prop, value in (properties or {}).items():
        names.check_property_name(prop)
        names.check_property_value(prop, value)
    return dict(properties or {})
