"""The metrics of the real daemon on the private system bus: configured with a port and a
textfile, it serves the figures on 127.0.0.1 once it has started, a replica made through
zfsyncctl shows in them, the textfile is there, and a clean stop closes the endpoint."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.system.daemon import start_daemon
from tests.system.harness import SystemBus

PAIR = {"source": "local:tank", "destination": "local:backup/tank"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(port: int) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=30) as reply:
        assert reply.status == 200
        return str(reply.read().decode())


async def test_the_daemon_serves_metrics_when_configured(
    system_bus: SystemBus, tmp_path: Path
) -> None:
    port = free_port()
    textfile = tmp_path / "node" / "zfsyncd.prom"
    textfile.parent.mkdir()
    daemon = await start_daemon(
        system_bus, tmp_path / "daemon", metrics_port=port, metrics_textfile=str(textfile),
        metrics_max_age=0.1,
    )  # fmt: skip
    try:
        init = daemon.ctl("replica", "init", "tank", "backup/tank")
        assert init.returncode == 0, init.stderr
        found = samples(await asyncio.to_thread(scrape, port))
        pair = tuple(sorted(PAIR.items()))
        assert found[("zfsync_replica_up", pair)] == 1
        assert found[("zfsync_replica_lag_bytes", pair)] == 0
        done = (("outcome", "COMPLETED"), ("type", "replica-init"))
        assert found[("zfsync_transactions_total", done)] == 1
        # written at start (before the init), then every interval: whole, never half
        assert samples(textfile.read_text())[("zfsync_replicas_read_ok", ())] == 1
    finally:
        assert system_bus.stop(daemon.proc) == 0, daemon.log()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # closed with the daemon
