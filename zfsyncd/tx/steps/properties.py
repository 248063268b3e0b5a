"""Set properties, remembering what each was, so undo restores it (value or inheritance)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field

from zfsyncd.tx.hosts import located
from zfsyncd.tx.steps.base import JsonDict, OnHost, Step, StepContext, register
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.models import ObjectName, PropertyChanges, PropertySource, PropertyValue


class SetPropertiesArgs(OnHost):
    name: ObjectName
    #: property -> value; None means "inherit" (zfs inherit), which is how undo restores a
    #: property that had no local value
    properties: PropertyChanges = Field(min_length=1)


@register
class SetProperties(Step[SetPropertiesArgs]):
    kind = "set-properties"
    Args = SetPropertiesArgs

    def describe(self) -> str:
        pairs = ", ".join(
            f"{p}={v}" if v is not None else f"{p} inherited"
            for p, v in self.args.properties.items()
        )
        return f"set {pairs} on {self.args.name}"

    def datasets(self) -> set[str]:
        return {located(self.args.host, names.dataset_of(self.args.name))}

    async def _local(self, ctx: StepContext) -> dict[str, str | None]:
        """Each property's local value now, None where it has none (inherited or default)."""
        zfs = ctx.host(self.args.host).zfs
        current = await zfs.get_properties(self.args.name, list(self.args.properties))
        return local_values(current, self.args.properties)

    async def check(self, ctx: StepContext) -> bool:
        return await self._local(ctx) == self.args.properties

    async def capture(self, ctx: StepContext) -> JsonDict:
        return {"previous": await self._local(ctx)}

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        await apply_changes(ctx.host(self.args.host).zfs, self.args.name, self.args.properties)
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        await apply_changes(ctx.host(self.args.host).zfs, self.args.name, undo_data["previous"])

    def inverse(self, undo_data: JsonDict) -> Step[Any]:
        return SetProperties(
            SetPropertiesArgs(
                host=self.args.host, name=self.args.name, properties=undo_data["previous"]
            )
        )


def local_values(
    current: Mapping[str, PropertyValue], properties: Iterable[str]
) -> dict[str, str | None]:
    """Of a `zfs get` reading, each of `properties`' local value, None where it has none
    (inherited or default): what `apply_changes` puts back."""
    return {
        prop: current[prop].value if current[prop].source is PropertySource.LOCAL else None
        for prop in properties
    }


async def apply_changes(zfs: ZfsBackend, name: str, properties: dict[str, str | None]) -> None:
    """Set the values (one `zfs set`) and inherit the Nones (a `zfs inherit` each); both
    are idempotent in ZFS itself."""
    values = {p: v for p, v in properties.items() if v is not None}
    if values:
        await zfs.set_properties(name, values)
    for prop, value in properties.items():
        if value is None:
            await zfs.inherit(name, prop)
