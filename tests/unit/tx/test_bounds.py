"""The bounds of what a caller may store (zfsyncd/api/limits.py), checked by the engine's
create and the read side's query model: a request over one is refused with a clear error and
nothing is stored; what the engine stores from others (descriptions, errors) is cut short."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

import zfsyncd.ops  # noqa: F401 - registers the snapshot kind
from zfsyncd.api import limits
from zfsyncd.invalid import problems
from zfsyncd.tx import queries
from zfsyncd.tx.errors import MissingObjectError, PlanError
from zfsyncd.tx.manager import TransactionManager
from zfsyncd.tx.queries import TransactionQuery


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"tags": [""]}, "a tag may not be empty"),
        ({"tags": ["a\nb"]}, r"printable characters; one holds '\\n'"),
        ({"tags": ["\x1b[31mred"]}, r"printable characters; one holds '\\x1b'"),
        ({"tags": ["x" * (limits.MAX_TAG_CHARS + 1)]}, "limited to 64 characters; one has 65"),
        ({"tags": ["t"] * (limits.MAX_TAGS + 1)}, "at most 32 tags, not 33"),
        ({"timeout": math.inf}, "a timeout must be more than 0 and at most 604800"),
        ({"timeout": math.nan}, "a timeout must be"),
        ({"timeout": 1.8e19}, "a timeout must be"),
        ({"timeout": 0.0}, "a timeout must be"),
        ({"priority": 2**63}, "a priority must be from -1000 to 1000"),
        ({"metadata": {"x": "y" * limits.MAX_METADATA_BYTES}}, "metadata take"),
        ({"metadata": {"x": math.nan}}, "the metadata cannot be stored"),
    ],
)
async def test_options_over_a_bound_are_refused_and_nothing_is_stored(
    manager: TransactionManager, options: dict[str, Any], words: str
) -> None:
    with pytest.raises(PlanError, match=words):
        await manager.create("snapshot", {"datasets": ["tank"]}, **options)
    assert await manager.store.count() == 0
    (refusal,) = await manager.audit.list(limit=None)
    assert refusal.outcome.startswith("refused: ")


async def test_a_request_names_at_most_so_many(manager: TransactionManager) -> None:
    many = [f"tank/d{n}" for n in range(limits.MAX_NAMES_PER_CALL + 1)]
    with pytest.raises(PlanError, match="datasets: takes at most 1000 item\\(s\\), has 1001"):
        await manager.create("snapshot", {"datasets": many})
    snaps = [f"tank@s{n}" for n in range(limits.MAX_NAMES_PER_CALL + 1)]
    with pytest.raises(PlanError, match="snapshots: takes at most 1000"):
        await manager.create("destroy-snapshots", {"snapshots": snaps})
    assert await manager.store.count() == 0


async def test_what_is_at_a_bound_is_taken(manager: TransactionManager) -> None:
    tags = ["é" * limits.MAX_TAG_CHARS] * limits.MAX_TAGS
    record = await manager.create(
        "snapshot", {"datasets": ["tank"]}, tags=tags, timeout=limits.MAX_TIMEOUT_SECONDS
    )
    assert record.tags == tags
    assert record.timeout == limits.MAX_TIMEOUT_SECONDS


async def test_a_long_description_is_cut_where_it_is_stored(manager: TransactionManager) -> None:
    names = [f"tank/{'d' * 200}{n}" for n in range(50)]
    record = await manager.create("snapshot", {"datasets": names})
    assert record.description is not None
    assert len(record.description) == limits.MAX_DESCRIPTION_CHARS
    assert record.description.endswith("…")
    assert record.description.startswith("snapshot tank/ddd")


async def test_a_missing_dataset_or_snapshot_is_not_found(manager: TransactionManager) -> None:
    for kind, params in (
        ("snapshot", {"datasets": ["tank/nope"]}),
        ("destroy-snapshots", {"snapshots": ["tank@zfsync_nope"]}),
    ):
        record = await manager.create(kind, params)
        with pytest.raises(MissingObjectError, match="does not exist") as missing:
            await manager.prepare(record.id)
        assert missing.value.kind == "not-found"


@pytest.mark.parametrize(
    ("age", "words"),
    [(math.inf, "older_than must be from 0"), (math.nan, "older_than"), (-1.0, "older_than")],
)
async def test_cleanup_refuses_an_age_before_deleting(
    manager: TransactionManager, age: float, words: str
) -> None:
    record = await manager.create("snapshot", {"datasets": ["tank"]})
    await manager.start(record.id)
    await manager.wait(record.id)
    with pytest.raises(PlanError, match=words):
        await manager.cleanup_finished(age)
    assert await manager.store.count() == 1
    assert await manager.cleanup_finished(0.0) == 1


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"limit": 2**63}, "limit: must be at most 500"),
        ({"limit": limits.MAX_TRANSACTION_PAGE + 1}, "limit: must be at most 500"),
        ({"limit": -1}, "limit: must be 0 or more"),
        ({"since": math.nan}, "since: must be a finite number"),
        ({"since": math.inf}, "since: must be a finite number"),
        ({"after": "'; drop"}, "after: not a cursor a list returned (the id of a transaction)"),
        ({"type": "x" * 65}, "type: is limited to 64 characters"),
    ],
)
def test_a_query_over_a_bound_is_refused_in_our_words(values: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as refused:
        TransactionQuery.parse(values)
    assert problems(refused.value) == words


async def test_transactions_are_listed_page_by_page(manager: TransactionManager) -> None:
    made = [(await manager.create("snapshot", {"datasets": ["tank"]})).id for _ in range(7)]
    newest_first = list(reversed(made))
    seen: list[str] = []
    after = None
    while True:
        page = await queries.list_transactions(manager, TransactionQuery(limit=3, after=after))
        seen += [t.record.id for t in page]
        if len(page) < 3:
            break
        after = page[-1].record.id
    assert seen == newest_first
    everything = await queries.list_transactions(manager, TransactionQuery(limit=0))
    assert [t.record.id for t in everything] == newest_first  # 0: a full page, 500
