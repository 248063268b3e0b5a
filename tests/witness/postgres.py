"""A throwaway PostgreSQL cluster for the witness's tests: initdb in a temporary directory,
listening on a unix socket of its own only (no TCP), stopped and removed at the end.

PostgreSQL refuses to run as root: as root, the cluster runs as `nobody` (setpriv); as
another user, as that user. Debian's `postgresql` package gives the programs
(tests/setup-host.sh installs it); its own `main` cluster is not touched.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "witness"


def bindir() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


def _as_owner(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *argv]


@dataclass(frozen=True)
class Cluster:
    socket_dir: Path

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def dsn(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"


@contextmanager
def cluster() -> Iterator[Cluster]:
    bin_ = bindir()
    if bin_ is None:
        raise RuntimeError("PostgreSQL is not installed: run tests/setup-host.sh (apt: postgresql)")
    top = Path(tempfile.mkdtemp(prefix="witness-pg-"))
    data, sock = top / "data", top / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        for p in (top, sock):
            shutil.chown(p, "nobody", "nogroup")
    top.chmod(0o755)  # the tests (root) reach the socket; the data directory stays 0700
    log = top / "log"
    run = dict(check=True, capture_output=True, text=True, cwd="/")
    try:
        subprocess.run(
            _as_owner(
                [
                    str(bin_ / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            ),
            **run,
        )
        options = f"-c listen_addresses='' -k {sock} -c fsync=off -c full_page_writes=off"
        subprocess.run(
            _as_owner(
                [
                    str(bin_ / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "start",
                ]
            ),
            **run,
        )
        try:
            yield Cluster(sock)
        finally:
            subprocess.run(
                _as_owner([str(bin_ / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                **run,
            )
    except subprocess.CalledProcessError as exc:
        detail = log.read_text() if log.exists() else ""
        raise RuntimeError(f"{exc.cmd[0]}: {exc.stderr}{detail}") from None
    finally:
        shutil.rmtree(top, ignore_errors=True)
