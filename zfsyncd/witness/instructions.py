"""A witness instruction as a witness-receive request (ops/replication/receive.py), or the
reason it cannot be one. Pure: the tests are tables.

The witness names the source system by its registered hostname; this daemon reaches only
the hosts of its configuration (`[hosts.NAME]`), so the hostname must be one of theirs (a
host's `address`, or its NAME). Anything else is refused, never guessed: an instruction is
not a way to make the daemon connect where its administrator did not configure it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from pydantic import ValidationError

from zfsyncd.invalid import problems
from zfsyncd.ops.replication.receive import ReceiveRequest
from zfsyncd.tx.hosts import LOCAL
from zfsyncd.witness.wire import Instruction


def host_labels(addresses: Mapping[str, str]) -> dict[str, str]:
    """Witness hostname -> host label, from the configured hosts (label -> address): each
    host answers to its address and to its label."""
    labels = {label: label for label in addresses}
    labels.update({address: label for label, address in addresses.items()})
    # this machine is never the source of what it receives (the configuration refuses
    # [hosts.local]; this holds whoever builds the map)
    return {name: label for name, label in labels.items() if label != LOCAL}


def as_request(
    instruction: Instruction, me: uuid.UUID, labels: Mapping[str, str]
) -> ReceiveRequest | str:
    """The request, or why the instruction is refused (in words for the witness)."""
    if instruction.target_system_id != me:
        return f"the instruction is for system {instruction.target_system_id}, not this one ({me})"
    if instruction.source_system_id == me:
        return "the instruction names this system as its own source"
    label = labels.get(instruction.source_hostname)
    if label is None:
        known = ", ".join(sorted(set(labels.values()))) or "none"
        return (
            f"source host {instruction.source_hostname!r} is not configured here (no "
            f"[hosts.NAME] with that address or name; configured: {known})"
        )
    try:
        return ReceiveRequest(
            source_host=label,
            snapshot=instruction.source_snapshot,
            base=instruction.base,
            target=instruction.target_dataset,
            force=instruction.force,
        )
    except ValidationError as exc:
        return f"the instruction is not a valid receive: {problems(exc, 'instruction')}"
