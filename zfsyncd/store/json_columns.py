"""How JSON columns are written and read back.

Canonical text (sorted keys, no spaces) so two equal values are stored identically; NaN and
infinities are refused because they are not JSON and other readers of the file (sqlite3's
own json functions, a support engineer's jq) would choke on them. Values are serialised
before a write transaction begins, so a value that cannot be stored fails the call without
leaving half a write behind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def dump_object(value: Mapping[str, Any] | None) -> str:
    return dump(dict(value) if value is not None else {})


def dump_optional(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else dump(dict(value))


def load_object(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {text[:80]!r}")
    return value


def load_optional(text: str | None) -> dict[str, Any] | None:
    return None if text is None else load_object(text)


def load_list(text: str | None) -> list[Any]:
    if text is None:
        return []
    value = json.loads(text)
    if not isinstance(value, list):
        raise ValueError(f"expected a JSON list, got {text[:80]!r}")
    return value
