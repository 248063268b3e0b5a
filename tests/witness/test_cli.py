"""`zfsync-witness` as an administrator runs it (python -m zfsync_witness, a process of its
own): migrate, keys, systems, groups, and `serve` on a real uvicorn and port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def witness(url: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "zfsync_witness", "--database-url", url, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "ZFSYNC_WITNESS_MAX_BODY_BYTES": "65536"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A migrated SQLite database with an admin key, a system A in group g, and the server
    on it: (base URL, admin key, A's key)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    assert "at revision head" in witness(url, "migrate")
    admin = witness(url, "admin-key", "create", "ops")
    first = witness(url, "system", "register", "A", "--hostname", "a.lan")
    key = witness(url, "system", "rotate-key", "A")
    assert key != first
    witness(url, "group", "create", "g", "--strategy", "use_newest")
    witness(url, "group", "add", "g", "A", "--pool", "tank")
    [g] = [json.loads(line) for line in witness(url, "group", "list").splitlines()]
    assert (g["name"], g["strategy"], len(g["members"])) == ("g", "use_newest", 1)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zfsync_witness",
                "--database-url",
                url,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=REPO,
            stdout=out,
            stderr=out,
            env={**os.environ, "ZFSYNC_WITNESS_MAX_BODY_BYTES": "65536"},
        )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(600):  # up to a minute on a loaded machine
            try:
                if httpx.get(f"{base}/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"serve exited: {log.read_text()}")
            time.sleep(0.1)
        else:
            pytest.fail("serve did not become ready")
        yield base, admin, key
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cli_administers_and_serves(served: tuple[str, str, str]) -> None:
    base, admin, key = served
    with httpx.Client(base_url=base, timeout=30) as c:
        [system] = c.get("/systems", headers={"X-API-Key": admin}).json()
        assert system["name"] == "A"
        sid = system["id"]
        r = c.post(f"/systems/{sid}/heartbeat", headers={"X-API-Key": key})
        assert r.status_code == 200
        # a chunked body (no Content-Length) over the configured bound, over real HTTP
        big = json.dumps(
            {"snapshots": [{"name": f"tank/d@s{i}", "created": i} for i in range(5000)]}
        ).encode()
        r = c.post(
            "/snapshots/batch",
            content=iter([big[i : i + 4096] for i in range(0, len(big), 4096)]),
            headers={"X-API-Key": key, "Content-Type": "application/json"},
        )
        assert r.status_code == 413
        r = c.post(
            "/snapshots/batch",
            content=big[:60000],
            headers={"X-API-Key": key, "Content-Type": "application/json"},
        )
        assert r.status_code == 422  # under the bound, cut in the middle: malformed
        assert c.get("/snapshots", headers={"X-API-Key": key}).json() == []
        assert c.get(base.removesuffix("/api/v1") + "/docs").status_code == 200
