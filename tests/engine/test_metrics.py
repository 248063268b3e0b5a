"""The metrics (zfsyncd/metrics/) after real transactions on the model of two hosts: the
endpoint started as the daemon starts it, scraped over HTTP by a real client (urllib) and
parsed with prometheus_client's own parser; the textfile written beside it; and what a
scrape costs: a storm of scrapes is one reading, and a reading's zfs commands are the same
for one pair as for six."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.engine.replicas import KIB, MODEL_ONLY, Replicas, filesystem
from zfsyncd.metrics.service import MetricsService
from zfsyncd.store import StepState, TxState
from zfsyncd.zfs.models import ObjectType

pytestmark = MODEL_ONLY

#: (sample name, labels as sorted pairs) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
PAIR = (("destination", "backup:bak/a"), ("source", "local:src/a"))


def _with_side(side: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((*PAIR, ("side", side))))


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def fetch(url: str, method: str = "GET") -> tuple[int, str, str]:
    """A request with the standard library's client: (status, content type, body)."""
    request = urllib.request.Request(url, method=method)  # noqa: S310 - http://127.0.0.1
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Replicas]:
    r = await Replicas.start(tmp_path / "zfsyncd.db")
    yield r
    await r.close()


@pytest.fixture
async def metrics(replicas: Replicas) -> AsyncIterator[MetricsService]:
    # figures that never go stale within a test: each test says when to read again
    service = MetricsService(replicas.manager, port=0, max_age=3600.0)
    await service.start()
    yield service
    await service.stop()


async def scrape(service: MetricsService, fresh: bool = True) -> Samples:
    """The endpoint's figures over HTTP (read again first unless `fresh` is False)."""
    if fresh:
        service.cache.forget()
    assert service.endpoint is not None
    url = f"http://127.0.0.1:{service.endpoint.port}/metrics"
    status, kind, body = await asyncio.to_thread(fetch, url)
    assert (status, kind.split(";")[0]) == (200, "text/plain")
    return parse(body)


async def snapshot_count(r: Replicas, host: str, dataset: str) -> int:
    listed = await r.model(host).list(dataset, types=[ObjectType.SNAPSHOT], depth=1)
    return len(listed)


async def test_the_figures_after_inits_syncs_and_a_failure(
    replicas: Replicas, metrics: MetricsService
) -> None:
    await filesystem(replicas.local, "src/a")
    await replicas.done(
        "replica-init", {"source": "src/a", "destination": "backup:bak/a", "savecount": 3}
    )
    first = await scrape(metrics)
    sent_at_init = first[("zfsync_sent_bytes_total", PAIR)]
    assert sent_at_init >= 64 * KIB  # the full stream of what filesystem() wrote
    assert first[("zfsync_replica_lag_bytes", PAIR)] == 0
    assert first[("zfsync_replica_lag_seconds", PAIR)] == 0
    assert first[("zfsync_replica_up", PAIR)] == 1

    replicas.local.write("src/a", 40 * KIB)
    behind = await scrape(metrics)
    assert behind[("zfsync_replica_lag_bytes", PAIR)] >= 40 * KIB
    assert behind[("zfsync_replica_unsent_snapshots", PAIR)] == 0

    sync = await replicas.done("replica-sync", {"sources": ["src/a"]})
    replicas.local.write("src/a", 8 * KIB)
    replicas.faults["local"].fail_from(len(replicas.faults["local"].calls))
    failed = await replicas.run("replica-sync", {"sources": ["src/a"]})
    replicas.faults["local"].heal()
    assert failed.state is TxState.FAILED

    after = await scrape(metrics)
    outcomes = {
        labels: value for (name, labels), value in after.items()
        if name == "zfsync_transactions_total"
    }  # fmt: skip
    assert outcomes == {
        (("outcome", "COMPLETED"), ("type", "replica-expire")): 1,
        (("outcome", "COMPLETED"), ("type", "replica-init")): 1,
        (("outcome", "COMPLETED"), ("type", "replica-sync")): 1,
        (("outcome", "FAILED"), ("type", "replica-sync")): 1,
    }
    assert after[("zfsync_replica_last_success_timestamp_seconds", PAIR)] == sync.finished_at
    # bytes sent only grow: the sync's incremental came on top of the init's full stream
    assert after[("zfsync_sent_bytes_total", PAIR)] >= sent_at_init + 40 * KIB
    for side, host, dataset in (("source", "local", "src/a"), ("destination", "backup", "bak/a")):
        count = after[("zfsync_replica_snapshots", _with_side(side))]
        assert count == await snapshot_count(replicas, host, dataset), side
    # step durations: a histogram per step kind of the completed steps the store holds
    completed: dict[str, int] = {}
    for tx in await replicas.manager.list(limit=None):
        for step in (await replicas.manager.get(tx.id)).steps:
            if step.state is StepState.COMPLETED:
                completed[step.kind] = completed.get(step.kind, 0) + 1
    for kind, count in completed.items():
        assert after[("zfsync_step_duration_seconds_count", (("kind", kind),))] == count, kind
        inf = after[("zfsync_step_duration_seconds_bucket", (("kind", kind), ("le", "+Inf")))]
        assert inf == count
    # nothing waits: no queue, nothing running, no cleanup pending
    assert after[("zfsync_queued_transactions", ())] == 0
    assert after[("zfsync_running_transactions", ())] == 0
    assert not [k for k in after if k[0] == "zfsync_pending_cleanups"]


