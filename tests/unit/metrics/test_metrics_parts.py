"""The metrics' parts without the engine: the endpoint's answers (a table), what it does
with clients that misbehave, the cache's age rule with a controlled clock, the atomic
textfile write when it fails, and the hook for job metrics (the configuration keys:
tests/unit/test_config.py)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from zfsyncd.metrics.families import exposition
from zfsyncd.metrics.figures import Figures, FiguresCache
from zfsyncd.metrics.http import MAX_HEADERS, Answer, MetricsEndpoint, answer
from zfsyncd.metrics.service import write_atomically

# --------------------------------------------------------------------------- the endpoint

ANSWERS: list[tuple[str, Answer]] = [
    ("GET /metrics HTTP/1.1", Answer("200 OK", figures=True)),
    ("GET /metrics?name[]=x HTTP/1.0", Answer("200 OK", figures=True)),
    ("HEAD /metrics HTTP/1.1", Answer("200 OK", figures=True, head=True)),
    ("GET / HTTP/1.1", Answer("404 Not Found", text="the metrics are at /metrics\n")),
    ("GET /metrics/ HTTP/1.1", Answer("404 Not Found", text="the metrics are at /metrics\n")),
    ("POST /metrics HTTP/1.1", Answer("405 Method Not Allowed", text="only GET and HEAD\n")),
    ("GET /metrics", Answer("400 Bad Request", text="bad request\n")),
    ("GET /metrics SPDY/3", Answer("400 Bad Request", text="bad request\n")),
    ("", Answer("400 Bad Request", text="bad request\n")),
]


@pytest.mark.parametrize(("line", "expected"), ANSWERS, ids=[a[0] or "empty" for a in ANSWERS])
def test_answer(line: str, expected: Answer) -> None:
    assert answer(line) == expected


async def _exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    reply = await reader.read()
    writer.close()
    return reply


async def test_a_silent_client_does_not_hold_up_others_and_a_flood_of_headers_is_dropped() -> None:
    async def render() -> bytes:
        return b"zfsync_up 1\n"

    endpoint = MetricsEndpoint(render, "127.0.0.1", 0)
    await endpoint.start()
    try:
        _, silent = await asyncio.open_connection("127.0.0.1", endpoint.port)  # sends nothing
        reply = await _exchange(endpoint.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
        assert reply.endswith(b"\r\n\r\nzfsync_up 1\n")
        flood = b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n"
        assert await _exchange(endpoint.port, flood) == b""
        long_line = b"GET /" + b"m" * 10_000 + b" HTTP/1.1\r\n\r\n"
        assert await _exchange(endpoint.port, long_line) == b""
        head = await _exchange(endpoint.port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
        assert head.endswith(b"Connection: close\r\n\r\n")  # the head only
        silent.close()
    finally:
        await endpoint.stop()


# --------------------------------------------------------------------------- the cache


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Reader:
    """Counts readings; each waits for `go` when it is given, so callers pile up."""

    count: int = 0
    go: asyncio.Event | None = None
    made: list[Figures] = field(default_factory=list)

    async def __call__(self) -> Figures:
        self.count += 1
        if self.go is not None:
            await self.go.wait()
        figures = Figures(read_at=float(self.count))
        self.made.append(figures)
        return figures


async def test_the_cache_reads_again_only_once_the_reading_is_older_than_its_age() -> None:
    clock, read = Clock(), Reader()
    cache = FiguresCache(read, max_age=5.0, clock=clock)
    first = await cache.get()
    clock.now = 4.9
    assert await cache.get() is first
    clock.now = 5.0
    second = await cache.get()
    assert (read.count, second.read_at) == (2, 2.0)
    cache.forget()
    assert (await cache.get()).read_at == 3.0


async def test_callers_that_ask_during_a_reading_share_it() -> None:
    read = Reader(go=asyncio.Event())
    cache = FiguresCache(read, max_age=5.0, clock=Clock())
    waiting = [asyncio.ensure_future(cache.get()) for _ in range(50)]
    await asyncio.sleep(0)  # every caller is waiting on the one reading
    read.go.set()  # type: ignore[union-attr]
    found = await asyncio.gather(*waiting)
    assert read.count == 1
    assert all(f is read.made[0] for f in found)


# --------------------------------------------------------------------------- the textfile


@pytest.fixture
def failing_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    def fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", fsync)


def test_a_textfile_written_whole_replaces_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "zfsyncd.prom"
    path.write_bytes(b"old\n")
    write_atomically(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zfsyncd.prom"]


@pytest.mark.usefixtures("failing_fsync")
def test_a_textfile_write_that_fails_leaves_the_old_one_and_no_leftover(tmp_path: Path) -> None:
    path = tmp_path / "zfsyncd.prom"
    path.write_bytes(b"old\n")
    with pytest.raises(OSError, match="Input/output"):
        write_atomically(path, b"new\n")
    assert path.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zfsyncd.prom"]


# --------------------------------------------------------------------------- the jobs hook


@dataclass(frozen=True)
class Target:
    """What the scheduler keeps per target (store/jobs.py's TargetState, on branch jobs)."""

    last_success_at: float | None = None
    last_error_at: float | None = None
    failures: int = 0


@dataclass(frozen=True)
class Job:
    """What the scheduler keeps per job (store/jobs.py's JobState, on branch jobs)."""

    name: str
    paused: bool = False
    next_run_at: float | None = None
    last_run_at: float | None = None
    last_success_at: float | None = None
    last_error_at: float | None = None
    failures: int = 0
    targets: dict[str, Target] = field(default_factory=dict)


def test_job_states_become_job_metrics() -> None:
    jobs = [
        Job("hourly", next_run_at=3600.0, last_run_at=100.0, last_success_at=160.0,
            targets={"backup": Target(last_success_at=150.0), "far": Target(failures=3)}),
        Job("new", paused=True),  # never ran: no times, not times of 0
    ]  # fmt: skip
    text = exposition(Figures(read_at=1.0, jobs=jobs)).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("zfsync_job_")
    }
    hourly, new = (("job", "hourly"),), (("job", "new"),)
    assert samples == {
        ("zfsync_job_last_run_timestamp_seconds", hourly): 100.0,
        ("zfsync_job_last_success_timestamp_seconds", hourly): 160.0,
        ("zfsync_job_next_run_timestamp_seconds", hourly): 3600.0,
        ("zfsync_job_failures", hourly): 0.0,
        ("zfsync_job_failures", new): 0.0,
        ("zfsync_job_paused", hourly): 0.0,
        ("zfsync_job_paused", new): 1.0,
        (
            "zfsync_job_target_last_success_timestamp_seconds",
            (*hourly, ("target", "backup")),
        ): 150.0,
        ("zfsync_job_target_failures", (*hourly, ("target", "backup"))): 0.0,
        ("zfsync_job_target_failures", (*hourly, ("target", "far"))): 3.0,
    }
