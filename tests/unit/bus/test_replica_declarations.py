"""The replica methods of the API files (dbus/org.zfsync.Daemon1.xml, polkit) agree with the
plan's declarations, whether or not each kind module is there yet (stand-ins for the
missing ones: tests/unit/bus/replica_plan.py), and a registered replica kind declares what
the plan says."""

from __future__ import annotations

import pytest

import zfsyncctl.replica_client as rc
import zfsyncd.ops  # noqa: F401 - registers the kinds that exist
from tests.unit.bus.api_checks import (
    comment_disagreements,
    policy_disagreements,
    xml_disagreements,
)
from tests.unit.bus.replica_plan import PLANNED, PlannedKind, with_planned
from zfsyncd.api.records import ReplicaRow
from zfsyncd.api.signatures import declared_signature, option_signatures
from zfsyncd.bus.kind_methods import argument_signatures, option_keys
from zfsyncd.ops.replication.status import ReplicaQuery
from zfsyncd.tx.kinds import TX_KINDS


def test_the_xml_describes_the_manager_with_every_replica_method() -> None:
    assert xml_disagreements(with_planned(TX_KINDS)) == []


def test_the_policy_declares_the_replica_actions() -> None:
    assert policy_disagreements(with_planned(TX_KINDS)) == []


def test_the_xml_comments_document_every_replica_option_and_row_key() -> None:
    row = {name: (declared_signature(ReplicaRow, name),) for name in ReplicaRow.model_fields}
    expected = {
        "ListReplicas": {**row, **option_signatures(ReplicaQuery)},
        **{k.method.name: option_keys(k, k.method) for k in PLANNED},
    }
    assert comment_disagreements(expected) == []


@pytest.mark.parametrize("planned", PLANNED, ids=[k.name for k in PLANNED])
def test_a_registered_replica_kind_declares_what_the_plan_says(planned: PlannedKind) -> None:
    kind = TX_KINDS.get(planned.name)
    if kind is None:
        pytest.skip(f"{planned.name} is not registered on this branch yet")
    assert (kind.action, kind.request, kind.method) == (
        planned.action,
        planned.request,
        planned.method,
    )


#: zfsyncctl's option model of each replica method (zfsyncctl/replica_client.py)
CLIENT_OPTIONS = {
    "ReplicaInit": rc.InitOptions,
    "ReplicaSync": rc.SyncOptions,
    "ReplicaSyncTo": rc.ReplicaOptions,
    "ReplicaExpire": rc.ReplicaOptions,
    "ReplicaPause": rc.ReplicaOptions,
    "ReplicaResume": rc.ReplicaOptions,
    "ReplicaClear": rc.ClearOptions,
    "ReplicaFailover": rc.FailoverOptions,
    "ReplicaTakeover": rc.TakeoverOptions,
    "ReplicaReconfigure": rc.ReplicaOptions,
}


@pytest.mark.parametrize("planned", PLANNED, ids=[k.method.name for k in PLANNED])
def test_the_clients_replica_options_and_arguments_agree_with_the_daemon(
    planned: PlannedKind,
) -> None:
    kind = with_planned(TX_KINDS)[planned.name]
    assert kind.method is not None
    daemon = option_keys(kind, kind.method)
    model = CLIENT_OPTIONS[kind.method.name]
    assert sorted(model.SIGNATURES) == sorted(daemon)
    assert all(sig in daemon[key] for key, sig in model.SIGNATURES.items())
    assert sorted(model.model_fields) == sorted(model.SIGNATURES)
    assert rc.ARGUMENTS[kind.method.name] == "".join(
        argument_signatures(kind, kind.method).values()
    )


def test_the_clients_list_replicas_options_agree_with_the_daemon() -> None:
    daemon = option_signatures(ReplicaQuery)
    assert sorted(rc.ListReplicasOptions.SIGNATURES) == sorted(daemon)
    assert all(sig in daemon[k] for k, sig in rc.ListReplicasOptions.SIGNATURES.items())
