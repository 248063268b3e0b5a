"""Where a history comes from: snapper's snapshots of a BTRFS subvolume, or a plain
directory whose subdirectories are the snapshots in order (the seed's normalized copy).

Both are read into `SourceSnapshot`s, in the order they are migrated. Reading is one pass
over a directory and the small `info.xml` files; parsing is a pure function
(`parse_info`), tested with tables of examples.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class SourceError(ValueError):
    """The source cannot be read as a history (the message says why)."""


class SourceKind(StrEnum):
    SNAPPER = "snapper"
    PLAIN = "plain"


@dataclass(frozen=True, order=True)
class SourceSnapshot:
    """One snapshot of a source: its number (the order of the history), when it was taken
    when the source says, a description, and the directory holding its tree."""

    number: int
    path: Path
    date: str = ""
    description: str = ""


#: snapper's own directory below the subvolume it snapshots
SNAPPER_DIR = ".snapshots"
#: the most a description keeps (it becomes a ZFS user property: 8 KiB at most there)
MAX_DESCRIPTION = 1024


def parse_info(text: str) -> tuple[int, str, str]:
    """(number, date, description) from snapper's info.xml; SourceError when it is not one.
    A missing description is empty; the date is kept as snapper writes it (UTC,
    "YYYY-MM-DD HH:MM:SS")."""
    if "<!" in text.replace("<![CDATA[", ""):
        # a DOCTYPE could declare entities that expand without bound; snapper writes none
        raise SourceError("info.xml declares a DOCTYPE or entities; snapper's has none")
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 - no DOCTYPE, so no entities (above)
    except ElementTree.ParseError as exc:
        raise SourceError(f"info.xml is not XML: {exc}") from None
    if root.tag != "snapshot":
        raise SourceError(f"info.xml's root is <{root.tag}>, not <snapshot>")
    num = (root.findtext("num") or "").strip()
    if not num.isdigit():
        raise SourceError(f"info.xml has no number (<num>{num}</num>)")
    date = (root.findtext("date") or "").strip()
    description = " ".join((root.findtext("description") or "").split())
    return int(num), date, description[:MAX_DESCRIPTION]


_NUMBERED = re.compile(r"^[A-Za-z_-]*?(\d+)$")


def plain_order(names: list[str]) -> list[tuple[int, str]]:
    """(number, name) of a plain source's subdirectories, in migration order: when every
    name ends in a number (`1`, `s12`, `snap-003`) by that number, which must then be
    unique; otherwise by name, numbered from 1."""
    found = [(_NUMBERED.match(n), n) for n in names]
    if names and all(m is not None for m, _ in found):
        numbered = sorted((int(m.group(1)), n) for m, n in found if m is not None)
        numbers = [num for num, _ in numbered]
        if len(set(numbers)) == len(numbers):
            return numbered
    return [(i, n) for i, n in enumerate(sorted(names), start=1)]


def detect(root: Path) -> SourceKind:
    """Snapper when `root/.snapshots` holds numbered directories with an info.xml."""
    snapper = root / SNAPPER_DIR
    if snapper.is_dir() and any((d / "info.xml").is_file() for d in snapper.iterdir()):
        return SourceKind.SNAPPER
    return SourceKind.PLAIN


def read_source(root: Path) -> list[SourceSnapshot]:
    """The history under `root`, in order. SourceError when there is none."""
    if not root.is_absolute():
        raise SourceError(f"the source must be an absolute path, not {str(root)!r}")
    if not root.is_dir():
        raise SourceError(f"{root} is not a directory")
    found = _snapper(root) if detect(root) is SourceKind.SNAPPER else _plain(root)
    if not found:
        raise SourceError(f"{root} holds no snapshot")
    return found


def _snapper(root: Path) -> list[SourceSnapshot]:
    found = []
    for entry in sorted((root / SNAPPER_DIR).iterdir()):
        info = entry / "info.xml"
        if not info.is_file():
            continue
        number, date, description = parse_info(info.read_text(errors="replace"))
        if not (entry / "snapshot").is_dir():
            raise SourceError(f"{entry} has an info.xml but no snapshot directory")
        found.append(SourceSnapshot(number, entry / "snapshot", date, description))
    numbers = [s.number for s in found]
    if len(set(numbers)) != len(numbers):
        raise SourceError(f"{root}: two snapshots have the same number")
    return sorted(found)


def _plain(root: Path) -> list[SourceSnapshot]:
    names = [e.name for e in root.iterdir() if e.is_dir() and not e.is_symlink()]
    return [SourceSnapshot(num, root / name, "", name) for num, name in plain_order(names)]
