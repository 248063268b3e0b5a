"""Fixtures shared by every suite that runs on both the ZFS model and real pools
(tests/contract, tests/engine): one set of real pools per session, a fresh `world` per test.
See tests/contract/world.py."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.contract.world import World, backend_kind, make_world, real_pools, unique_name
from tests.lab import shard as lab_shard

_COUNTER = itertools.count(1)

# Timings belong in bench/, never in a test (DESIGN.md): on a loaded machine hypothesis's
# deadline and its "input generation is slow" check fail tests that are right.
settings.register_profile("zfsyncd", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("zfsyncd")


@pytest.fixture(scope="session")
def pools() -> Iterator[None]:
    """The real pools for the whole session (nothing to do for the model)."""
    if backend_kind() == "real":
        with real_pools():
            yield
    else:
        yield


@pytest.fixture
async def world(pools: None, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    w = make_world(unique_name(next(_COUNTER), request.node.name))
    await w.setup()
    yield w
    await w.teardown()


@pytest.hookimpl(trylast=True)  # after -k/-m: split what is selected, so every shard has work
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a lab guest that runs one shard of the real tier (ZFSYNC_LAB_SHARD=i/N, set by
    tests/lab/guest-job.sh): deselect the other shards' tests. Inactive when it is unset."""
    spec = lab_shard.shard_from_env()
    if spec is None:
        return
    keep = lab_shard.mine(
        [item.nodeid for item in items],
        spec,
        lab_shard.load_weights(),
        [_marked_skipped(item) for item in items],
    )
    config.hook.pytest_deselected(items=[it for it, k in zip(items, keep, strict=True) if not k])
    items[:] = [it for it, k in zip(items, keep, strict=True) if k]


def _marked_skipped(item: pytest.Item) -> bool:
    """A skip mark, or a skipif mark whose condition is already a true bool (the project's
    are: REAL, MODEL_ONLY); a string condition or a skip inside the test counts as not."""
    return any(
        mark.name == "skip" or (mark.name == "skipif" and bool(mark.args) and mark.args[0] is True)
        for mark in item.iter_markers()
    )
