"""zfsyncd: ZFS work as persistent, reversible transactions."""
