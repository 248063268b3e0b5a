"""`Properties`: the property calls `get_properties`, `local_properties`,
`set_properties` and `inherit`.

What each accepts and refuses (read-only, unknown, not for a snapshot or a bookmark, a
quota below what is used, keylocation off an encryption root) and what it changes. The
values they read come from values.py, the rules for native properties from rules.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from zfsyncd.zfs import names
from zfsyncd.zfs.backend import EXPLICIT_SOURCES
from zfsyncd.zfs.memory.objects import Bookmark, Dataset, Snapshot
from zfsyncd.zfs.memory.rules import (
    NATIVE,
    READ_ONLY,
    checked_assignments,
    snapshot_problem,
    validated,
)
from zfsyncd.zfs.memory.tree import fail
from zfsyncd.zfs.memory.values import Values
from zfsyncd.zfs.models import ObjectType, PropertySource, PropertyValue


class Properties(Values):
    async def get_properties(
        self, name: str, properties: Sequence[str]
    ) -> dict[str, PropertyValue]:
        names.check_any(name)
        if not properties:
            return {}
        for prop in properties:
            names.check_property_name(prop)
        argv = ["zfs", "get", "-Hp", ",".join(properties), name]
        for prop in properties:
            if ":" not in prop and prop not in NATIVE and prop not in READ_ONLY:
                raise fail(argv, f"bad property list: invalid property '{prop}'", 2)
        obj = self._open(argv, name)
        return {
            prop: self._user_value(obj, prop) if ":" in prop else self._native_value(obj, prop)
            for prop in properties
        }

    async def local_properties(
        self, name: str, *, source: PropertySource = PropertySource.LOCAL
    ) -> dict[str, str]:
        names.check_any(name)
        if source not in EXPLICIT_SOURCES:
            raise ValueError(f"local_properties reads local or received values, not {source}")
        argv = ["zfs", "get", "-H", "-p", "-s", source.value, "all", name]
        obj = self._open(argv, name)
        if isinstance(obj, Bookmark):
            return {}  # nothing can be set on a bookmark
        if source is PropertySource.RECEIVED:
            return {p: v for p, v in obj.received.items() if p not in obj.local}
        found = dict(obj.local)
        if isinstance(obj, Dataset) and obj.volsize is not None:
            # the model keeps volsize apart, real lists it as set locally. (Real also lists
            # the refreservation `zfs create -V` sets, which the model does not know.)
            found["volsize"] = str(obj.volsize)
        return found

    async def set_properties(self, name: str, properties: Mapping[str, str]) -> None:
        names.check_any(name)
        props = checked_assignments(properties)
        if not props:
            return
        argv = ["zfs", "set", *(f"{p}={v}" for p, v in props.items()), name]
        obj = self._open(argv, name)
        prefix = f"cannot set property for '{name}'"
        if isinstance(obj, Bookmark):
            raise fail(argv, f"{prefix}: operation not applicable to datasets of this type")
        if isinstance(obj, Snapshot):
            problem = snapshot_problem(props)
            if problem is not None:
                raise fail(argv, f"{prefix}: {problem}", 255)
            obj.local.update(props)
            return
        clean = self._set_checked(argv, prefix, obj, props)
        obj.local.update(clean)
        self._txg(obj.pool)

    def _set_checked(
        self, argv: Sequence[str], prefix: str, ds: Dataset, props: Mapping[str, str]
    ) -> dict[str, str]:
        """All of `zfs set`'s checks, before any property changes (it is all or none)."""
        clean = validated(argv, prefix, props, creating=False, returncode=255)
        for prop, value in clean.items():
            if prop == "quota" and value != "0" and int(value) < self._used(ds):
                raise fail(argv, f"{prefix}: size is less than current used or reserved space", 255)
            if prop == "volsize" and ds.type is not ObjectType.VOLUME:
                raise fail(
                    argv, f"{prefix}: 'volsize' does not apply to datasets of this type", 255
                )
            if prop == "keylocation" and (ds.crypt is None or ds.crypt.root is not ds):
                raise fail(
                    argv, f"{prefix}: 'keylocation' can only be set on encryption roots", 255
                )
        if "volsize" in clean:
            ds.volsize = int(clean.pop("volsize"))
        return clean

    async def set_many(self, objects: Sequence[str], properties: Mapping[str, str]) -> None:
        """Each name in turn, as zfs does: the first failure is raised once the others
        were set (real: a name that cannot be opened is named on stderr, the rest set)."""
        for name in objects:
            names.check_any(name)
        checked_assignments(properties)
        await self._each(objects, lambda name: self.set_properties(name, properties))

    async def inherit_many(self, objects: Sequence[str], prop: str) -> None:
        for name in objects:
            names.check_any(name)
        names.check_property_name(prop)
        await self._each(objects, lambda name: self.inherit(name, prop))

    @staticmethod
    async def _each(objects: Sequence[str], act: Callable[[str], Awaitable[None]]) -> None:
        failed: Exception | None = None
        for name in objects:
            try:
                await act(name)
            except Exception as exc:  # raised once the others are done, as zfs does
                failed = failed or exc
        if failed is not None:
            raise failed

    async def inherit(self, name: str, prop: str, *, recursive: bool = False) -> None:
        names.check_any(name)
        names.check_property_name(prop)
        argv = ["zfs", "inherit", *(["-r"] if recursive else []), prop, name]
        if ":" not in prop:
            if prop in READ_ONLY or prop in ("encryption", "keyformat"):
                raise fail(argv, f"{prop} property is read-only")
            if prop not in NATIVE:
                raise fail(argv, f"invalid property '{prop}'", 2)
            if not NATIVE[prop].inheritable:
                raise fail(argv, f"'{prop}' property cannot be inherited")
        obj = self._open(argv, name)
        if isinstance(obj, Bookmark):
            raise fail(
                argv,
                f"cannot inherit {prop} for '{name}': operation not "
                "applicable to datasets of this type",
            )
        targets: list[Dataset | Snapshot] = [obj]
        if recursive and isinstance(obj, Dataset):
            targets = []
            for d in self._subtree(obj):
                targets += [d, *d.snapshots.values()]
        for target in targets:
            target.local.pop(prop, None)
            target.received.pop(prop, None)
