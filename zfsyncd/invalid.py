"""How a pydantic ValidationError reads for a person: each problem with where it is.

Requests (from the bus or the engine's callers) and the configuration are all validated by
pydantic; their errors are reported the same way, one line, problems separated by "; ", in
the project's words rather than pydantic's ("Value error, ..." and "Tuple should have at
least 1 item after validation" are pydantic's; the reason a validator gave is ours).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

#: pydantic's error type -> our words (formatted with the error's context)
_WORDS: dict[str, str] = {
    "missing": "is required",
    "extra_forbidden": "is not a known key",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be text",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping of names to values",
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be {ge} or more",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "string_too_short": "must have at least {min_length} character(s)",
    "string_too_long": "is limited to {max_length} characters",
    "enum": "must be one of {expected}",
    "literal_error": "must be one of {expected}",
}


def _words(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])  # a validator's own reason, without pydantic's prefix
    if kind in ("too_short", "too_long"):
        # pydantic stops counting a mapping at the bound: the number given may be unknown
        given = ctx.get("actual_length")
        has = f", has {given}" if given is not None else ""
        if kind == "too_short":
            return f"needs at least {ctx.get('min_length')} item(s){has}"
        return f"takes at most {ctx.get('max_length')} item(s){has}"
    template = _WORDS.get(kind)
    if template is None:
        return error["msg"]
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return error["msg"]


def _consequence(error: ErrorDetails, others: list[ErrorDetails]) -> bool:
    """A list left too short only because its items were refused: the items' reasons say
    what was wrong, "needs at least 1" would only confuse."""
    if error["type"] != "too_short":
        return False
    loc = error["loc"]
    return any(len(o["loc"]) > len(loc) and o["loc"][: len(loc)] == loc for o in others)


#: a request naming 1,000 bad names has 1,000 problems: the first few say enough
MAX_PROBLEMS, MAX_PROBLEM_CHARS = 5, 400


def problem_lines(exc: ValidationError, whole: str | None = None) -> list[str]:
    """Every problem, one line each, `loc: problem` (`zfsyncctl config check`). A validator
    that found several problems at once joined them with "; ": each gets its own line."""
    lines = []
    for error in exc.errors():
        if _consequence(error, exc.errors()):
            continue
        where = ".".join(str(p) for p in error["loc"]) or whole
        for text in _words(error).split("; "):
            lines.append(f"{where}: {text}" if where else text)
    return lines


def problems(exc: ValidationError, whole: str | None = None) -> str:
    """`loc: problem; loc: problem`. A problem with the value as a whole (no location) is
    named `whole`, or given bare when `whole` is None. At most MAX_PROBLEMS, each cut
    short, and how many more there were."""
    errors = [e for e in exc.errors() if not _consequence(e, exc.errors())]
    parts = []
    for error in errors[:MAX_PROBLEMS]:
        where = ".".join(str(p) for p in error["loc"]) or whole
        text = _words(error)
        part = f"{where}: {text}" if where else text
        parts.append(
            part if len(part) <= MAX_PROBLEM_CHARS else part[: MAX_PROBLEM_CHARS - 1] + "…"
        )
    if len(errors) > MAX_PROBLEMS:
        parts.append(f"and {len(errors) - MAX_PROBLEMS} more problem(s)")
    return "; ".join(parts)
