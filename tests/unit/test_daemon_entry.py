"""The daemon's command line and its logging (the rest of it runs in tests/system)."""

from __future__ import annotations

import logging
from pathlib import Path

from click.testing import CliRunner

from zfsyncd.daemon import EX_CONFIG, main
from zfsyncd.logs import JournalFormatter


def test_a_bad_configuration_stops_it_before_anything_starts(tmp_path: Path) -> None:
    config = tmp_path / "zfsyncd.toml"
    config.write_text("max_parallel = 0\nbogus = 1\n")
    result = CliRunner().invoke(main, ["--config", str(config)])
    assert result.exit_code == EX_CONFIG
    assert "zfsyncd: invalid configuration" in result.output
    assert "max_parallel" in result.output
    assert "bogus: is not a known key" in result.output
    missing = CliRunner().invoke(main, ["--config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == EX_CONFIG
    assert "does not exist" in missing.output


def test_check_config_prints_the_result(tmp_path: Path) -> None:
    config = tmp_path / "zfsyncd.toml"
    config.write_text('backend = "memory"\nmemory_pools = ["tank"]\n')
    result = CliRunner().invoke(main, ["--config", str(config), "--check-config"])
    assert result.exit_code == 0, result.output
    assert '"backend": "memory"' in result.output


def test_journal_lines_carry_the_priority_on_every_line() -> None:
    formatter = JournalFormatter("%(name)s: %(message)s")
    record = logging.LogRecord("zfsyncd", logging.ERROR, __file__, 1, "a\nb", None, None)
    assert formatter.format(record) == "<3>zfsyncd: a\n<3>b"
    info = logging.LogRecord("zfsyncd", logging.INFO, __file__, 1, "up", None, None)
    assert formatter.format(info) == "<6>zfsyncd: up"
