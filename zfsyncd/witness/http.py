"""The HTTP side of the client: one method per witness endpoint the daemon uses.

The API key goes in the `X-API-Key` header of every request and nowhere else: it is read
from its file once (`read_key`), held by `ApiKey`, whose repr hides it, and never logged.
A transport can be handed in (tests run the witness's app in-process with httpx's ASGI
transport).
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from zfsyncd.witness.wire import (
    Conflict,
    Group,
    Instructions,
    SyncState,
    WitnessRefused,
    WitnessUnreachable,
)

#: httpx logs every request at INFO: a line per report and heartbeat, forever; what the
#: daemon has to say of the witness it says itself (client.py)
logging.getLogger("httpx").setLevel(logging.WARNING)

API = "/api/v1"
#: seconds the status's read of the witness may take (a D-Bus caller waits for it)
STATUS_TIMEOUT = 5.0
T = TypeVar("T")
_MAX_KEY = 1024


class ApiKey:
    """A system's key; never shown (repr, str, logs)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def header(self) -> dict[str, str]:
        return {"X-API-Key": self._value}

    def __repr__(self) -> str:
        return "ApiKey(<hidden>)"

    __str__ = __repr__


def read_key(path: Path) -> ApiKey:
    """The key in `path` (its first line, spaces stripped); ValueError without the key's
    text when the file is empty or holds something that is not a key."""
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"witness key file {path}: cannot be read: {exc}") from None
    lines = text.strip().splitlines()
    value = lines[0].strip() if lines else ""
    if not value or len(value) > _MAX_KEY or not value.isprintable() or " " in value:
        raise ValueError(f"witness key file {path}: holds no API key on its first line")
    return ApiKey(value)


class WitnessHttp:
    def __init__(
        self,
        url: str,
        key: ApiKey,
        system_id: uuid.UUID,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.system_id = system_id
        self._client = httpx.AsyncClient(
            base_url=self.url + API,
            headers=key.header(),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = None
    ) -> Any:
        try:
            if timeout is None:
                reply = await self._client.request(method, path, json=body)
            else:
                reply = await self._client.request(method, path, json=body, timeout=timeout)
        except httpx.HTTPError as exc:  # refused, reset, timed out, DNS: all "try later"
            raise WitnessUnreachable(f"{self.url}: {type(exc).__name__}: {exc}") from None
        if reply.status_code >= 500:
            raise WitnessUnreachable(f"{self.url}: {reply.status_code} {_detail(reply)}")
        if reply.status_code >= 400:
            raise WitnessRefused(reply.status_code, _detail(reply))
        try:
            return reply.json()
        except ValueError:
            raise WitnessUnreachable(f"{self.url}: a reply that is not JSON") from None

    async def heartbeat(self) -> None:
        await self._call("POST", f"/systems/{self.system_id}/heartbeat")

    async def report(self, snapshots: list[dict[str, Any]]) -> dict[str, int]:
        """The whole inventory in one batch (`complete`: what it no longer names is gone)."""
        body = {"snapshots": snapshots, "complete": True}
        out: dict[str, int] = await self._call("POST", "/snapshots/batch", body)
        return out

    async def instructions(self) -> Instructions:
        """This system's instructions (the witness marks them `syncing` as it hands them)."""
        found = await self._call("GET", f"/sync/instructions/{self.system_id}")
        return _parsed(Instructions, found)

    async def outcome(
        self, group_id: uuid.UUID, dataset: str, ok: bool, error: str | None, tx_id: str | None
    ) -> None:
        body = {
            "group_id": str(group_id),
            "dataset": dataset,
            "ok": ok,
            "error": error[:4096] if error else None,
            "transaction_id": tx_id,
        }
        await self._call("POST", f"/sync/outcomes/{self.system_id}", body)

    async def states(self) -> list[SyncState]:
        """This system's sync states (a read: nothing is marked). A short timeout: a bus
        caller waits for it (`zfsyncctl witness status`)."""
        path = f"/sync/states?system_id={self.system_id}"
        found = await self._call("GET", path, timeout=STATUS_TIMEOUT)
        return _parsed(list[SyncState], found)

    async def groups(self) -> list[Group]:
        return _parsed(list[Group], await self._call("GET", "/sync-groups"))

    async def conflicts(self, group_id: uuid.UUID) -> list[Conflict]:
        found = await self._call("GET", f"/conflicts/{group_id}")
        return _parsed(list[Conflict], found)


def _detail(reply: httpx.Response) -> str:
    try:
        detail = reply.json().get("detail", "")
    except (ValueError, AttributeError):
        detail = reply.text
    return str(detail)[:1024]


def _parsed(model: type[T] | Any, data: Any) -> T:
    adapter: TypeAdapter[T] = TypeAdapter(model)
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise WitnessUnreachable(f"a reply this client cannot read: {exc}") from None
