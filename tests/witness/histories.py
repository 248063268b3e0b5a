"""A short notation for snapshot histories in the witness's tests.

`snaps("A", "tank", "s1 s2 s3")`: system A holds tank/data@s1..s3. A token `sN` is created
at N*1000 s with guid `g-sN`; `sN'` is a different snapshot of the same name and time
(guid `g-sN'`); `~sN` is reported without a guid; `xN` are other snapshots (guid `g-xN`).
"""

from __future__ import annotations

from zfsync_witness.compare import Snap

DATASET = "data"


def snap(system: str, pool: str, token: str, dataset: str = DATASET, size: int = 0) -> Snap:
    guidless = token.startswith("~")
    token = token.lstrip("~")
    name = token.rstrip("'")
    created = int(name[1:]) * 1000
    return Snap(
        system=system,
        pool=pool,
        dataset=dataset,
        name=name,
        created=created,
        guid=None if guidless else f"g-{token}",
        txg=created,
        size=size,
    )


def snaps(system: str, pool: str, tokens: str, dataset: str = DATASET) -> list[Snap]:
    return [snap(system, pool, t, dataset) for t in tokens.split()]
