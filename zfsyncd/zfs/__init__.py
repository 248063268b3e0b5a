"""The only code that runs zfs and zpool (DESIGN.md, layers)."""
