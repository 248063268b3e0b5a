"""`[witness]` in zfsyncd.toml: off when absent; what it takes and refuses; the daemon's
client built from it, its key read from the file and shown nowhere."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from zfsyncd.config import ConfigError, load
from zfsyncd.daemon import build_witness

SYSTEM = "6f1c0d9e-1111-4222-8333-944455556666"


def write(tmp_path: Path, witness: str) -> Path:
    path = tmp_path / "zfsyncd.toml"
    path.write_text(
        '[hosts.nas]\naddress = "nas.lan"\n\n' + (f"[witness]\n{witness}" if witness else "")
    )
    return path


def test_no_witness_table_no_witness(tmp_path: Path) -> None:
    assert load(write(tmp_path, "")).witness is None


def test_the_table_is_read(tmp_path: Path) -> None:
    key = tmp_path / "witness.key"
    text = f'url = "https://w.lan:8470"\nkey_file = "{key}"\nsystem_id = "{SYSTEM}"\n'
    w = load(write(tmp_path, text + 'report_interval = 60\npools = ["tank"]\n')).witness
    assert w is not None
    assert (w.url, w.key_file, w.system_id) == ("https://w.lan:8470", key, uuid.UUID(SYSTEM))
    assert (w.report_interval, w.heartbeat_interval, w.pools) == (60.0, 60.0, ["tank"])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (f'url = "ftp://w"\nkey_file = "/k"\nsystem_id = "{SYSTEM}"\n', "url"),
        (f'url = "http://w"\nkey_file = "k"\nsystem_id = "{SYSTEM}"\n', "absolute"),
        ('url = "http://w"\nkey_file = "/k"\nsystem_id = "nas1"\n', "system_id"),
        (f'url = "http://w"\nkey_file = "/k"\nsystem_id = "{SYSTEM}"\nkey = "x"\n', "key"),
        (f'url = "http://w"\nkey_file = "/k"\nsystem_id = "{SYSTEM}"\npools = ["a/b"]\n', "pools"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load(write(tmp_path, text))


async def test_the_daemon_reads_the_key_and_maps_its_hosts(tmp_path: Path) -> None:
    key = tmp_path / "witness.key"
    key.write_text("zfsw_s_x_s3cret\n")
    text = f'url = "http://w.lan/"\nkey_file = "{key}"\nsystem_id = "{SYSTEM}"\n'
    config = load(write(tmp_path, text))
    manager = cast(Any, SimpleNamespace(listeners=[], db=None))
    client = build_witness(config, manager)
    assert client is not None
    try:
        assert client.labels == {"nas": "nas", "nas.lan": "nas"}
        assert client.http.url == "http://w.lan"
        assert len(manager.listeners) == 1  # reports follow completed transactions
        assert "s3cret" not in repr(vars(client))
        assert "s3cret" not in repr(vars(client.http))
    finally:
        await client.http.close()
    key.write_text("")
    with pytest.raises(ValueError, match="holds no API key"):
        build_witness(config, manager)
