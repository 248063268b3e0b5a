"""zfsyncd: ZFS work as persistent, reversible transactions."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str


def __getattr__(name: str) -> Any:
    # `__version__` is looked up on demand: importlib.metadata costs about 10 ms to import
    # and read, which every zfsyncctl command would pay (it imports zfsyncd.api) though
    # only `zfsyncctl --version` and the daemon's GetStatus want it
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("zfsyncd")
    except PackageNotFoundError:  # run from a source tree that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
