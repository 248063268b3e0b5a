"""API keys: made once, shown once, stored only as a salted scrypt hash.

A key reads `zfsw_<kind>_<id>_<secret>`: kind `s` for a system, `a` for an administrator;
the id (hex) says which row's hash to check it against, so a request costs one hash, not
one per stored key; the secret is 32 random bytes (urlsafe base64).

The secret being random and long, guessing it is hopeless whatever the hash costs; the hash
only has to keep a copy of the database from being a set of working keys. So scrypt runs
with a small cost (n=2**12, r=8: 4 MiB and a few milliseconds), paid on every request.
The comparison of hashes is constant-time, and an unknown id costs a hash as well, so the
answer's timing says nothing about which ids exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

PREFIX = "zfsw"
_N, _R, _P, _LEN = 2**12, 8, 1, 32


class KeyKind(StrEnum):
    SYSTEM = "s"
    ADMIN = "a"


@dataclass(frozen=True, slots=True)
class ParsedKey:
    kind: KeyKind
    id: uuid.UUID
    secret: str


def new_key(kind: KeyKind, id_: uuid.UUID) -> tuple[str, str]:
    """(the key to hand out once, the hash to store)."""
    secret = secrets.token_urlsafe(32)
    return f"{PREFIX}_{kind.value}_{id_.hex}_{secret}", hash_secret(secret)


def parse(key: str) -> ParsedKey | None:
    parts = key.split("_", 3)
    if len(parts) != 4 or parts[0] != PREFIX or len(parts[3]) < 16 or len(key) > 200:
        return None
    try:
        return ParsedKey(KeyKind(parts[1]), uuid.UUID(hex=parts[2]), parts[3])
    except ValueError:
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _derive(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=_LEN)


def hash_secret(secret: str) -> str:
    salt = os.urandom(16)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(_derive(secret, salt, _N, _R, _P))}"


def verify(secret: str, stored: str) -> bool:
    """Whether `secret` is the one `stored` was made from (constant-time comparison)."""
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        got = _derive(secret, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except ValueError:
        return False


@cache
def _dummy() -> str:
    return hash_secret(secrets.token_urlsafe(32))


def verify_unknown(secret: str) -> None:
    """Costs what checking a key of an id that exists costs."""
    verify(secret, _dummy())
