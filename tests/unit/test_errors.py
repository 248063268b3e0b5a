"""stderr -> typed error, checked against what OpenZFS 2.3.2 really printed.

data/openzfs-2.3.2-stderr.json was captured in the lab guest (a probe script running each
failing command on real pools). tests/real/ triggers the same failures through CliBackend.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zfsyncd.zfs import errors as e

CAPTURED = {
    c["case"]: c["stderr"]
    for c in json.loads((Path(__file__).parent / "data/openzfs-2.3.2-stderr.json").read_text())
}

EXPECTED: dict[str, type[e.ZfsCommandError]] = {
    "create exists": e.InvalidArgumentError,  # `zfs create pool`: "missing dataset name"
    "create fs exists": e.AlreadyExistsError,
    "create no parent": e.NotFoundError,
    "open missing": e.NotFoundError,
    "no pool": e.NotFoundError,
    "get missing": e.NotFoundError,
    "snap exists": e.AlreadyExistsError,
    "snap on missing": e.NotFoundError,
    "destroy missing snap": e.NotFoundError,
    "destroy missing fs": e.NotFoundError,
    "hold twice": e.AlreadyExistsError,
    "destroy held": e.HeldError,
    "destroy held -r fs": e.HeldError,
    "release unknown tag": e.NotFoundError,
    "hold missing snap": e.NotFoundError,
    "holds missing": e.NotFoundError,
    "destroy has children": e.HasChildrenError,
    "destroy snap with clone": e.HasClonesError,
    "destroy fs with clone -r": e.HasClonesError,
    "rollback not latest": e.NewerSnapshotsExistError,
    "rollback missing": e.NotFoundError,
    "rename exists": e.AlreadyExistsError,
    "rename missing": e.NotFoundError,
    "rename across pools": e.InvalidArgumentError,
    "promote non-clone": e.InvalidArgumentError,
    "promote missing": e.NotFoundError,
    "invalid name long": e.InvalidArgumentError,
    "bad prop": e.InvalidArgumentError,
    "bad prop value": e.InvalidArgumentError,
    "user prop no colon": e.InvalidArgumentError,
    "bookmark missing": e.NotFoundError,
    "bookmark exists": e.AlreadyExistsError,
    "destroy mounted busy": e.MountedBusyError,
    "rename mounted busy": e.MountedBusyError,
    "unmount busy": e.MountedBusyError,
    "recv exists full": e.AlreadyExistsError,
    "recv inc mismatch": e.IncrementalMismatchError,
    "send missing": e.NotFoundError,
    "resume": e.StreamInterruptedError,
    "bad token": e.StaleResumeTokenError,
    "bad token2": e.StaleResumeTokenError,
    "stale token": e.StaleResumeTokenError,
    "recv -A none": e.NotFoundError,
    "fill": e.PoolFullError,
    "snap on full": e.PoolFullError,
    "create on full": e.PoolFullError,
    "recv on full": e.PoolFullError,
    "recv quota": e.PoolFullError,
    "perm denied": e.PermissionDeniedError,
    "perm denied2": e.PermissionDeniedError,
}


def test_every_captured_failure_has_an_expectation() -> None:
    assert set(CAPTURED) == set(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_real_stderr_is_classified(case: str) -> None:
    error = e.classify(["zfs", "x"], 1, CAPTURED[case])
    assert type(error) is EXPECTED[case], CAPTURED[case]
    assert error.stderr == CAPTURED[case].strip()
    assert error.argv == ["zfs", "x"]


def test_unknown_text_is_other_with_command_and_text() -> None:
    error = e.classify(["zfs", "frob", "p/fs"], 3, "something new went wrong\n")
    assert type(error) is e.ZfsCommandError
    assert error.kind == "other"
    assert str(error) == "something new went wrong"
    assert error.command == "zfs frob p/fs"


def test_empty_stderr_names_the_command_and_status() -> None:
    assert str(e.classify(["zfs", "frob"], 4, "")) == "zfs exited 4"


@pytest.mark.parametrize(
    ("text", "cls"),
    [
        ("ssh: connect to host peer port 22: Connection refused", e.ConnectionLostError),
        ("Connection to peer closed by remote host.", e.ConnectionLostError),
        ("Host key verification failed.", e.ConnectionLostError),
        (
            "cannot receive incremental stream: destination p/fs has been modified\n"
            "since most recent snapshot",
            e.DestinationModifiedError,
        ),
        (
            "cannot receive new filesystem stream: destination zcdst/t contains "
            'partially-complete state from "zfs receive -s".',
            e.PartialReceiveError,
        ),
        ("cannot destroy 'p/fs@s': clones of previous snapshots exist", e.HasClonesError),
        ("cannot promote 'p/c': conflicting snapshot 's1' from parent 'p/a'", e.AlreadyExistsError),
        ("cannot set property for 'p/a': 'guid' is readonly", e.InvalidArgumentError),
        ("cannot create 'p/v/x': parent is not a filesystem", e.InvalidArgumentError),
        ("cannot mount 'p/enc': encryption key not loaded", e.KeyUnavailableError),
    ],
)
def test_other_known_texts(text: str, cls: type[e.ZfsCommandError]) -> None:
    assert type(e.classify(["x"], 1, text)) is cls


def test_transient_classes() -> None:
    transient = {c for c in set(EXPECTED.values()) | {e.ConnectionLostError} if c.transient}
    # a busy mount clears when the process using it goes away
    assert transient == {e.StreamInterruptedError, e.ConnectionLostError, e.MountedBusyError}
    assert e.CommandTimeoutError.transient
    assert e.BusyError.transient
    assert not e.HeldError.transient  # a hold is there on purpose: waiting will not help


def test_a_busy_rollback_is_a_hold_not_a_transient_busy() -> None:
    text = "cannot rollback 'p/fs': dataset is busy"
    assert type(e.classify(["zfs", "rollback", "-r", "p/fs@s1"], 1, text)) is e.HeldError
    assert type(e.classify(["zfs", "destroy", "p/fs"], 1, text)) is e.BusyError
