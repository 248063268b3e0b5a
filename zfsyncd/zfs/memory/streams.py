"""What a send puts on the wire: streams, the plan of a whole send, and resume tokens.

A `Stream` is one dataset's full or incremental stream, with its size worked out from the
writes it carries; a `Plan` is every stream of one `zfs send` (several with -I or -R),
made before the first byte moves. Tokens have the shape of real ones and carry what the
sending model needs to resume. send.py makes plans; receive.py applies them.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from zfsyncd.zfs.memory.objects import Content
from zfsyncd.zfs.models import ObjectType

#: the size `zfs send -nvP` gives for a full and an incremental stream of no data (real)
FULL_STREAM_BYTES = 43_632
INCREMENTAL_STREAM_BYTES = 624


@dataclass(frozen=True)
class Stream:
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
class Plan:
    """Everything a send will transfer, worked out before the first byte moves."""

    streams: list[Stream]
    replicate: bool = False
    #: -R: for each dataset in the stream (by relative path), the snapshot guids it has
    source_snapshots: dict[str, set[int]] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(s.remaining for s in self.streams)


def encode_token(fields: Mapping[str, object]) -> str:
    """A token shaped like the real ones (`1-<checksum>-<length>-<hex of zlib data>`)
    that any MemoryBackend can read back: the source reads it to resume its send."""
    payload = zlib.compress(json.dumps(dict(fields), sort_keys=True).encode())
    return f"1-{zlib.crc32(payload):x}-{len(payload):x}-{payload.hex()}"


def decode_token(token: str) -> dict[str, object] | None:
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
