"""What transactions are made of: each module registers one transaction kind with the engine.

Importing this package registers them all.
"""

import zfsyncd.tx.rollback  # noqa: F401 - the engine's own kind (the rollback transaction)
from zfsyncd.ops import rollback_dataset, snapshot, snapshot_destroy

__all__ = ["rollback_dataset", "snapshot", "snapshot_destroy"]
