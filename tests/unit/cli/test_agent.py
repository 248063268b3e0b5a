"""pkttyagent is started for zfsyncctl's own process only when a person can answer: stdin
is a terminal and the process has a controlling terminal for the agent to ask on."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.unit.cli.daemon_double import DaemonDouble
from zfsyncctl import agent

REPO = Path(__file__).resolve().parents[3]


class FakeAgent:
    started: ClassVar[list[list[str]]] = []

    def __init__(self, argv: list[str], pass_fds: tuple[int, ...] | list[int]) -> None:
        self.started.append(argv)
        self.fds = list(pass_fds)
        self.terminated = False

    def terminate(self) -> None:
        self.terminated = True

    def wait(self, timeout: float) -> int:
        return 0


def test_started_for_this_process_when_interactive(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeAgent.started.clear()
    monkeypatch.setattr(agent.shutil, "which", lambda _name: "/usr/bin/pkttyagent")
    monkeypatch.setattr(agent.subprocess, "Popen", FakeAgent)
    monkeypatch.setattr(agent, "READY_TIMEOUT", 0.01)
    monkeypatch.setattr(agent, "has_controlling_terminal", lambda: True)
    with agent.tty_agent(True) as proc:
        assert isinstance(proc, FakeAgent)
        argv = FakeAgent.started[0]
        assert argv[:2] == ["/usr/bin/pkttyagent", "--notify-fd"]
        assert argv[3:] == ["--fallback", "--process", str(os.getpid())]
        assert proc.fds == [int(argv[2])]
    assert proc.terminated


def test_not_started_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("no agent may start")

    monkeypatch.setattr(agent.subprocess, "Popen", refuse)
    monkeypatch.setattr(agent, "has_controlling_terminal", lambda: True)
    with agent.tty_agent(False) as proc:
        assert proc is None
    monkeypatch.setattr(agent.shutil, "which", lambda _name: None)  # polkit's agent missing
    with agent.tty_agent(True) as proc:
        assert proc is None
    monkeypatch.setattr(agent.shutil, "which", lambda _name: "/usr/bin/pkttyagent")
    monkeypatch.setattr(agent, "has_controlling_terminal", lambda: False)  # nowhere to ask
    with agent.tty_agent(True) as proc:
        assert proc is None


def _probe() -> list[str]:
    code = "from zfsyncctl.agent import has_controlling_terminal as h; print(h())"
    return [sys.executable, "-c", code]


def test_no_controlling_terminal_in_a_new_session() -> None:
    """A process in a session of its own (setsid, as a CI job or a service runs) has none,
    even with a terminal on stdin."""
    _, tty = pty.openpty()
    try:
        found = subprocess.run(
            _probe(), stdin=tty, capture_output=True, text=True, start_new_session=True,
            cwd=REPO, check=True, timeout=30,
        )  # fmt: skip
    finally:
        os.close(tty)
    assert found.stdout.strip() == "False"


def test_a_controlling_terminal_is_found() -> None:
    """pty.fork() gives the child the pty as its controlling terminal: a person's shell."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a new session whose controlling terminal is the pty
        os.chdir(REPO)
        os.execv(sys.executable, _probe())  # noqa: S606 - our own interpreter, no shell
    output = b""
    try:
        while True:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the pty
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    assert output.decode().strip() == "True"


def test_zfsyncctl_with_a_pty_on_stdin_and_no_controlling_terminal_prints_nothing_else(
    double: DaemonDouble,
) -> None:
    """Issue 10: stdin on a pty, no controlling terminal (a CI job's shape). Before, the
    agent was started and printed "Error creating textual authentication agent" to stderr;
    now it is not started and stderr stays empty."""
    _, tty = pty.openpty()
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": double.address, "PYTHONPATH": str(REPO)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "zfsyncctl", "status", "--json"], stdin=tty,
            capture_output=True, text=True, start_new_session=True, env=env, cwd=REPO,
            check=False, timeout=60,
        )  # fmt: skip
    finally:
        os.close(tty)
    assert (done.returncode, done.stderr) == (0, "")
    # the call still let polkit ask through another agent (a desktop's): stdin is a terminal
    (flags,) = [f for member, _, f in double.calls if member == "GetStatus"]
    assert flags & 0x4  # ALLOW_INTERACTIVE_AUTHORIZATION


def test_the_real_agent_starts_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """pkttyagent itself (without a bus it gives up at once): tty_agent never hangs."""
    monkeypatch.setattr(agent, "has_controlling_terminal", lambda: True)
    env_before = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/bus"
    try:
        with agent.tty_agent(True) as proc:
            assert proc is not None
        assert proc.poll() is not None
    finally:
        if env_before is None:
            del os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
        else:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = env_before
