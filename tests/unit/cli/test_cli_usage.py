"""The command line itself: bad input is refused with exit 2 and a message that says what
was wrong, before anything talks to the bus (there is no bus here: reaching it would be
exit 7, not 2). Help, the exit-code epilog and shell completion."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner

from zfsyncctl.command import wants_interactive
from zfsyncctl.main import cli


@pytest.fixture(autouse=True)
def no_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/zfsync-test.sock")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["snapshot", "create", "-o", "foo=bar", "tank"], "'foo' is not a ZFS user property"),
        (["snapshot", "create", "-o", "novalue", "tank"], "'novalue' is not key=value"),
        (
            ["snapshot", "create", "-o", "a:b=1", "-o", "a:b=2", "tank"],
            "'a:b' is given twice",
        ),
        (["snapshot", "create"], "Missing argument 'DATASET...'"),
        (["snapshot", "create", "tank@snap"], "'tank@snap' is not a dataset name"),
        (["snapshot", "create", "--timeout", "soon", "tank"], "'soon' is not a duration"),
        (["snapshot", "create", "--priority", "x", "tank"], "'x' is not a valid integer"),
        (["snapshot", "destroy", "tank"], "'tank' is not a snapshot name"),
        (["snapshot", "list", "tank@x"], "'tank@x' is not a dataset name"),
        (["transaction", "list", "--since", "yesterday"], "'yesterday' is neither"),
        (["transaction", "list", "--state", "DONE"], "'DONE' is not one of"),
        (["transaction", "list", "--limit", "-1"], "-1 is not in the range"),
        (["transaction", "cleanup", "--older-than", "1d", "--run"], "--run is for the queue"),
        (["transaction", "cleanup", "--older-than", "0"], "must be longer than zero"),
        (["transaction", "rollback"], "give either a transaction ID or --last-failed"),
        (["transaction", "rollback", "t1", "--last-failed"], "give either"),
        (["transaction", "show"], "Missing argument 'ID'"),
        (["transaction", "frobnicate"], "No such command 'frobnicate'"),
        (["status", "--jsn"], "Did you mean '--json'?"),
    ],
)
def test_bad_input_is_a_usage_error(argv: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_state_is_case_insensitive_and_reaches_the_bus() -> None:
    result = CliRunner().invoke(cli, ["transaction", "list", "--state", "failed"])
    assert result.exit_code == 7
    assert result.stderr.startswith("zfsyncctl: cannot connect to the system bus at unix:path=")


def test_help_lists_the_exit_codes() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for line in ["0  success", "3  not authorized (polkit said no)", "7  zfsyncd cannot be"]:
        assert line in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["transaction", "list"],
        ["transaction", "show", "t1"],
        ["transaction", "watch", "t1"],
        ["transaction", "rollback", "--last-failed"],
        ["transaction", "cancel", "t1"],
        ["transaction", "retry", "t1"],
        ["transaction", "cleanup", "--older-than", "30d"],
        ["snapshot", "create", "tank"],
        ["snapshot", "list"],
        ["snapshot", "destroy", "tank@zfsync_1"],
    ],
)
def test_every_command_takes_json_and_says_so_on_error(argv: list[str]) -> None:
    result = CliRunner().invoke(cli, [*argv, "--json", "--no-ask-password"])
    assert result.exit_code == 7
    assert '"kind": "DaemonUnavailableError"' in result.stdout
    assert '"exit_code": 7' in result.stdout


def test_bash_completion_script() -> None:
    result = CliRunner().invoke(
        cli, [], prog_name="zfsyncctl", env={"_ZFSYNCCTL_COMPLETE": "bash_source"}
    )
    assert result.exit_code == 0
    assert "_zfsyncctl_completion" in result.stdout


def test_completion_of_commands() -> None:
    result = CliRunner().invoke(
        cli,
        [],
        prog_name="zfsyncctl",
        env={
            "_ZFSYNCCTL_COMPLETE": "bash_complete",
            "COMP_WORDS": "zfsyncctl tra",
            "COMP_CWORD": "1",
        },
    )
    assert result.stdout.split() == ["plain,transaction"]


def test_completion_of_ids_without_a_daemon_is_empty() -> None:
    result = CliRunner().invoke(
        cli,
        [],
        prog_name="zfsyncctl",
        env={
            "_ZFSYNCCTL_COMPLETE": "bash_complete",
            "COMP_WORDS": "zfsyncctl transaction show ",
            "COMP_CWORD": "3",
        },
    )
    assert result.exit_code == 0
    assert result.stdout.strip() == ""


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_interactive_authorization_only_on_a_terminal() -> None:
    assert wants_interactive(False, _Tty()) is True
    assert wants_interactive(True, _Tty()) is False
    assert wants_interactive(False, io.StringIO()) is False
