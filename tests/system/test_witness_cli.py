"""The witness client through the whole service: zfsyncd (memory backend, pool `tank`)
with `[witness]` naming a real `zfsync-witness serve` on a local port (tests/witness's
`served`: system A in group g), driven by zfsyncctl. The daemon reports by itself after a
snapshot transaction, `witness status` shows it reachable with its last report (also to
`nobody`: a read), `witness conflicts` is empty, the key is in no log. A daemon without
[witness] says so: status `configured` false, conflicts refused (exit 5)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.system.daemon import start_daemon
from tests.system.harness import SystemBus, User
from tests.witness.test_cli import served

__all__ = ["served"]  # the fixture, imported for pytest


async def _reported(witness: httpx.AsyncClient, key: str) -> bool:
    found = (await witness.get("/snapshots", headers={"X-API-Key": key})).json()
    return any(s["pool"] == "tank" and s["name"].startswith("zfsync_") for s in found)


async def test_the_daemon_reports_to_a_real_witness_and_zfsyncctl_shows_it(
    system_bus: SystemBus, nobody: User, tmp_path: Path, served: tuple[str, str, str]
) -> None:
    base, admin, key = served
    witness = httpx.AsyncClient(base_url=base, timeout=30)
    [system] = (await witness.get("/systems", headers={"X-API-Key": admin})).json()
    key_file = tmp_path / "witness.key"
    key_file.write_text(key + "\n")
    table = (
        f'[witness]\nurl = "{base.removesuffix("/api/v1")}"\nkey_file = "{key_file}"\n'
        f'system_id = "{system["id"]}"\nreport_interval = 1\nheartbeat_interval = 1\n'
    )
    daemon = await start_daemon(system_bus, tmp_path / "with", tables=table)
    try:
        made = daemon.ctl_json("snapshot", "create", "tank")
        assert made["state"] == "COMPLETED"
        for _ in range(300):  # the daemon's own loop sends it; a minute at most
            if await _reported(witness, key):
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail(f"the daemon never reported its snapshot:\n{daemon.log()}")
        status = daemon.ctl_json("witness", "status", user=nobody)
        assert (status["configured"], status["reachable"], status["unauthorized"]) == (
            True, True, False,
        )  # fmt: skip
        assert status["system_id"] == system["id"]
        assert status["last_report"] > 0
        assert key not in daemon.log()  # the key is never logged
        assert daemon.ctl_json("witness", "conflicts") == []
    finally:
        await witness.aclose()
        assert system_bus.stop(daemon.proc) == 0, daemon.log()
    bare = await start_daemon(system_bus, tmp_path / "without")
    try:
        assert bare.ctl_json("witness", "status")["configured"] is False
        refused = bare.ctl("witness", "conflicts")
        assert refused.returncode == 5, refused.stderr
        assert "no [witness]" in refused.stderr
    finally:
        assert system_bus.stop(bare.proc) == 0, bare.log()
