"""Checks of the shipped API files against the declarations: the Manager methods in
dbus/org.zfsync.Daemon1.xml, and the actions in polkit/org.zfsync.policy. Each returns what
disagrees, one line a problem, so a test shows every problem at once."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from dbus_fast import introspection as intr
from dbus_fast.service import ServiceInterface

from tests.unit.bus.fakes import FakeAuthority, FakeService, Log
from zfsyncd.api.names import MANAGER_IFACE, Action
from zfsyncd.bus.authorized import declared_action
from zfsyncd.bus.kind_methods import manager_object
from zfsyncd.tx.kinds import TxKind

REPO = Path(__file__).resolve().parents[3]
XML = REPO / "dbus" / "org.zfsync.Daemon1.xml"
POLICY = REPO / "polkit" / "org.zfsync.policy"

#: the actions the resolvers name beside the kinds' (Cancel of another user's transaction)
RESOLVED = {Action.READ, Action.CANCEL_OTHER_USER}


def manager(kinds: Mapping[str, TxKind] | None = None) -> ServiceInterface:
    """The Manager as the daemon builds it (the service and polkit stood in for)."""
    log = Log()
    return manager_object(cast(Any, FakeService(log)), FakeAuthority(log), kinds)


def _shape(method: intr.Method) -> tuple[list[tuple[str, str]], list[str]]:
    return [(a.name or "", a.signature) for a in method.in_args], [
        a.signature for a in method.out_args
    ]


def xml_disagreements(kinds: Mapping[str, TxKind] | None = None, xml: Path = XML) -> list[str]:
    """The Manager's methods (hand-written and generated) against the XML: names, argument
    names and types."""
    (shipped,) = [i for i in intr.Node.parse(xml.read_text()).interfaces if i.name == MANAGER_IFACE]
    documented = {m.name: _shape(m) for m in shipped.methods}
    live = {m.name: _shape(m) for m in manager(kinds).introspect().methods}
    problems = [f"{name}: not in {xml.name}" for name in sorted(set(live) - set(documented))]
    problems += [f"{name}: in {xml.name} only" for name in sorted(set(documented) - set(live))]
    problems += [
        f"{name}: {xml.name} says {documented[name]}, the daemon {live[name]}"
        for name in sorted(set(live) & set(documented))
        if live[name] != documented[name]
    ]
    return problems


def policy_actions(policy: Path = POLICY) -> set[str]:
    root = ET.parse(policy).getroot()  # noqa: S314 - the repository's own file
    return {a.attrib["id"] for a in root.iter("action")}


def named_actions(kinds: Mapping[str, TxKind]) -> set[str]:
    """Every polkit action a kind or a method of the Manager names."""
    declared = {declared_action(m.fn) for m in ServiceInterface._get_methods(manager(kinds))}
    return (
        {k.action for k in kinds.values()} | RESOLVED | {a for a in declared if isinstance(a, str)}
    )


def policy_disagreements(kinds: Mapping[str, TxKind], policy: Path = POLICY) -> list[str]:
    missing = named_actions(kinds) - policy_actions(policy)
    return [f"{action}: not declared in {policy.name}" for action in sorted(missing)]
