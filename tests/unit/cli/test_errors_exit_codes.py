"""D-Bus error names -> typed errors -> exit codes, and the documented table."""

from __future__ import annotations

import re

import pytest

import zfsyncctl.exitcodes
import zfsyncctl.main
from zfsyncctl.errors import error_from_dbus
from zfsyncctl.exitcodes import EXIT_CODE_HELP, ExitCode
from zfsyncd.api.names import ErrorName

B = "org.freedesktop.DBus.Error."


@pytest.mark.parametrize(
    ("name", "code"),
    [
        (ErrorName.NOT_AUTHORIZED, 3),
        (ErrorName.NOT_FOUND, 4),
        (ErrorName.INVALID_ARGUMENT, 5),
        (ErrorName.REFUSED, 5),
        (ErrorName.BUSY, 6),
        (ErrorName.FAILED, 8),
        (B + "AccessDenied", 3),
        (B + "InteractiveAuthorizationRequired", 3),
        (B + "UnknownObject", 4),
        (B + "InvalidArgs", 5),
        (B + "ServiceUnknown", 7),
        (B + "NameHasNoOwner", 7),
        (B + "NoReply", 7),
        (B + "Spawn.ChildExited", 7),
        (B + "UnknownMethod", 8),
        ("com.example.Whatever", 8),
    ],
)
def test_error_names_map_to_exit_codes(name: str, code: int) -> None:
    err = error_from_dbus(name, "the message")
    assert err.exit_code == code
    assert "the message" in err.message
    assert err.dbus_name == name


def test_every_daemon_error_name_is_mapped() -> None:
    names = [v for k, v in vars(ErrorName).items() if k.isupper()]
    assert names
    for name in names:
        assert error_from_dbus(name, "x").exit_code in (3, 4, 5, 6, 8), name


def _table(doc: str) -> dict[int, str]:
    return {int(m[1]): m[2] for m in re.finditer(r"^\| (\d+) \| (.+?) \|$", doc, re.M)}


def test_the_documented_tables_name_every_code() -> None:
    codes = {int(c) for c in ExitCode}
    for module in (zfsyncctl.exitcodes, zfsyncctl.main):
        table = _table(module.__doc__ or "")
        assert codes <= set(table), module.__name__
    assert set(EXIT_CODE_HELP) == set(ExitCode)
    assert _table(zfsyncctl.exitcodes.__doc__ or "") == {
        k: v for k, v in _table(zfsyncctl.main.__doc__ or "").items() if k != 130
    }
