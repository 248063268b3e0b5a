"""polkit's text agent for this process, as systemctl starts it.

When polkit needs a password for a change and no desktop agent runs (an ssh session, a
console), nobody could be asked. So, when zfsyncctl may ask (stdin is a terminal and
--no-ask-password was not given), it starts `pkttyagent --fallback` for its own process
first: the agent registers only if no other agent serves the session, and polkit then asks
on this terminal. The agent says it is ready by closing the notify fd; zfsyncctl waits for
that (briefly) so the first call already finds it, and stops it on the way out.

The agent asks on the process's controlling terminal (/dev/tty), not on stdin. A terminal
on stdin does not mean there is one: a CI job, `setsid`, a container started with `-t`, or a
service given a pty has stdin on a pty and no controlling terminal, and there pkttyagent
only prints "Error creating textual authentication agent" on stderr and exits (issue 10).
So it is started only when /dev/tty opens too.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
from collections.abc import Iterator

#: how long to wait for the agent to register before going on without it
READY_TIMEOUT = 5.0
#: the controlling terminal of the process, whatever its stdin is
CONTROLLING_TERMINAL = "/dev/tty"


def has_controlling_terminal(path: str = CONTROLLING_TERMINAL) -> bool:
    """Whether the process has a terminal the agent can ask on: /dev/tty opens (ENXIO when
    there is no controlling terminal)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


@contextlib.contextmanager
def tty_agent(enabled: bool) -> Iterator[subprocess.Popen[bytes] | None]:
    """pkttyagent for this process while the block runs, when `enabled` (a person may be
    asked), the process has a controlling terminal and the agent is installed; else None."""
    usable = enabled and has_controlling_terminal()
    agent = shutil.which("pkttyagent") if usable else None
    if agent is None:
        yield None
        return
    ready, notify = os.pipe()
    try:
        proc = subprocess.Popen(
            [agent, "--notify-fd", str(notify), "--fallback", "--process", str(os.getpid())],
            pass_fds=[notify],
        )
    finally:
        os.close(notify)
    try:
        select.select([ready], [], [], READY_TIMEOUT)  # readable at EOF: it registered
        yield proc
    finally:
        os.close(ready)
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=READY_TIMEOUT)
