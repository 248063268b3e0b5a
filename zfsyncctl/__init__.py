"""zfsyncctl: the command-line client of zfsyncd (click CLI -> typed D-Bus client -> rendering).

It talks to the daemon over the system bus only; it never runs zfs itself. The commands
arrive with the bus API (issue 4: `status`, `transaction list|show|watch|rollback|...`).
"""
