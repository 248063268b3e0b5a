"""zfsyncd: ZFS work as persistent, reversible transactions."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("zfsyncd")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
