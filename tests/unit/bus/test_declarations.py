"""The shipped API files and the client agree with the declarations the daemon runs on.

The kinds declare their methods (zfsyncd.tx.kinds, zfsyncd/ops/); the XML documents them and
the policy declares their actions; zfsyncctl keeps its own option signatures (it must stay
light to import: no engine, no ops), so these tests are what keeps them in step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest
from pydantic import BaseModel

import zfsyncctl.client as client
import zfsyncd.ops  # noqa: F401 - registers the kinds
from tests.unit.bus.api_checks import (
    comment_disagreements,
    policy_disagreements,
    xml_disagreements,
)
from zfsyncd.api.records import (
    CleanupRow,
    DaemonStatus,
    MigrationCheck,
    MigrationRow,
    Record,
    ReplicaRow,
    SnapshotRow,
    StepInfo,
    TransactionDetail,
)
from zfsyncd.api.signatures import declared_signature, option_signatures
from zfsyncd.bus import options
from zfsyncd.bus.kind_methods import option_keys
from zfsyncd.ops.migration.status import MigrationQuery, ValidateOptions
from zfsyncd.ops.replication.status import ReplicaQuery
from zfsyncd.tx.kinds import TX_KINDS
from zfsyncd.tx.queries import TransactionQuery


def test_the_xml_describes_every_manager_method() -> None:
    assert xml_disagreements() == []


def test_the_policy_declares_every_action_a_kind_or_method_names() -> None:
    assert policy_disagreements(TX_KINDS) == []


def _kind_keys(method: str) -> Mapping[str, tuple[str, ...]]:
    (kind,) = [k for k in TX_KINDS.values() if k.method is not None and k.method.name == method]
    assert kind.method is not None
    return option_keys(kind, kind.method)


#: the client's option models (TransactionFilter is a dataclass: listing.py imports no
#: pydantic), and the keys the daemon takes for them
CLIENT_OPTIONS: list[tuple[type[client._Options | client.TransactionFilter], str]] = [
    (client.SnapshotOptions, "Snapshot"),
    (client.DestroyOptions, "DestroySnapshots"),
    (client.LockOptions, "Rollback"),
    (client.ListSnapshotsOptions, "ListSnapshots"),
    (client.TransactionFilter, "ListTransactions"),
]
HAND_WRITTEN: dict[str, type[BaseModel]] = {
    "Rollback": options.WaitOptions,
    "ListSnapshots": options.ListSnapshotsOptions,
    "ListTransactions": TransactionQuery,
}


@pytest.mark.parametrize(("model", "method"), CLIENT_OPTIONS)
def test_the_clients_option_signatures_agree_with_the_daemon(
    model: type[client._Options | client.TransactionFilter], method: str
) -> None:
    daemon = (
        option_signatures(HAND_WRITTEN[method]) if method in HAND_WRITTEN else _kind_keys(method)
    )
    assert sorted(model.SIGNATURES) == sorted(daemon), method
    for key, signature in model.SIGNATURES.items():
        assert signature in daemon[key], (method, key, signature, daemon[key])
    if dataclasses.is_dataclass(model):
        fields = [f.name for f in dataclasses.fields(model)]
    else:
        fields = list(model.model_fields)
    assert sorted(fields) == sorted(model.SIGNATURES), method


def _record_keys(model: type[Record]) -> dict[str, tuple[str, ...]]:
    return {name: (declared_signature(model, name),) for name in model.model_fields}


def test_the_xml_comments_document_every_record_key_and_option() -> None:
    """The comments are for people, but they are what a client author reads first."""
    expected: dict[str, Mapping[str, tuple[str, ...]]] = {
        "GetStatus": _record_keys(DaemonStatus),
        "GetTransaction": {**_record_keys(TransactionDetail), **_record_keys(StepInfo)},
        "ListSnapshots": {
            **_record_keys(SnapshotRow),
            **option_signatures(options.ListSnapshotsOptions),
        },
        "ListTransactions": option_signatures(TransactionQuery),
        "ListReplicas": {**_record_keys(ReplicaRow), **option_signatures(ReplicaQuery)},
        "ListCleanups": _record_keys(CleanupRow),
        "ListMigrations": {**_record_keys(MigrationRow), **option_signatures(MigrationQuery)},
        "ValidateMigration": {
            **_record_keys(MigrationCheck),
            **option_signatures(ValidateOptions),
        },
        "Rollback": option_signatures(options.WaitOptions),
        "Retry": option_signatures(options.WaitOptions),
        **{k.method.name: option_keys(k, k.method) for k in TX_KINDS.values() if k.method},
    }
    assert comment_disagreements(expected) == []
