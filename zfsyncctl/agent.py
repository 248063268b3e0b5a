"""polkit's text agent for this process, as systemctl starts it.

When polkit needs a password for a change and no desktop agent runs (an ssh session, a
console), nobody could be asked. So, when zfsyncctl may ask (stdin is a terminal and
--no-ask-password was not given), it starts `pkttyagent --fallback` for its own process
first: the agent registers only if no other agent serves the session, and polkit then asks
on this terminal. The agent says it is ready by closing the notify fd; zfsyncctl waits for
that (briefly) so the first call already finds it, and stops it on the way out.
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


@contextlib.contextmanager
def tty_agent(enabled: bool) -> Iterator[subprocess.Popen[bytes] | None]:
    agent = shutil.which("pkttyagent") if enabled else None
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
