"""Commands that copy file trees (rsync): beside zfs/ in the layers, below tx/. It copies
into a directory a step hands it (a mounted dataset); of ZFS it only checks, through the
backend a step hands it, that the dataset is mounted there (mounts.py)."""
