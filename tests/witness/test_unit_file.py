"""systemd/zfsync-witness.service passes `systemd-analyze verify` and runs the commands
that exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.system.test_files import systemd_verify

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "zfsync-witness.service"


@pytest.mark.usefixtures("systemd_analyze")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # the commands point at a file that exists (the package is not installed here)
    text = UNIT.read_text()
    lines = text.splitlines()
    execs = [line.split("=", 1)[1].split() for line in lines if line.startswith("ExecStart")]
    assert [e[1:] for e in execs] == [["migrate"], ["serve"]]
    copy = tmp_path / UNIT.name
    copy.write_text(
        "\n".join(
            line.split("=", 1)[0] + "=/bin/true" if line.startswith("ExecStart") else line
            for line in lines
        )
        + "\n"
    )
    rc, complaints = systemd_verify(copy)
    assert complaints == []
    assert rc == 0
