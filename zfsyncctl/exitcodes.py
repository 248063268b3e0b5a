"""The exit codes of zfsyncctl: a contract with the scripts that call it.

| code | meaning |
| --- | --- |
| 0 | success (a transaction it waited for ended COMPLETED) |
| 1 | the transaction ended FAILED or CANCELLED |
| 2 | usage error (bad command line; click's own) |
| 3 | not authorized (polkit said no) |
| 4 | not found (no such transaction, dataset or snapshot) |
| 5 | invalid request, or refused by the daemon |
| 6 | busy: a dataset is in another transaction (--fail-if-busy), or polkit cannot be asked now |
| 7 | the daemon cannot be reached (no bus, zfsyncd not on it, or it left mid-call) |
| 8 | internal error (the daemon failed, or its reply made no sense) |
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    TRANSACTION_FAILED = 1
    USAGE = 2
    NOT_AUTHORIZED = 3
    NOT_FOUND = 4
    INVALID = 5
    BUSY = 6
    UNREACHABLE = 7
    INTERNAL = 8


#: one line per code, for `zfsyncctl --help`
EXIT_CODE_HELP: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.TRANSACTION_FAILED: "the transaction ended FAILED or CANCELLED",
    ExitCode.USAGE: "usage error",
    ExitCode.NOT_AUTHORIZED: "not authorized (polkit said no)",
    ExitCode.NOT_FOUND: "not found",
    ExitCode.INVALID: "invalid request, or refused",
    ExitCode.BUSY: "busy: a dataset is in another transaction (--fail-if-busy), or polkit "
    "could not be asked now (try again)",
    ExitCode.UNREACHABLE: "zfsyncd cannot be reached",
    ExitCode.INTERNAL: "internal error",
}
