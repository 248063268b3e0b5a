"""polkit/org.zfsync.policy and polkit/50-zfsync-admin.rules under a real polkitd on the
private bus, asked with pkcheck about real processes of each user."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import pytest

from tests.system.harness import ADMIN_RULES, SystemBus, User, polkit_rules
from tests.system.test_files import ADMIN_ACTIONS, CHANGE_ACTIONS, DESIGN_ACTIONS

# pkcheck's exit codes (pkcheck(1))
AUTHORIZED = 0
NEEDS_AUTHENTICATION = 2  # "not authorized ... -u wasn't passed": auth_admin without an agent
# an action of polkit itself, auth_admin for everyone: the rules must not grant it
FOREIGN_ACTION = "org.freedesktop.policykit.exec"


def test_polkitd_knows_exactly_our_actions(system_bus: SystemBus) -> None:
    """polkitd itself read the installed file (pkaction asks it over the bus)."""
    done = system_bus.run(["pkaction"])
    assert done.returncode == 0, done.stderr
    ours = {a for a in done.stdout.split() if a.startswith("org.zfsync.")}
    assert ours == DESIGN_ACTIONS


@pytest.mark.parametrize("action", sorted(DESIGN_ACTIONS))
def test_polkitd_reads_the_defaults(system_bus: SystemBus, action: str) -> None:
    done = system_bus.run(["pkaction", "--verbose", "--action-id", action])
    assert done.returncode == 0, done.stderr
    fields = dict(re.findall(r"^\s+([a-z_ ]+?):\s+(.*?)\s*$", done.stdout, re.MULTILINE))
    got = (fields["implicit any"], fields["implicit inactive"], fields["implicit active"])
    if action == "org.zfsync.read":
        assert got == ("yes", "yes", "yes")
    elif action in CHANGE_ACTIONS:
        assert got == ("auth_admin", "auth_admin", "auth_admin_keep")
    else:
        assert action in ADMIN_ACTIONS
        assert got == ("auth_admin", "auth_admin", "auth_admin")
    assert fields["description"]
    assert fields["message"]


def test_nobody_may_read(
    system_bus: SystemBus, nobody: User, user_process: Callable[[User], int]
) -> None:
    pid = user_process(nobody)
    done = system_bus.pkcheck("org.zfsync.read", pid)
    assert done.returncode == AUTHORIZED, done.stderr


@pytest.mark.parametrize("action", sorted(DESIGN_ACTIONS - {"org.zfsync.read"}))
def test_nobody_may_change_nothing(
    system_bus: SystemBus, nobody: User, user_process: Callable[[User], int], action: str
) -> None:
    pid = user_process(nobody)
    done = system_bus.pkcheck(action, pid)
    assert done.returncode == NEEDS_AUTHENTICATION, (done.stdout, done.stderr)


@pytest.mark.parametrize("action", sorted(DESIGN_ACTIONS))
def test_root_may_do_everything(system_bus: SystemBus, action: str) -> None:
    # this test process is root's: polkit authorizes uid 0 for every action
    done = system_bus.pkcheck(action, os.getpid())
    assert done.returncode == AUTHORIZED, done.stderr


async def test_admin_rules_grant_the_group_all_zfsync_actions(
    system_bus: SystemBus,
    nobody: User,
    zfsync_admin: User,
    user_process: Callable[[User], int],
) -> None:
    admin = user_process(zfsync_admin)
    other = user_process(nobody)
    # the group alone grants nothing: without the rules the admin is an ordinary user
    assert system_bus.pkcheck("org.zfsync.snapshot", admin).returncode == NEEDS_AUTHENTICATION

    async with polkit_rules(system_bus, ADMIN_RULES):
        for action in sorted(DESIGN_ACTIONS):
            done = system_bus.pkcheck(action, admin)
            assert done.returncode == AUTHORIZED, (action, done.stderr)
        # only org.zfsync.*, and only for the group
        assert system_bus.pkcheck(FOREIGN_ACTION, admin).returncode == NEEDS_AUTHENTICATION
        assert system_bus.pkcheck("org.zfsync.manage", other).returncode == NEEDS_AUTHENTICATION
        assert _rule_errors(system_bus.polkit_log()) == [], system_bus.polkit_log()

    # and gone with the file
    assert system_bus.pkcheck("org.zfsync.snapshot", admin).returncode == NEEDS_AUTHENTICATION


def _rule_errors(log: str) -> list[str]:
    """The polkit log's error lines, but for callers that had left before polkit looked
    them up (earlier tests flood and hang up on purpose): those say nothing of the rules."""
    return [
        line
        for line in log.splitlines()
        if "error" in line.lower() and "NameHasNoOwner" not in line and "no such name" not in line
    ]
