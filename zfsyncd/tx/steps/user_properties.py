"""One user property on many objects, each with its own value or none (a replica's
`zfsync:sent` on the snapshots a sync sent; cleared on those `sync SRC@SNAP` unsends).

For a property only the objects themselves carry (a snapshot's `zfsync:sent`: nothing
sets it on their datasets, from which a snapshot would inherit it): the value `zfs list`
shows is then the object's own, so one `zfs list` over all of them reads what undo needs.
The change is one `zfs set` per distinct value and one `zfs inherit` for those cleared,
however many objects: constant in the number of objects.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import Field, field_validator, model_validator

from zfsyncd.tx.hosts import located
from zfsyncd.tx.steps.base import JsonDict, OnHost, Step, StepContext, register
from zfsyncd.zfs import names
from zfsyncd.zfs.backend import ZfsBackend
from zfsyncd.zfs.models import ObjectName, PropertyName


class UserPropertyArgs(OnHost):
    prop: PropertyName
    #: object -> its value; None: no value of its own (zfs inherit)
    values: dict[ObjectName, str | None] = Field(min_length=1)

    @field_validator("prop")
    @classmethod
    def _user(cls, value: str) -> str:
        return names.check_user_property(value)

    @model_validator(mode="after")
    def _values(self) -> UserPropertyArgs:
        for text in self.values.values():
            if text is not None:
                names.check_property_value(self.prop, text)
        return self


@register
class SetUserProperty(Step[UserPropertyArgs]):
    kind = "set-user-property"
    Args = UserPropertyArgs

    def describe(self) -> str:
        shown = ", ".join(
            f"{n}={v}" if v is not None else f"{n} (cleared)" for n, v in self.args.values.items()
        )
        return f"set {self.args.prop} on {shown}"

    def datasets(self) -> set[str]:
        return {located(self.args.host, names.dataset_of(n)) for n in self.args.values}

    def _zfs(self, ctx: StepContext) -> ZfsBackend:
        return ctx.host(self.args.host).zfs

    async def _now(self, ctx: StepContext) -> dict[str, str | None]:
        """Each object's value now (those that exist): one `zfs list`."""
        listed = await self._zfs(ctx).list_many(
            sorted(self.args.values), user_properties=[self.args.prop]
        )
        return {o.name: o.user_properties.get(self.args.prop) for o in listed}

    async def check(self, ctx: StepContext) -> bool:
        now = await self._now(ctx)
        return all(now.get(n, v) == v for n, v in self.args.values.items())

    async def capture(self, ctx: StepContext) -> JsonDict:
        return {"previous": await self._now(ctx)}

    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        await _apply(self._zfs(ctx), self.args.prop, self.args.values, await self._now(ctx))
        return {}

    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        previous: dict[str, str | None] = undo_data["previous"]
        await _apply(self._zfs(ctx), self.args.prop, previous, await self._now(ctx))

    def inverse(self, undo_data: JsonDict) -> Step[Any] | None:
        previous: dict[str, str | None] = undo_data["previous"]
        if not previous:
            return None
        return SetUserProperty(
            UserPropertyArgs(host=self.args.host, prop=self.args.prop, values=previous)
        )


async def _apply(
    zfs: ZfsBackend, prop: str, wanted: dict[str, str | None], now: dict[str, str | None]
) -> None:
    """Give each existing object of `wanted` its value: one `zfs set` per distinct value,
    one `zfs inherit` for the Nones; what already has its value is left alone."""
    by_value: dict[str | None, list[str]] = defaultdict(list)
    for name, value in wanted.items():
        if name in now and now[name] != value:
            by_value[value].append(name)
    for value, objects in sorted(by_value.items(), key=lambda item: item[0] or ""):
        if value is None:
            await zfs.inherit_many(objects, prop)
        else:
            await zfs.set_many(objects, {prop: value})
