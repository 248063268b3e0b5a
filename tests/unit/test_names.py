"""Name validation: everything ZFS rejects, and anything that could be read as an option."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zfsyncd.zfs import names
from zfsyncd.zfs.errors import InvalidNameError


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("pool/fs; rm -rf /", "invalid character ';'"),
        ("-R", "read as an option"),
        ("pool//fs", "empty component"),
        ("pool/fs/", "empty component"),
        ("/pool/fs", "empty pool name"),
        ("pool/" + "x" * 251, "over 255"),
        ("", "empty"),
        ("pool/fs$(reboot)", "invalid character '$'"),
        ("pool/fs`id`", "invalid character '`'"),
        ("pool/f\ns", "invalid character '\\n'"),
        ("pool/fs\t", "invalid character '\\t'"),
        ("pool/fs%tmp", "invalid character '%'"),
        ("pool/./fs", "'.' is reserved"),
        ("pool/../fs", "'..' is reserved"),
        ("1pool/fs", "must begin with a letter"),
        ("mirror1/fs", "reserved"),
        ("raidz/fs", "reserved"),
        ("log/fs", "reserved"),
        ("c0t0d0/fs", "reserved"),
        ("pool/fs@snap", "may not contain '@'"),
        ("pool/é", "invalid character 'é'"),
        ("/".join(["p"] * 51), "nested 51 deep"),
    ],
)
def test_bad_dataset_names_say_what_is_wrong(bad: str, problem: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        names.check_dataset(bad)
    assert problem in str(info.value)
    assert info.value.name == bad


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("pool/fs@", "empty snapshot name"),
        ("pool/fs", "exactly one '@' (pool/fs@snap); it has none"),
        ("pool/fs@a@b", "more than one"),
        ("@snap", "empty pool name"),
        ("pool/fs@-x;y", "invalid character ';'"),
        ("pool/fs#m@s", "may not contain '#'"),
        ("-pool/fs@s", "read as an option"),
        ("pool/fs@" + "s" * 250, "over 255"),
    ],
)
def test_bad_snapshot_names(bad: str, problem: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid ZFS name") as info:
        names.check_snapshot(bad)
    assert problem in str(info.value)


def test_the_issue_examples_are_rejected_by_every_checker() -> None:
    for bad in ("pool/fs; rm -rf /", "-R", "pool//fs", "pool/fs@", "p/" + "x" * 300):
        for check in (names.check_dataset, names.check_snapshot, names.check_bookmark):
            with pytest.raises(InvalidNameError):
                check(bad)
        with pytest.raises(InvalidNameError):
            names.check_any(bad)


@pytest.mark.parametrize(
    "good",
    ["tank", "tank/data", "tank/a-b_c.d:e", "tank/with space", "Tank2/x/y/z", "t/" + "x" * 253],
)
def test_good_dataset_names(good: str) -> None:
    assert names.check_dataset(good) == good
    assert names.check_any(good) == (good, names.NameKind.DATASET)


def test_length_limit_is_255_bytes_not_characters() -> None:
    names.check_dataset("p/" + "x" * 253)
    with pytest.raises(InvalidNameError, match="256 bytes"):
        names.check_dataset("p/" + "x" * 254)


def test_kinds_and_parts() -> None:
    assert names.check_any("p/fs@s") == ("p/fs@s", names.NameKind.SNAPSHOT)
    assert names.check_any("p/fs#b") == ("p/fs#b", names.NameKind.BOOKMARK)
    assert names.dataset_of("p/a/b@s") == "p/a/b"
    assert names.pool_of("p/a/b#m") == "p"
    assert names.parent_of("p/a/b") == "p/a"
    assert names.parent_of("p/a@s") == "p/a"
    assert names.parent_of("p") is None
    assert names.short_name("p/a@s1") == "s1"
    assert names.is_descendant("p/a/b@s", "p/a")
    assert not names.is_descendant("p/ab", "p/a")


def test_snapshot_or_bookmark() -> None:
    assert names.check_snapshot_or_bookmark("p/fs#b") == "p/fs#b"
    with pytest.raises(InvalidNameError, match="expected a snapshot"):
        names.check_snapshot_or_bookmark("p/fs")


@pytest.mark.parametrize(
    ("prop", "ok"),
    [
        ("zfsync:role", True),
        ("com.example:keep-7", True),
        ("compression", True),
        ("Zfsync:role", False),
        ("nocolon-", False),
        ("-o:x", False),
        ("zfsync:ro le", False),
        ("zfsync:" + "x" * 300, False),
    ],
)
def test_property_names(prop: str, ok: bool) -> None:
    if ok:
        assert names.check_property_name(prop) == prop
    else:
        with pytest.raises(InvalidNameError):
            names.check_property_name(prop)


def test_property_values_that_zfs_list_could_not_read_back() -> None:
    assert names.check_property_value("zfsync:x", "a b=c") == "a b=c"
    for bad in ("a\tb", "a\nb", "a\0b"):
        with pytest.raises(InvalidNameError, match="tab, newline or NUL"):
            names.check_property_value("zfsync:x", bad)
    with pytest.raises(InvalidNameError, match="8192 bytes"):
        names.check_property_value("zfsync:x", "v" * 8193)


def test_hold_tags() -> None:
    assert names.check_hold_tag("zfsync_tx_42") == "zfsync_tx_42"
    for bad in ("", "-r", "a;b", "x" * 256):
        with pytest.raises(InvalidNameError):
            names.check_hold_tag(bad)


def test_non_strings_are_rejected() -> None:
    with pytest.raises(InvalidNameError, match="expected a string"):
        names.check_dataset(42)  # type: ignore[arg-type]


_component = st.text(alphabet="abcXYZ019_-.: ", min_size=1, max_size=20).filter(
    lambda c: c not in (".", "..")
)


@given(
    pool=st.from_regex(r"[a-b][a-z0-9]{0,10}", fullmatch=True),
    parts=st.lists(_component, max_size=5),
    snap=_component,
)
def test_valid_names_round_trip(pool: str, parts: list[str], snap: str) -> None:
    dataset = "/".join([pool, *parts])
    if len(dataset.encode()) + len(snap) + 1 > names.MAX_NAME_BYTES:
        return
    assert names.check_dataset(dataset) == dataset
    full = names.check_snapshot(f"{dataset}@{snap}")
    assert names.dataset_of(full) == dataset
    assert names.short_name(full) == snap


@given(st.text(max_size=40))
def test_whatever_passes_never_looks_like_an_option_or_holds_a_shell_metachar(text: str) -> None:
    try:
        checked, _ = names.check_any(text)
    except InvalidNameError:
        return
    assert not checked.startswith("-")
    assert not set(checked) & set(";|&$`'\"<>()\\\n\t*?[]{}!~%")
