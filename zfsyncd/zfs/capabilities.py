"""What the installed OpenZFS can do, read from `zfs version`.

A feature zfsyncd relies on is named here with the first OpenZFS release that has it, so
that asking for it on an older system fails with a message that says what is missing and
what is installed, rather than with whatever the old zfs happens to print.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from zfsyncd.zfs.errors import UnsupportedFeatureError


class Feature(StrEnum):
    BOOKMARKS = "bookmarks"
    RESUMABLE_RECEIVE = "resumable receive"
    RAW_SEND = "raw (encrypted) send"
    SEND_SIZE_ESTIMATE = "send size estimate (zfs send -nvP)"
    LIST_PARSABLE = "parsable listing (zfs list -p)"
    BOOKMARK_COPY = "bookmark from bookmark"
    JSON_OUTPUT = "JSON output (zfs list -j)"
    #: zfs-program(8) with zfs.sync.bookmark, set_prop and rename_snapshot (2.2) and -j
    CHANNEL_PROGRAMS = "channel programs (zfs program -j)"


#: the first OpenZFS (on Linux) release with each feature
MINIMUM_VERSION: dict[Feature, tuple[int, int, int]] = {
    Feature.BOOKMARKS: (0, 6, 4),
    Feature.LIST_PARSABLE: (0, 6, 0),
    Feature.RESUMABLE_RECEIVE: (0, 7, 0),
    Feature.SEND_SIZE_ESTIMATE: (0, 7, 0),
    Feature.RAW_SEND: (0, 8, 0),
    Feature.BOOKMARK_COPY: (2, 0, 0),
    Feature.JSON_OUTPUT: (2, 3, 0),
    Feature.CHANNEL_PROGRAMS: (2, 2, 0),
}

# "zfs-2.3.2-2~bpo12+2" (userland), "zfs-kmod-2.3.2-2~bpo12+2" (kernel module)
_VERSION = re.compile(r"^zfs-(kmod-)?(\d+)\.(\d+)\.(\d+)", re.MULTILINE)


class Capabilities(BaseModel):
    model_config = ConfigDict(frozen=True)

    userland: tuple[int, int, int]
    kernel: tuple[int, int, int] | None
    text: str

    @property
    def version(self) -> tuple[int, int, int]:
        """The lower of userland and kernel module: a feature needs both."""
        return min(self.userland, self.kernel) if self.kernel else self.userland

    def has(self, feature: Feature) -> bool:
        return self.version >= MINIMUM_VERSION[feature]

    def require(self, feature: Feature) -> None:
        if not self.has(feature):
            need = ".".join(map(str, MINIMUM_VERSION[feature]))
            have = ".".join(map(str, self.version))
            raise UnsupportedFeatureError(
                f"{feature} needs OpenZFS {need} or later; this system has {have}"
            )


def parse_version(text: str) -> Capabilities:
    """Parse `zfs version` output; an old zfs without that command is itself unsupported."""
    userland: tuple[int, int, int] | None = None
    kernel: tuple[int, int, int] | None = None
    for match in _VERSION.finditer(text):
        version = (int(match[2]), int(match[3]), int(match[4]))
        if match[1]:
            kernel = version
        else:
            userland = version
    if userland is None:
        raise UnsupportedFeatureError(
            "cannot tell the OpenZFS version from `zfs version` "
            f"(printed {text.strip()[:120]!r}); zfsyncd needs OpenZFS 0.8 or later"
        )
    return Capabilities(userland=userland, kernel=kernel, text=text.strip())
