"""How a pydantic ValidationError reads for a person: each problem with where it is.

Requests (from the bus or the engine's callers) and the configuration are all validated by
pydantic; their errors are reported the same way, one line, problems separated by "; ".
"""

from __future__ import annotations

from pydantic import ValidationError


def problems(exc: ValidationError, whole: str | None = None) -> str:
    """`loc: msg; loc: msg`. A problem with the value as a whole (no location) is named
    `whole`, or given bare when `whole` is None."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or whole
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)
