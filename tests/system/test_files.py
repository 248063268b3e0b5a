"""The files a distribution installs parse, and say what DESIGN.md and each other say.
No bus needed: these read the files (and ask systemd-analyze about the unit)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.system.harness import ACTIVATION_FILE, BUS_POLICY, POLKIT_POLICY, UNIT_FILE
from zfsyncd.api.names import BUS_NAME, MANAGER_IFACE, TRANSACTION_IFACE, Action

# DESIGN.md, "Names": the six actions, nothing more
DESIGN_ACTIONS = {
    "org.zfsync.read",
    "org.zfsync.snapshot",
    "org.zfsync.replicate",
    "org.zfsync.rollback",
    "org.zfsync.cancel-other-user",
    "org.zfsync.manage",
}
CHANGE_ACTIONS = ("org.zfsync.snapshot", "org.zfsync.replicate", "org.zfsync.rollback")
ADMIN_ACTIONS = ("org.zfsync.cancel-other-user", "org.zfsync.manage")


def parse(path: Path) -> ET.Element:
    # our own files from the repository, not untrusted input
    return ET.parse(path).getroot()  # noqa: S314


def test_names_py_has_the_design_actions() -> None:
    names = {v for k, v in vars(Action).items() if not k.startswith("_")}
    assert names == DESIGN_ACTIONS


def test_polkit_policy_has_exactly_the_design_actions() -> None:
    root = parse(POLKIT_POLICY)
    assert root.tag == "policyconfig"
    ids = [a.get("id") for a in root.iter("action")]
    assert len(ids) == len(set(ids))
    assert set(ids) == DESIGN_ACTIONS


def test_polkit_policy_defaults_and_texts() -> None:
    expected = {"org.zfsync.read": ("yes", "yes", "yes")}
    expected |= {a: ("auth_admin", "auth_admin", "auth_admin_keep") for a in CHANGE_ACTIONS}
    expected |= {a: ("auth_admin", "auth_admin", "auth_admin") for a in ADMIN_ACTIONS}
    for action in parse(POLKIT_POLICY).iter("action"):
        action_id = action.get("id")
        defaults = action.find("defaults")
        assert defaults is not None, action_id
        got = tuple(defaults.findtext(k) for k in ("allow_any", "allow_inactive", "allow_active"))
        assert got == expected[str(action_id)], action_id
        for text in ("description", "message"):
            value = action.findtext(text)
            assert value, f"{action_id} has no {text}"
            # a sentence for a person, not an identifier
            assert "org.zfsync" not in value
            assert " " in value


def test_bus_policy_owner_and_callers() -> None:
    root = parse(BUS_POLICY)
    assert root.tag == "busconfig"
    policies = root.findall("policy")
    owners = [(p.attrib, rule.attrib) for p in policies for rule in p if "own" in rule.attrib]
    # the one grant of ownership, to root only
    assert owners == [({"user": "root"}, {"own": BUS_NAME})]
    (default,) = [p for p in policies if p.get("context") == "default"]
    assert all(rule.tag == "allow" for rule in default)
    assert {rule.get("send_destination") for rule in default} == {BUS_NAME}
    assert {rule.get("send_interface") for rule in default} == {
        MANAGER_IFACE,
        TRANSACTION_IFACE,
        "org.freedesktop.DBus.Introspectable",
        "org.freedesktop.DBus.Properties",
        "org.freedesktop.DBus.Peer",
    }


def read_ini(path: Path) -> configparser.ConfigParser:
    # strict: a key or a section twice is an error, as it is a mistake in these files
    ini = configparser.ConfigParser(interpolation=None, strict=True)
    ini.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    ini.read_string(path.read_text(), source=str(path))
    return ini


def test_activation_file_names_the_bus_name_and_the_unit() -> None:
    ini = read_ini(ACTIVATION_FILE)
    assert ini.sections() == ["D-BUS Service"]
    service = dict(ini["D-BUS Service"])
    assert service == {
        "Name": BUS_NAME,
        "Exec": "/bin/false",
        "User": "root",
        "SystemdService": UNIT_FILE.name,
    }


def test_unit_agrees_with_the_activation_file_and_design() -> None:
    # systemd units allow a key more than once (DeviceAllow=): read them as lists
    values: dict[str, list[str]] = {}
    section = ""
    for line in UNIT_FILE.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(f"{section}.{key}", []).append(value)
    assert values["Service.Type"] == ["dbus"]
    assert values["Service.BusName"] == [BUS_NAME]
    assert values["Service.ExecStart"][0].split()[0] == "/usr/bin/zfsyncd"
    assert values["Service.StateDirectory"] == ["zfsync"]
    assert values["Service.ConfigurationDirectory"] == ["zfsync"]
    assert values["Service.KillMode"] == ["mixed"]
    assert "/dev/zfs rw" in values["Service.DeviceAllow"]
    # any of these would put the daemon's zfs mounts in a mount namespace of its own
    for key in (
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "PrivateMounts",
        "ReadWritePaths",
        "ReadOnlyPaths",
        "InaccessiblePaths",
        "MountFlags",
    ):
        assert f"Service.{key}" not in values, key


def systemd_verify(unit: Path) -> tuple[int, list[str]]:
    """systemd-analyze verify, and the lines of its output that are about this unit (it may
    also talk about units of the host that it loads along the way)."""
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, cwd=unit.parent
    )
    lines = (done.stdout + done.stderr).splitlines()
    return done.returncode, [line for line in lines if unit.name in line or str(unit) in line]


def verifiable_copy(tmp_path: Path, text: str | None = None) -> Path:
    """The unit under its own name in a temp dir, with ExecStart pointing to a file that
    exists: verify checks that the command is executable, and /usr/bin/zfsyncd exists only
    once the package is installed. Everything else is the file as shipped."""
    text = UNIT_FILE.read_text() if text is None else text
    lines = [
        "ExecStart=/bin/true" if line.startswith("ExecStart=") else line
        for line in text.splitlines()
    ]
    copy = tmp_path / UNIT_FILE.name
    copy.write_text("\n".join(lines) + "\n")
    return copy


@pytest.fixture
def systemd_analyze() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: run tests/setup-host.sh (apt: systemd)")


@pytest.mark.usefixtures("systemd_analyze")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    rc, complaints = systemd_verify(verifiable_copy(tmp_path))
    assert complaints == []
    assert rc == 0


@pytest.mark.usefixtures("systemd_analyze")
def test_verify_check_catches_a_bad_setting(tmp_path: Path) -> None:
    """The check above is only worth something if verify complains about our unit when it
    should: an unknown key and a bad value in an otherwise identical copy."""
    text = UNIT_FILE.read_text().replace(
        "KillMode=mixed", "KillMode=mixed\nProtectZfs=yes\nDeviceAllow=/dev/zfs rwq"
    )
    _, complaints = systemd_verify(verifiable_copy(tmp_path, text))
    assert any("ProtectZfs" in c for c in complaints), complaints
    assert any("rwq" in c for c in complaints), complaints
