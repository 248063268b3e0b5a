"""The bounds of the API: how much a caller may ask for, store and get back in one call.

Every field a caller can fill has a bound here, checked where every entry point passes (the
engine's `create` for a transaction's options, the request models for what a request names,
the read side's query model for list filters), so a request over a bound is refused with
InvalidArgument before anything is stored or run. Replies are bounded from these numbers:
tests/unit/bus/test_reply_bounds.py builds the largest row each list method can return and
checks that a full page stays under `REPLY_MAX_BYTES`, itself under dbus-daemon's default
maximum message size (32 MiB; a larger message costs the sender its connection). The bus
refuses a reply that would still exceed it (zfsyncd/bus/connection.py) instead of sending it.
dbus/org.zfsync.Daemon1.xml and README.md document the same numbers.
"""

from __future__ import annotations

import math

#: dbus-daemon's default max_message_size (system and session bus)
BUS_MAX_MESSAGE_BYTES = 32 * 1024 * 1024
#: what the daemon sends at most in one reply: a margin under the bus's limit
REPLY_MAX_BYTES = 24 * 1024 * 1024

#: tags on one transaction, and the characters in each (printable, no control characters)
MAX_TAGS = 32
MAX_TAG_CHARS = 64
#: datasets a Snapshot names, snapshots a DestroySnapshots names, datasets ListSnapshots
#: looks under
MAX_NAMES_PER_CALL = 1000
#: user properties a Snapshot sets (each name <= 255 bytes, value <= 8 KiB: ZFS's bounds)
MAX_PROPERTIES = 64
#: a stored description (the request in words) and a step's, cut with "…" beyond this
MAX_DESCRIPTION_CHARS = 1024
#: a stored error or rollback outcome, cut with "…" beyond this
MAX_ERROR_CHARS = 4096
#: a transaction's stored parameters and metadata, as JSON
MAX_PARAMS_BYTES = 1024 * 1024
MAX_METADATA_BYTES = 64 * 1024
#: a transaction's timeout: finite, more than 0, at most 7 days
MAX_TIMEOUT_SECONDS = 7 * 86400.0
#: a transaction's priority
MIN_PRIORITY, MAX_PRIORITY = -1000, 1000
#: ListTransactions: a page holds at most this many (the default is 100; 0 asks for this)
MAX_TRANSACTION_PAGE = 500
DEFAULT_TRANSACTION_PAGE = 100
#: ListSnapshots: a page holds at most this many (also the default; 0 asks for this)
MAX_SNAPSHOT_PAGE = 1000
#: ListReplicas: a page holds at most this many (also the default; 0 asks for this)
MAX_REPLICA_PAGE = 1000
#: datasets named in one ListTransactions row (GetTransaction names up to MAX_DETAIL_DATASETS);
#: `datasets_count` has the total
MAX_SUMMARY_DATASETS = 16
MAX_DETAIL_DATASETS = 10000
#: a transaction's Streams property and StreamProgress signal list at most this many running
#: streams (the first started; the total counts them all): a step runs at most 16 at once
#: (SyncRequest.parallel), so a row is each running stream, bounded whatever `sync all` names
MAX_PROGRESS_STREAMS = 16
#: Cleanup(older_than): finite, 0 or more; at most 100 years
MAX_AGE_SECONDS = 100 * 365 * 86400.0
#: the bytes a finished transfer step records as moved: at most what SQLite's INTEGER and a
#: D-Bus `t` both hold
MAX_STORED_BYTES = (1 << 63) - 1

ELLIPSIS = "…"


def cut(text: str, limit: int) -> str:
    """`text`, or its first characters and "…" when longer than `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def has_control(text: str) -> bool:
    """Whether `text` holds a character a terminal or a log line could misread (control
    and other non-printable characters: ESC, newline, tab, NUL, bidi overrides...)."""
    return not text.isprintable()


def finite(value: float) -> bool:
    return math.isfinite(value)
