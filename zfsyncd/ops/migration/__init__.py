"""Migration of a directory-snapshot history into ZFS (seed 004): each snapshot of a source
(snapper's snapshots of a BTRFS subvolume, or a plain directory whose subdirectories are the
snapshots in order) becomes, in order, an rsync into a dataset, a manifest of the tree, and
a ZFS snapshot that carries the source's number, date and description.

The modules:
- sources.py     the two kinds of source, read into one `SourceSnapshot` model
- exclusions.py  the one list of what is not content: rsync, the manifest and validation
                 all use it (the seed's validation failed while they each had their own)
- manifest.py    a tree's manifest (path, type, size, mode, owner, mtime, content hash), stored
                 in the dataset's metadata directory `.zfsync/`; its well-formedness check
- history.py     the ZFS side: snapshot names and properties of a migrated snapshot, and
                 what is left to migrate given those already there (`--limit`)
- validation.py  the checks of a migrated dataset against its source
- copy_step.py   the step that fills the dataset from one source snapshot (rsync, manifest)
- migrate.py     the transaction kind (`migrate`): planning, init pattern
- status.py      the reads for the bus: ListMigrations and ValidateMigration
- batch.py       many repositories, N at a time (`zfsyncctl migrate batch`)
"""
