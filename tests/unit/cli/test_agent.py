"""pkttyagent is started for zfsyncctl's own process only when a person can answer."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import pytest

from zfsyncctl import agent


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
    with agent.tty_agent(False) as proc:
        assert proc is None
    monkeypatch.setattr(agent.shutil, "which", lambda _name: None)  # polkit's agent missing
    with agent.tty_agent(True) as proc:
        assert proc is None


def test_the_real_agent_starts_and_stops() -> None:
    """pkttyagent itself (without a bus it gives up at once): tty_agent never hangs."""
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
