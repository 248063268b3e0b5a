"""What transactions are made of: each module registers one transaction kind with the engine
(its declaration: request model, polkit action, bus method, planning).

Importing this package imports every module in it and in its sub-packages (replication/
holds the replica kinds and what they share), so a new transaction type is one new module
here: nothing else lists the kinds.
"""

import importlib
import pkgutil

import zfsyncd.tx.rollback  # noqa: F401 - the engine's own kind (the rollback transaction)

MODULES = tuple(
    importlib.import_module(info.name)
    for info in pkgutil.walk_packages(__path__, prefix=f"{__name__}.")
    if not info.name.rsplit(".", 1)[-1].startswith("_")
)
