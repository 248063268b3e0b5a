"""The replica methods of the API files (dbus/org.zfsync.Daemon1.xml, polkit) agree with the
plan's declarations, whether or not each kind module is there yet (stand-ins for the
missing ones: tests/unit/bus/replica_plan.py), and a registered replica kind declares what
the plan says."""

from __future__ import annotations

import pytest

import zfsyncd.ops  # noqa: F401 - registers the kinds that exist
from tests.unit.bus.api_checks import (
    comment_disagreements,
    policy_disagreements,
    xml_disagreements,
)
from tests.unit.bus.replica_plan import PLANNED, PlannedKind, with_planned
from zfsyncd.api.records import ReplicaRow
from zfsyncd.api.signatures import declared_signature, option_signatures
from zfsyncd.bus.kind_methods import option_keys
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
