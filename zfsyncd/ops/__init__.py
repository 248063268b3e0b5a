"""What transactions are made of: each module registers one transaction kind with the engine
(its declaration: request model, polkit action, bus method, planning).

Importing this package imports every module in it, so a new transaction type is one new
module here: nothing else lists the kinds.
"""

import importlib
import pkgutil

import zfsyncd.tx.rollback  # noqa: F401 - the engine's own kind (the rollback transaction)

MODULES = tuple(
    importlib.import_module(f"{__name__}.{info.name}")
    for info in pkgutil.iter_modules(__path__)
    if not info.name.startswith("_")
)