async def test_a_pair_whose_target_cannot_be_read_is_down_and_others_are_not(
    replicas: Replicas, metrics: MetricsService
) -> None:
    for name in ("a", "b"):
        await filesystem(replicas.local, f"src/{name}")
        await replicas.done(
            "replica-init", {"source": f"src/{name}", "destination": f"backup:bak/{name}"}
        )
    del replicas.manager.hosts["backup"]  # as a [hosts.backup] table taken out of the config
    found = await scrape(metrics)
    assert found[("zfsync_replica_up", PAIR)] == 0
    assert ("zfsync_replica_lag_seconds", PAIR) not in found  # unknown, not 0
    assert found[("zfsync_replica_snapshots", _with_side("source"))] >= 1
    assert ("zfsync_replica_snapshots", _with_side("destination")) not in found
    assert found[("zfsync_replicas_read_ok", ())] == 1


async def test_a_storm_of_scrapes_is_one_reading(
    replicas: Replicas, metrics: MetricsService
) -> None:
    await filesystem(replicas.local, "src/a")
    await replicas.done("replica-init", {"source": "src/a", "destination": "backup:bak/a"})
    metrics.cache.forget()
    replicas.forget_calls()
    before = metrics.cache.readings
    found = await asyncio.gather(*(scrape(metrics, fresh=False) for _ in range(20)))
    assert metrics.cache.readings == before + 1
    assert all(f == found[0] for f in found)
    one_reading = replicas.calls()
    assert one_reading["local"] == ["list", "list_many", "holds_many"]
    assert one_reading["backup"] == ["list_many", "holds_many"]


async def test_a_readings_zfs_commands_do_not_grow_with_the_pairs(
    replicas: Replicas, metrics: MetricsService
) -> None:
    counts = []
    for n in range(6):
        await filesystem(replicas.local, f"src/d{n}")
        host = "local:dst" if n % 2 else "backup:bak"
        await replicas.done("replica-init", {"source": f"src/d{n}", "destination": f"{host}/d{n}"})
        if n in (1, 5):  # one pair on each host, then three on each
            replicas.forget_calls()
            await scrape(metrics)
            counts.append(replicas.calls())
    assert counts[0] == counts[1]


async def test_other_paths_and_methods_are_refused(metrics: MetricsService) -> None:
    assert metrics.endpoint is not None
    base = f"http://127.0.0.1:{metrics.endpoint.port}"
    status, _, body = await asyncio.to_thread(fetch, f"{base}/")
    assert (status, body) == (404, "the metrics are at /metrics\n")
    status, _, _ = await asyncio.to_thread(fetch, f"{base}/metrics", "POST")
    assert status == 405


async def test_the_textfile_is_what_the_endpoint_serves(replicas: Replicas, tmp_path: Path) -> None:
    await filesystem(replicas.local, "src/a")
    await replicas.done("replica-init", {"source": "src/a", "destination": "backup:bak/a"})
    path = tmp_path / "textfile" / "zfsyncd.prom"
    path.parent.mkdir()
    path.write_text("# an older one\n")
    service = MetricsService(replicas.manager, textfile=path, max_age=3600.0)
    await service.write_textfile()
    served = parse((await service.render()).decode())
    assert parse(path.read_text()) == served
    assert served[("zfsync_replica_up", PAIR)] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["zfsyncd.prom"]  # no leftover
