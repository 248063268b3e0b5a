"""The lab guest's sshd as a zfsyncd host: `[hosts.loop]`, reached by ssh to 127.0.0.1.

tests/lab/guest-sshd.sh starts sshd in the guest with a host key, a client key and an account
made for the run, and guest-job.sh exports ZFSYNC_LAB_SSH naming the directory that holds
them. Here that becomes what an administrator would write in /etc/zfsync/zfsyncd.toml, read
by the daemon's own loader: the ssh command and its options are configuration (an argv
list), never a shell line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from zfsyncd import config
from zfsyncd.config import DaemonConfig

#: the environment variable guest-job.sh sets once its sshd lets the client key in
LAB_SSH_ENV = "ZFSYNC_LAB_SSH"
#: the host's name in the configuration (and in steps' `host=`)
HOST = "loop"


def lab_ssh_dir() -> Path:
    """The directory of this run's sshd material; a test that needs it fails without it."""
    value = os.environ.get(LAB_SSH_ENV)
    if not value:
        pytest.fail(
            f"{LAB_SSH_ENV} is not set: the lab job exports it once its sshd works "
            "(tests/lab/guest-sshd.sh); see the GUEST lines of build/real-job.out"
        )
    return Path(value)


def ssh_options(material: Path) -> list[str]:
    """The options a daemon's configuration would carry for this host: its key, and the
    known host key checked strictly (a changed key must stop replication, not be learnt)."""
    return [
        "-F", "/dev/null",  # neither root's ~/.ssh/config nor /etc/ssh/ssh_config applies
        "-i", str(material / "client_key"),
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={material / 'known_hosts'}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "ConnectTimeout=60",  # a TCG guest under load is slow to answer
    ]  # fmt: skip


def config_text(material: Path) -> str:
    """The `[hosts.loop]` table, as TOML (JSON's string syntax is TOML's basic string)."""
    port = int((material / "port").read_text())
    user = (material / "user").read_text().strip()
    options = ", ".join(json.dumps(option) for option in ssh_options(material))
    return (
        f"[hosts.{HOST}]\n"
        f'address = "127.0.0.1"\n'
        f"user = {json.dumps(user)}\n"
        f"port = {port}\n"
        f"ssh_options = [{options}]\n"
    )


def loop_config(directory: Path) -> DaemonConfig:
    """The daemon's configuration with `[hosts.loop]`, loaded from a file in `directory`
    by zfsyncd.config.load, as the daemon loads /etc/zfsync/zfsyncd.toml."""
    path = directory / "zfsyncd.toml"
    path.write_text(config_text(lab_ssh_dir()))
    return config.load(path)
