"""Requests validate their names and their consistency where they are made."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from zfsyncd.zfs.capabilities import Feature, parse_version
from zfsyncd.zfs.errors import UnsupportedFeatureError
from zfsyncd.zfs.models import RecvSpec, SendSpec


def test_send_spec_checks_names() -> None:
    with pytest.raises(ValidationError, match="invalid character ';'"):
        SendSpec(snapshot="p/fs@s;rm")
    with pytest.raises(ValidationError, match="expected a snapshot"):
        SendSpec(snapshot="p/fs@s2", base="p/fs")


def test_send_spec_needs_one_of_snapshot_or_token() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        SendSpec()
    with pytest.raises(ValidationError, match="exactly one"):
        SendSpec(snapshot="p/fs@s", resume_token="1-ab")
    with pytest.raises(ValidationError, match="hex digits"):
        SendSpec(resume_token="1-ab; reboot")
    assert SendSpec(resume_token="1-abc-9f").resume_token == "1-abc-9f"


def test_incremental_base_must_be_of_the_same_dataset() -> None:
    with pytest.raises(ValidationError, match="not of the same dataset"):
        SendSpec(snapshot="p/a@s2", base="p/b@s1")
    with pytest.raises(ValidationError, match="intermediates=False"):
        SendSpec(snapshot="p/a@s2", base="p/a#b1")
    assert SendSpec(snapshot="p/a@s2", base="p/a#b1", intermediates=False).dataset == "p/a"


def test_recv_spec_checks_target_and_properties() -> None:
    with pytest.raises(ValidationError, match="invalid ZFS name"):
        RecvSpec(target="p//x")
    with pytest.raises(ValidationError, match="tab, newline or NUL"):
        RecvSpec(target="p/x", properties={"zfsync:a": "x\ny"})
    with pytest.raises(ValidationError, match="not a property name"):
        RecvSpec(target="p/x", exclude_properties=("-o",))


def test_version_parsing_and_requirements() -> None:
    caps = parse_version("zfs-2.3.2-2~bpo12+2\nzfs-kmod-2.3.2-2~bpo12+2\n")
    assert caps.version == (2, 3, 2)
    assert caps.has(Feature.JSON_OUTPUT)
    old = parse_version("zfs-2.2.0-1\nzfs-kmod-0.7.13-1\n")
    assert old.version == (0, 7, 13)  # a feature needs the older of userland and module
    with pytest.raises(
        UnsupportedFeatureError, match=r"raw \(encrypted\) send needs OpenZFS 0\.8\.0"
    ):
        old.require(Feature.RAW_SEND)
    old.require(Feature.RESUMABLE_RECEIVE)


def test_zfs_fuse_is_unsupported_with_a_clear_message() -> None:
    with pytest.raises(UnsupportedFeatureError, match=r"needs OpenZFS 0\.8 or later"):
        parse_version("unrecognized command 'version'\nusage: zfs command args ...\n")
