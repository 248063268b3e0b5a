"""zfsyncctl: the command-line client of zfsyncd (click CLI -> typed async D-Bus client ->
rendering). It talks to the daemon over the system bus only; it never runs zfs itself.

Modules: main.py (click commands), connection.py (one bus connection: calls, errors),
client.py (ZfsyncClient: the Manager's methods, typed), listing.py and rows.py
(ListTransactions without pydantic: `transaction list` is the command people wait for),
watch.py (following one transaction's signals), models.py (pydantic models of replies and
signals), errors.py / exitcodes.py (D-Bus errors -> typed errors -> exit codes), params.py
(durations, times, -o key=value), render.py (tables, JSON), progress.py (bar or lines).
Usage and exit codes: zfsyncctl/README.md and `zfsyncctl --help`.
"""
