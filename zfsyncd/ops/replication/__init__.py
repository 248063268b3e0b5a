"""Replication (seed 003, zrep's workflows) as transactions.

A replica is a pair of filesystems: the *source*, written by users, and the *destination*,
read-only, which receives the source's snapshots. Everything zfsyncd knows about a pair is
stored in ZFS itself, in user properties on both datasets (props.py), so the pair survives
the daemon's database and any other tool can read it; the destination is a plain ZFS
replica (ordinary snapshots, nothing only zfsyncd can read).

The modules:
- props.py      the `zfsync:*` properties, roles and the peer address (`HOST:DATASET`)
- requests.py   the request model of every replica transaction type (the bus methods and
                zfsyncctl's options follow from them)
- inventory.py  reading one side (a host's datasets with their snapshots, bookmarks and
                holds): one `zfs list` and at most one `zfs holds`, whatever the number
- choose.py     the pure decisions over readings: common snapshot by guid, divergence,
                what to send, expiry
- the kind modules (one transaction type each: init.py, sync.py, ...) read both sides
  once (inventory.py), decide with pure functions over those readings, and return the
  steps.

Fixed choices every kind shares:
- snapshots are named `zfsync_<transaction id>` (sortable by time, unique, and saying
  which transaction made them), as the snapshot transaction's are;
- the newest snapshot both sides share is found by **guid**, never by name; it is the
  *base* of the next incremental and holds the tag `zfsync_replica` on both sides, which a
  sync moves to the new base once it is received;
- the source keeps a bookmark `#zfsync_<transaction id>` of every snapshot it sent, so the
  base survives the source snapshot's expiry;
- a sent source snapshot carries `zfsync:sent` (the time it was sent, seconds since the
  epoch); `sync SRC@SNAP` clears it on the source's newer snapshots.
"""
