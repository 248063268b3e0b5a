"""Which lab guest runs which test: the split of the real-ZFS tier between guests.

tests/lab/run-real-tier.sh boots N guests at once (under TCG the test process of one guest
keeps about one host core busy), each told its shard "i/N" (1-based) through the share dir;
guest-job.sh exports it as ZFSYNC_LAB_SHARD. Every guest collects the same tests, so each can
compute the same split on its own and keep its part: no coordination between guests.

The split is balanced by expected seconds (tests/lab/lab-weights.json, refreshed from a lab
run's junit by tests/lab/lab-weights.py) with the longest-processing-time-first rule: tests
from the longest down, each to the shard with the least seconds so far. Ties are broken by
name and shard number, so the split depends only on the selected tests and the weights file.
A test the file does not know (a new one) weighs the mean of its module's known tests, or
DEFAULT_SECONDS for a new module. Tests are split one by one, not by module: the only
fixtures they share are session-wide (the pools), which each guest sets up anyway.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

ENV = "ZFSYNC_LAB_SHARD"
WEIGHTS = Path(__file__).with_name("lab-weights.json")
#: a test of a module the weights file does not know at all (about a lab test's median)
DEFAULT_SECONDS = 10.0

_SPEC = re.compile(r"([1-9][0-9]*)/([1-9][0-9]*)")


def parse_shard(spec: str) -> tuple[int, int]:
    """'2/3' -> (2, 3): shard 2 of 3 (1-based). ValueError for anything else."""
    match = _SPEC.fullmatch(spec.strip())
    if match is None or int(match[1]) > int(match[2]):
        raise ValueError(f"{ENV}={spec!r}: expected i/N with 1 <= i <= N, e.g. 1/2")
    return int(match[1]), int(match[2])


def junit_key(nodeid: str) -> str:
    """A pytest node id as its junit file names it ("classname::name"), the weights' key:
    tests/engine/test_x.py::Cls::test[a] -> tests.engine.test_x.Cls::test[a]."""
    path, _, rest = nodeid.partition("::")
    head, bracket, params = rest.partition("[")  # a parameter may itself hold "::"
    *classes, name = head.split("::")
    name += bracket + params
    module = path.removesuffix(".py").replace("/", ".")
    return ".".join([module, *classes]) + "::" + name


def expected_seconds(keys: Sequence[str], known: Mapping[str, float]) -> list[float]:
    """The weight of each key: its own, else its module's mean, else DEFAULT_SECONDS."""
    per_module: dict[str, list[float]] = defaultdict(list)
    for key, seconds in known.items():
        per_module[key.split("::")[0]].append(seconds)
    weights = []
    for key in keys:
        if key in known:
            weights.append(known[key])
        elif module := per_module.get(key.split("::")[0]):
            weights.append(sum(module) / len(module))
        else:
            weights.append(DEFAULT_SECONDS)
    return weights


def split(keys: Sequence[str], weights: Sequence[float], shards: int) -> list[int]:
    """The shard (1-based) of each key: longest first, each to the least loaded shard."""
    load = [0.0] * shards
    shard_of = [0] * len(keys)
    for i in sorted(range(len(keys)), key=lambda i: (-weights[i], keys[i])):
        least = min(range(shards), key=lambda s: (load[s], s))
        load[least] += weights[i]
        shard_of[i] = least + 1
    return shard_of


def load_weights(path: Path = WEIGHTS) -> dict[str, float]:
    data = json.loads(path.read_text())
    return {str(k): float(v) for k, v in data["seconds"].items()}


def mine(
    nodeids: Sequence[str],
    spec: str,
    known: Mapping[str, float],
    skipped: Sequence[bool] | None = None,
) -> list[bool]:
    """For each node id: does shard `spec` ("i/N") run it? A test marked to be skipped
    (`skipped`: a skip mark, or a skipif mark whose condition is true) weighs nothing,
    whatever the weights file says: the model-only modules would otherwise each weigh
    their default in the lab, where they cost nothing."""
    shard, shards = parse_shard(spec)
    keys = [junit_key(n) for n in nodeids]
    weights = expected_seconds(keys, known)
    if skipped is not None:
        weights = [0.0 if skip else w for w, skip in zip(weights, skipped, strict=True)]
    return [s == shard for s in split(keys, weights, shards)]


def shard_from_env() -> str | None:
    return os.environ.get(ENV) or None
