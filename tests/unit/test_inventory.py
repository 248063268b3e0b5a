"""zfs list -Hp parsing, on the exact text OpenZFS 2.3.2 printed in the lab."""

from __future__ import annotations

import pytest

from zfsyncd.zfs.errors import InvalidNameError
from zfsyncd.zfs.inventory import (
    BASE_COLUMNS,
    Inventory,
    InventoryParseError,
    list_columns,
    parse_list,
)
from zfsyncd.zfs.models import ObjectType, ZfsObject

# `zfs list -Hp -t all -o <BASE_COLUMNS>,zfsync:role -r a`, captured in the lab
REAL = (
    "a\tfilesystem\t16284119715123062337\t1\t1795246826\t9788928\t25600\t-\t-\t-\t-\n"
    "a/cl\tfilesystem\t9017256892128477008\t18\t1795246830\t0\t24576\t-\ta/fs@s1\t-\t-\n"
    "a/fs\tfilesystem\t4235655875248946344\t9\t1795246827\t63488\t24576\t-\t-\t-\tsource\n"
    "a/fs@s1\tsnapshot\t10776152312054534971\t10\t1795246828\t14336\t24576\t1\t-\t-\tsource\n"
    "a/fs@s2\tsnapshot\t771832040537855506\t19\t1795246830\t0\t24576\t0\t-\t-\tsource\n"
    "a/fs#bm\tbookmark\t10776152312054534971\t10\t1795246828\t-\t24576\t-\t-\t-\t-\n"
    "a/x y\tfilesystem\t4685198141868632178\t21\t1795246832\t24576\t24576\t-\t-\t-\t-\n"
    "b/big\tfilesystem\t1\t5\t1795246840\t2900992\t2900992\t-\t-\t"
    "1-a47ed77aa-b8-789c6360\t-\n"
)


def test_columns_are_the_base_set_plus_user_properties() -> None:
    assert list_columns(["zfsync:role"]) == ",".join(BASE_COLUMNS) + ",zfsync:role"
    with pytest.raises(InvalidNameError):
        list_columns(["compression"])  # not a user property


def test_real_output_parses() -> None:
    objs = {o.name: o for o in parse_list(REAL, ["zfsync:role"])}
    assert objs["a/fs@s1"].type is ObjectType.SNAPSHOT
    assert objs["a/fs@s1"].guid == 10776152312054534971
    assert objs["a/fs@s1"].userrefs == 1
    assert objs["a/fs@s1"].dataset == "a/fs"
    assert objs["a/fs@s1"].short_name == "s1"
    assert objs["a/fs@s1"].user_properties == {"zfsync:role": "source"}
    assert objs["a/cl"].origin == "a/fs@s1"
    assert objs["a/fs"].origin is None
    assert objs["a/fs"].userrefs == 0
    bookmark = objs["a/fs#bm"]
    assert bookmark.type is ObjectType.BOOKMARK
    assert bookmark.used == 0
    assert bookmark.guid == objs["a/fs@s1"].guid  # a bookmark keeps its snapshot's guid
    assert objs["a/x y"].user_properties == {}
    assert objs["b/big"].receive_resume_token == "1-a47ed77aa-b8-789c6360"


def test_trusted_construction_equals_validated_models() -> None:
    for obj in parse_list(REAL, ["zfsync:role"]):
        validated = ZfsObject.model_validate(obj.model_dump())
        assert obj == validated
        assert obj.model_dump() == validated.model_dump()
        assert obj.model_fields_set == validated.model_fields_set


def test_a_parsed_object_copies_with_an_update_as_a_validated_one() -> None:
    """model_copy(update=...) adds to the copy's fields set, which parsed rows share as one
    frozenset: sync-to's plan (rewind.without_base_holds) failed on every real listing."""
    for obj in parse_list(REAL, ["zfsync:role"]):
        validated = ZfsObject.model_validate(obj.model_dump())
        for deep in (False, True):
            copied = obj.model_copy(update={"userrefs": 7}, deep=deep)
            assert copied == validated.model_copy(update={"userrefs": 7}, deep=deep)
            assert copied.userrefs == 7
        assert obj == validated  # the original unchanged
    # the shared set is left as it was for the next rows
    again = parse_list(REAL, ["zfsync:role"])[0]
    assert again.model_fields_set == set(ZfsObject.model_fields)


def test_objects_are_frozen() -> None:
    obj = parse_list(REAL, ["zfsync:role"])[0]
    with pytest.raises(ValueError, match="frozen"):
        obj.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("a\tfilesystem\t1\t1\n", "4 fields, expected 11"),
        ("a\tmystery\t1\t1\t1\t1\t1\t-\t-\t-\t-\n", "bad value"),
        ("a\tfilesystem\tNaN\t1\t1\t1\t1\t-\t-\t-\t-\n", "bad value"),
    ],
)
def test_malformed_lines_name_the_line(line: str, problem: str) -> None:
    with pytest.raises(InventoryParseError, match=problem) as info:
        parse_list(REAL + line, ["zfsync:role"])
    assert "line 9" in str(info.value)


def test_inventory_indexes_snapshots_oldest_first() -> None:
    inv = Inventory(parse_list(REAL, ["zfsync:role"]))
    assert len(inv) == 8
    assert "a/fs@s2" in inv
    assert [s.short_name for s in inv.snapshots("a/fs")] == ["s1", "s2"]
    assert inv.snapshots("a/cl") == []
    assert {d.name for d in inv.datasets()} == {"a", "a/cl", "a/fs", "a/x y", "b/big"}
    assert inv.get("a/nope") is None


def test_a_hundred_thousand_snapshots_parse() -> None:
    text = "".join(
        f"t/d{i % 100}@zfsync_{i:08d}\tsnapshot\t{i + 1}\t{i}\t{1700000000 + i}\t0\t4096\t0\t-\t-\n"
        for i in range(100_000)
    )
    inv = Inventory(parse_list(text))
    assert len(inv) == 100_000
    assert inv.snapshots("t/d7")[-1].name == "t/d7@zfsync_00099907"


def test_rows_with_equal_property_values_share_one_mapping() -> None:
    rows = (
        "p/a@1\tsnapshot\t1\t1\t1\t0\t0\t0\t-\t-\tsource\t-\n"
        "p/a@2\tsnapshot\t2\t2\t1\t0\t0\t0\t-\t-\tsource\t-\n"
        "p/a@3\tsnapshot\t3\t3\t1\t0\t0\t0\t-\t-\tsource\t7\n"
        "p/a@4\tsnapshot\t4\t4\t1\t0\t0\t0\t-\t-\t-\t-\n"
    )
    one, two, three, four = parse_list(rows, ["zfsync:role", "zfsync:keep"])
    assert one.user_properties is two.user_properties
    assert one.user_properties == {"zfsync:role": "source"}
    assert three.user_properties == {"zfsync:role": "source", "zfsync:keep": "7"}
    assert four.user_properties == {}
