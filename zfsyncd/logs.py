"""Logging that journald understands.

Under systemd (JOURNAL_STREAM is set, stderr goes to the journal) each line starts with the
syslog priority in angle brackets, which journald turns into the entry's priority, and
carries no timestamp (the journal has its own). On a terminal, lines carry the time and
level instead.
"""

from __future__ import annotations

import logging
import os
import sys

PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        # every line of a multi-line message (a traceback) keeps the entry's priority
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


def setup(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # the libraries' own chatter stays at warnings
    for noisy in ("aiosqlite", "transitions"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
