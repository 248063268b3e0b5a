"""Transaction ids: sortable by creation, unique, and legal in a D-Bus object path.

Format: ``YYYYMMDDTHHMMSS_ffffffZ_xxxxxxxx``, e.g. ``20261121T075500_123456Z_9f3ac2d1``:
the UTC creation time to the microsecond, then 8 random hex digits. Every part has a fixed
width, so sorting ids as strings sorts them by creation, and "newest first" is simply
``ORDER BY id DESC``. Only ``[0-9A-Z_a-z]`` is used because the id is the last element of
``/org/zfsync/Daemon1/Transaction/<id>``, and D-Bus object paths allow nothing else.

The store generates ids inside the write transaction that inserts them, passing the largest
id already stored: if the clock has not advanced past it (same microsecond, or the clock was
stepped back) the new id takes the next microsecond after it. So within one database ids are
strictly increasing in creation order, whatever the clock does; the time in an id is then
"about when", while ``created_at`` keeps the clock's reading. The random part keeps ids from
two hosts (a replication peer, a witness) from colliding.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

_FORMAT = "%Y%m%dT%H%M%S"
_PATTERN = re.compile(r"\A(\d{8}T\d{6})_(\d{6})Z_([0-9a-f]{8})\Z")
_MICRO = 1_000_000


def is_transaction_id(text: str) -> bool:
    return _PATTERN.match(text) is not None


def id_microseconds(tx_id: str) -> int:
    """The time in an id, as integer microseconds since the epoch (exact, unlike a float)."""
    match = _PATTERN.match(tx_id)
    if match is None:
        raise ValueError(f"not a transaction id: {tx_id!r}")
    seconds = datetime.strptime(match[1], _FORMAT).replace(tzinfo=UTC).timestamp()
    return int(seconds) * _MICRO + int(match[2])


def new_transaction_id(now: float, previous: str | None = None) -> str:
    micros = round(now * _MICRO)
    if previous is not None and is_transaction_id(previous):
        micros = max(micros, id_microseconds(previous) + 1)
    stamp = datetime.fromtimestamp(micros // _MICRO, UTC).strftime(_FORMAT)
    return f"{stamp}_{micros % _MICRO:06d}Z_{secrets.token_hex(4)}"
