"""Checks of the shipped API files against the declarations: the Manager methods in
dbus/org.zfsync.Daemon1.xml, and the actions in polkit/org.zfsync.policy. Each returns what
disagrees, one line a problem, so a test shows every problem at once."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from dbus_fast import introspection as intr
from dbus_fast.service import ServiceInterface

from tests.unit.bus.fakes import FakeAuthority, FakeService, Log
from zfsyncd.api.names import MANAGER_IFACE, Action
from zfsyncd.bus.authorized import declared_action
from zfsyncd.bus.kind_methods import build_manager
from zfsyncd.tx.kinds import TxKind

REPO = Path(__file__).resolve().parents[3]
XML = REPO / "dbus" / "org.zfsync.Daemon1.xml"
POLICY = REPO / "polkit" / "org.zfsync.policy"

#: the actions the resolvers name beside the kinds' (Cancel of another user's transaction)
RESOLVED = {Action.READ, Action.CANCEL_OTHER_USER}


def manager(kinds: Mapping[str, TxKind] | None = None) -> ServiceInterface:
    """The Manager as the daemon builds it (the service and polkit stood in for)."""
    log = Log()
    return build_manager(cast(Any, FakeService(log)), FakeAuthority(log), kinds)


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


#: "name sig" in the XML's comments: `uid u`, `steps aa{sv}`, `properties a{ss}`
_KEY = re.compile(r"\b(\w+) (aa\{sv\}|a\{sv\}|a\{ss\}|as|[sobdiutxnqy])(?![\w{])")


def documented_keys(method: str, xml: Path = XML) -> dict[str, str]:
    """The keys the comment just above `<method name="method">` names, with signatures."""
    found = re.search(rf'<!--((?:(?!-->).)*)-->\s*<method name="{method}">', xml.read_text(), re.S)
    return dict(_KEY.findall(found.group(1))) if found else {}


def comment_disagreements(
    expected: Mapping[str, Mapping[str, tuple[str, ...]]], xml: Path = XML
) -> list[str]:
    """Method -> key -> the signatures it may have: each key documented with one of them."""
    problems = []
    for method, keys in expected.items():
        documented = documented_keys(method, xml)
        for key, allowed in keys.items():
            if documented.get(key) not in allowed:
                problems.append(f"{method}: {key} is documented as {documented.get(key)}, "
                                f"not {' or '.join(allowed)}")  # fmt: skip
    return problems
