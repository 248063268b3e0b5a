"""The witness's API (zfsync_witness/api/schemas.py) as this client reads it.

Its own models, not the service's: the daemon does not need the witness's package (FastAPI,
SQLAlchemy) installed, and fields a newer witness adds are ignored rather than refused.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Instruction(_Reply):
    """Receive `source_snapshot` (on the source system) into `target_dataset` here."""

    group_id: uuid.UUID
    group: str
    dataset: str
    source_system_id: uuid.UUID
    source_hostname: str
    source_pool: str
    target_system_id: uuid.UUID
    target_pool: str
    base: str | None
    newest: str
    force: bool
    source_snapshot: str
    target_dataset: str


class Instructions(_Reply):
    system_id: uuid.UUID
    instructions: list[Instruction]


class SyncState(_Reply):
    dataset: str
    group_id: uuid.UUID
    status: str
    error: str | None = None


class Group(_Reply):
    id: uuid.UUID
    name: str
    strategy: str


class Conflict(_Reply):
    id: uuid.UUID
    group_id: uuid.UUID
    dataset: str
    kind: str
    status: str
    problems: list[dict[str, Any]]
    strategy: str | None
    winner_system_id: uuid.UUID | None
    detected_at: str


class WitnessError(Exception):
    """Talking to the witness did not work."""


class WitnessUnreachable(WitnessError):
    """No answer, or one that says to come back later (5xx): try again later."""


class WitnessRefused(WitnessError):
    """The witness answered no (4xx): trying again will not help until something changes
    (401: the key is wrong or was rotated; 403: another system's id)."""

    def __init__(self, status: int, detail: str) -> None:
        self.status, self.detail = status, detail
        why = "the API key was refused (401)" if status == 401 else f"{status}"
        super().__init__(f"the witness refused the request: {why}: {detail}")

    @property
    def unauthorized(self) -> bool:
        return self.status == 401
