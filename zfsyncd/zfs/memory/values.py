"""`Values`: what an object shows, as `zfs list -Hp` and `zfs get` print it.

An object's row (name, type, guid, createtxg, space, origin, resume token, user
properties) and the value and source of each property: set here, received, inherited
from an ancestor, a default, or computed (the read-only ones, encryption's included).
Listing (listing.py) and the property calls (properties.py) both read through here.
"""

from __future__ import annotations

from collections.abc import Sequence

from zfsyncd.zfs.inventory import BASE_COLUMNS
from zfsyncd.zfs.memory.objects import (
    EMPTY_DATASET_BYTES,
    Bookmark,
    Dataset,
    Object,
    Snapshot,
    content_bytes,
)
from zfsyncd.zfs.memory.rules import FILESYSTEM_ONLY, NATIVE
from zfsyncd.zfs.memory.tree import Tree
from zfsyncd.zfs.models import ObjectType, PropertySource, PropertyValue, ZfsObject


class Values(Tree):
    # ----------------------------------------------------------------------- rows

    def _row(self, obj: Object, user_properties: Sequence[str]) -> ZfsObject:
        """What `zfs list -Hp` prints for one object."""
        if isinstance(obj, Snapshot):
            return ZfsObject(
                name=obj.name,
                type=ObjectType.SNAPSHOT,
                guid=obj.guid,
                createtxg=obj.createtxg,
                creation=obj.creation,
                used=self._snapshot_used(obj),
                referenced=EMPTY_DATASET_BYTES + content_bytes(obj.content),
                userrefs=len(obj.holds),
                user_properties=self._user_properties(obj, user_properties),
            )
        if isinstance(obj, Bookmark):
            # real: '-' for used and userrefs, which the inventory parser reads as 0
            return ZfsObject(
                name=obj.name,
                type=ObjectType.BOOKMARK,
                guid=obj.guid,
                createtxg=obj.createtxg,
                creation=obj.creation,
                used=0,
                referenced=EMPTY_DATASET_BYTES + content_bytes(obj.content),
            )
        return ZfsObject(
            name=obj.name,
            type=obj.type,
            guid=obj.guid,
            createtxg=obj.createtxg,
            creation=obj.creation,
            used=self._used(obj),
            referenced=self._referenced(obj),
            origin=None if obj.origin is None else obj.origin.name,
            receive_resume_token=None if obj.partial is None else obj.partial.token,
            user_properties=self._user_properties(obj, user_properties),
        )

    # ------------------------------------------------------------ user properties

    def _user_value(self, obj: Object, prop: str) -> PropertyValue:
        """A user property: set here, received here, or inherited (a snapshot inherits
        from its dataset: real `zfs get` says 'inherited from pool/fs')."""
        if isinstance(obj, Bookmark):
            return PropertyValue(value=None, source=PropertySource.NONE)
        if prop in obj.local:
            return PropertyValue(value=obj.local[prop], source=PropertySource.LOCAL)
        if prop in obj.received:
            return PropertyValue(value=obj.received[prop], source=PropertySource.RECEIVED)
        ds: Dataset | None = obj.dataset if isinstance(obj, Snapshot) else self._parent(obj)
        while ds is not None:
            value = ds.local.get(prop, ds.received.get(prop))
            if value is not None:
                return PropertyValue(
                    value=value, source=PropertySource.INHERITED, inherited_from=ds.name
                )
            ds = self._parent(ds)
        return PropertyValue(value=None, source=PropertySource.NONE)

    def _user_properties(self, obj: Object, props: Sequence[str]) -> dict[str, str]:
        found = {}
        for prop in props:
            value = self._user_value(obj, prop).value
            if value is not None:
                found[prop] = value
        return found

    # ---------------------------------------------------------- native properties

    def _native_value(self, obj: Object, prop: str) -> PropertyValue:
        none = PropertySource.NONE
        computed = self._computed(obj, prop)
        if computed is not None:
            return PropertyValue(value=computed, source=none)
        if prop in ("encryption", "keystatus", "encryptionroot", "keyformat", "keylocation"):
            return self._crypt_value(obj, prop)
        if (
            not isinstance(obj, Dataset)
            or prop == "volsize"
            or (obj.type is ObjectType.VOLUME and prop in FILESYSTEM_ONLY)
        ):
            # what applies to a filesystem only shows '-' on a snapshot (real)
            volsize = obj.volsize if isinstance(obj, Dataset) else None
            return PropertyValue(
                value="-" if volsize is None else str(volsize),
                source=none if volsize is None else PropertySource.LOCAL,
            )
        return self._dataset_native(obj, prop)

    def _computed(self, obj: Object, prop: str) -> str | None:
        """The read-only values the model works out; None when `prop` is not one."""
        row = None
        if prop in BASE_COLUMNS:  # what `zfs list` reports, the model already works out
            row = self._row(obj, ())
        if row is None:
            return None
        value = getattr(row, prop)
        if prop == "type":
            return str(row.type.value)
        if prop == "userrefs" and not isinstance(obj, Snapshot):
            return "-"
        if prop == "used" and isinstance(obj, Bookmark):
            return "-"
        return "-" if value is None else str(value)

    def _crypt_value(self, obj: Object, prop: str) -> PropertyValue:
        ds = obj if isinstance(obj, Dataset) else obj.dataset
        crypt = ds.crypt
        none = PropertySource.NONE
        if crypt is None:
            if prop == "encryption":
                return PropertyValue(value="off", source=PropertySource.DEFAULT)
            if prop in ("keystatus", "encryptionroot") or not isinstance(obj, Dataset):
                return PropertyValue(value="-", source=none)
            return PropertyValue(value="none", source=PropertySource.DEFAULT)
        if prop == "encryption":
            return PropertyValue(value=crypt.cipher, source=none)
        if prop == "keystatus":
            return PropertyValue(
                value="available" if crypt.key_loaded else "unavailable", source=none
            )
        if prop == "encryptionroot":
            return PropertyValue(value=crypt.root.name, source=none)
        if not isinstance(obj, Dataset):
            return PropertyValue(value="-", source=none)
        if prop == "keyformat":
            return PropertyValue(value=crypt.keyformat, source=none)
        # keylocation lives on the encryption root only
        if crypt.root is ds:
            return PropertyValue(
                value=ds.local.get("keylocation", "prompt"), source=PropertySource.LOCAL
            )
        return PropertyValue(value="none", source=PropertySource.DEFAULT)

    def _dataset_native(self, ds: Dataset, prop: str) -> PropertyValue:
        spec = NATIVE[prop]
        if prop in ds.local:
            return PropertyValue(value=ds.local[prop], source=PropertySource.LOCAL)
        if prop in ds.received:
            return PropertyValue(value=ds.received[prop], source=PropertySource.RECEIVED)
        if spec.inheritable:
            ancestor = self._parent(ds)
            while ancestor is not None:
                value = ancestor.local.get(prop, ancestor.received.get(prop))
                if value is not None:
                    if prop == "mountpoint" and value.startswith("/"):
                        below = ds.name[len(ancestor.name) :]
                        value = value.rstrip("/") + below
                    return PropertyValue(
                        value=value, source=PropertySource.INHERITED, inherited_from=ancestor.name
                    )
                ancestor = self._parent(ancestor)
        if prop == "mountpoint":
            return PropertyValue(value="/" + ds.name, source=PropertySource.DEFAULT)
        return PropertyValue(value=spec.default, source=PropertySource.DEFAULT)
