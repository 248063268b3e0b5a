"""Commands that copy file trees (rsync): beside zfs/ in the layers, below tx/. It knows
nothing of ZFS: a step hands it a directory that is a mounted dataset."""
