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
    added,
    content_bytes,
)
from zfsyncd.zfs.memory.rules import FILESYSTEM_ONLY, NATIVE
from zfsyncd.zfs.memory.tree import Tree
from zfsyncd.zfs.models import ObjectType, PropertySource, PropertyValue, ZfsObject


class Values(Tree):
    # ----------------------------------------------------------------------- rows

    def _row(
        self,
        obj: Object,
        user_properties: Sequence[str],
        *,
        written: bool = False,
        encryption: bool = False,
    ) -> ZfsObject:
        """What `zfs list -Hp` prints for one object (with `written`, `encryption`: those
        columns too; a bookmark shows '-' for both)."""
        row = self._plain_row(obj, user_properties)
        if isinstance(obj, Bookmark) or not (written or encryption):
            return row
        update: dict[str, object] = {}
        if written:
            update["written"] = self._written(obj)
        if encryption:
            update["encryption"] = self._crypt_value(obj, "encryption").value
        return row.model_copy(update=update)

    @staticmethod
    def _written(obj: Dataset | Snapshot) -> int:
        """Bytes referenced now that the previous snapshot does not have (real: a dataset's
        `written` counts since its newest snapshot, a snapshot's since the one before it;
        with none before, everything it references)."""
        if isinstance(obj, Snapshot):
            before = [s for s in obj.dataset.ordered_snapshots() if s.createtxg < obj.createtxg]
            content = obj.content
        else:
            before = obj.ordered_snapshots()
            content = obj.content
            if not before and obj.origin is not None:  # a clone: since its origin
                before = [obj.origin]
        if not before:
            return EMPTY_DATASET_BYTES + content_bytes(content)
        return added(content, before[-1].content)

    def _plain_row(self, obj: Object, user_properties: Sequence[str]) -> ZfsObject:
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

    # ---------------------------------------------------- where any value comes from

    @staticmethod
    def _own_value(obj: Dataset | Snapshot, prop: str) -> PropertyValue | None:
        """A value set on `obj` itself: locally, or by a receive (a local one hides it)."""
        if prop in obj.local:
            return PropertyValue(value=obj.local[prop], source=PropertySource.LOCAL)
        if prop in obj.received:
            return PropertyValue(value=obj.received[prop], source=PropertySource.RECEIVED)
        return None

    def _inherited(self, ds: Dataset | None, prop: str) -> tuple[Dataset, str] | None:
        """The nearest of `ds` and its ancestors that has `prop` set, and its value."""
        while ds is not None:
            value = ds.local.get(prop, ds.received.get(prop))
            if value is not None:
                return ds, value
            ds = self._parent(ds)
        return None

    # ------------------------------------------------------------ user properties

    def _user_value(self, obj: Object, prop: str) -> PropertyValue:
        """A user property: set here, received here, or inherited (a snapshot inherits
        from its dataset: real `zfs get` says 'inherited from pool/fs')."""
        if isinstance(obj, Bookmark):
            return PropertyValue(value=None, source=PropertySource.NONE)
        own = self._own_value(obj, prop)
        if own is not None:
            return own
        above = obj.dataset if isinstance(obj, Snapshot) else self._parent(obj)
        found = self._inherited(above, prop)
        if found is None:
            return PropertyValue(value=None, source=PropertySource.NONE)
        ancestor, value = found
        return PropertyValue(
            value=value, source=PropertySource.INHERITED, inherited_from=ancestor.name
        )

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
        if prop == "mounted":
            return PropertyValue(value=self._mounted(obj), source=none)
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

    def _mounted(self, obj: Object) -> str:
        """What `zfs get mounted` says, as ZFS mounts by itself: a filesystem is mounted
        when it may be (canmount=on), has a path to mount at and, if encrypted, its key;
        create, clone, rename and `zfs set mountpoint` (re)mount it there. Not modelled: a
        `zfs receive -u` or `zfs unmount` that leaves a mountable one unmounted, a mount
        that fails."""
        if not isinstance(obj, Dataset) or obj.type is not ObjectType.FILESYSTEM:
            return "-"
        if obj.half_made or self._dataset_native(obj, "canmount").value != "on":
            return "no"
        if not (self._dataset_native(obj, "mountpoint").value or "").startswith("/"):
            return "no"
        if obj.crypt is not None and not obj.crypt.key_loaded:
            return "no"
        return "yes"

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
        own = self._own_value(ds, prop)
        if own is not None:
            return own
        found = self._inherited(self._parent(ds), prop) if spec.inheritable else None
        if found is not None:
            ancestor, value = found
            if prop == "mountpoint" and value.startswith("/"):
                below = ds.name[len(ancestor.name) :]
                value = value.rstrip("/") + below
            return PropertyValue(
                value=value, source=PropertySource.INHERITED, inherited_from=ancestor.name
            )
        if prop == "mountpoint":
            return PropertyValue(value="/" + ds.name, source=PropertySource.DEFAULT)
        return PropertyValue(value=spec.default, source=PropertySource.DEFAULT)
