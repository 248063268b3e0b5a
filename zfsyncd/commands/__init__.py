"""Running commands (zfs, rsync, btrfs, ssh, ...): argv lists only, timeouts, typed errors.

Below zfs/ in the layers: it knows no command's messages. What a failure means is the
caller's business (zfs/ passes its own classifier, see zfsyncd.zfs.errors.ZFS_ERRORS).
"""
