"""Manifests (build, store, well-formedness) and validation against a source, on temp trees."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from zfsyncd.files.rsync import RsyncJob, run_rsync
from zfsyncd.ops.migration import manifest as mf
from zfsyncd.ops.migration.sources import SourceSnapshot
from zfsyncd.ops.migration.validation import differences, pick, validate

ODD = "odd name \udcff\n*"


def _tree(root: Path, version: int) -> None:
    (root / "d").mkdir(parents=True, exist_ok=True)
    (root / "d" / "a.txt").write_text(f"a{version}")
    (root / os.fsdecode(b"odd name \xff\n*")).write_bytes(b"odd")
    if not (root / "link").is_symlink():
        (root / "link").symlink_to("d/a.txt")
    if not (root / "hard").exists():
        os.link(root / "d" / "a.txt", root / "hard")
    (root / ".zfsync").mkdir(exist_ok=True)  # metadata: left out of every manifest


def test_manifest_round_trip_and_odd_names(tmp_path: Path) -> None:
    _tree(tmp_path, 1)
    built = mf.build(tmp_path, 1)
    paths = [e.path for e in built.entries]
    assert paths == sorted(paths)
    assert ODD in paths
    assert ".zfsync" not in paths
    kinds = {e.path: e.type for e in built.entries}
    assert kinds == {"d": "d", "d/a.txt": "f", "hard": "f", "link": "l", ODD: "f"}
    assert built.by_path()["hard"].nlink == 2
    stored = mf.write(tmp_path, built)
    assert stored == tmp_path / ".zfsync" / "manifests" / "000001.json"
    assert mf.load(stored) == built
    assert mf.check(json.loads(stored.read_text())) == []


def test_hashes_are_reused_only_for_the_same_file(tmp_path: Path) -> None:
    _tree(tmp_path, 1)
    first = mf.build(tmp_path, 1)
    (tmp_path / "d" / "new.txt").write_text("x")
    (tmp_path / os.fsdecode(b"odd name \xff\n*")).unlink()
    (tmp_path / os.fsdecode(b"odd name \xff\n*")).write_bytes(b"new")  # recreated
    second = mf.build(tmp_path, 2, previous=first, written=frozenset())
    assert second.by_path()[ODD].content == mf.file_hash(tmp_path / ODD)
    assert second == mf.build(tmp_path, 2)


def test_a_file_rsync_wrote_is_hashed_again_whatever_its_stat(tmp_path: Path) -> None:
    """rsync's list of what it wrote is the authority: a file in it is read again even when
    its inode, size, mtime and ctime are those the previous manifest recorded (here: the
    previous manifest's hash is made wrong, so a reuse would show)."""
    _tree(tmp_path, 1)
    first = mf.build(tmp_path, 1)
    stale = _wrong(first, "d/a.txt")
    reused = mf.build(tmp_path, 2, previous=stale, written=frozenset())
    assert reused.by_path()["d/a.txt"].content == "0" * 32  # the cache is in use
    written = mf.build(tmp_path, 2, previous=stale, written=frozenset({"d/a.txt"}))
    assert written.by_path()["d/a.txt"].content == mf.file_hash(tmp_path / "d/a.txt")
    # nothing known of what rsync wrote: nothing reused
    unknown = mf.build(tmp_path, 2, previous=stale)
    assert unknown.by_path()["d/a.txt"].content == mf.file_hash(tmp_path / "d/a.txt")


def _wrong(manifest: mf.Manifest, path: str) -> mf.Manifest:
    """`manifest` with a hash that is no file's at `path` (its hard links keep theirs)."""
    entries = tuple(
        dataclasses.replace(e, content="0" * len(e.content)) if e.path == path else e
        for e in manifest.entries
    )
    return mf.Manifest(manifest.number, entries, manifest.format)


def test_rsyncs_checksums_are_the_hashes_of_the_files_it_sent(tmp_path: Path) -> None:
    """A file rsync sent has the checksum rsync made of it (here made wrong, so its use
    shows), which its hard links share; no file is read for them; a name rsync gave that
    is no regular file now is not given one."""
    _tree(tmp_path, 1)
    sent = {"d/a.txt": "1" * 32, "link": "2" * 32, ODD: mf.file_hash(tmp_path / ODD)}
    reads: list[str] = []
    real = mf.hash_files

    def counted(paths: list[str]) -> list[str]:
        reads.extend(paths)
        return real(paths)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mf, "hash_files", counted)
        built = mf.build(tmp_path, 1, written=frozenset(sent), checksums=sent).by_path()
    assert reads == []
    assert built["d/a.txt"].content == built["hard"].content == "1" * 32
    assert built["link"].content == "d/a.txt"  # a symlink: its target
    # the real checksums make the manifest a full read would
    true = {p: mf.file_hash(tmp_path / p) for p in ("d/a.txt", ODD)}
    assert mf.build(tmp_path, 1, written=frozenset(true), checksums=true) == mf.build(tmp_path, 1)


def test_rsyncs_checksum_is_xxh128_as_the_manifest_makes_it(tmp_path: Path) -> None:
    """What rsync says of a file it sent is what file_hash makes of it (the manifest mixes
    the two: rsync's for what it sent, its own reads for the rest)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(3 << 20))  # more than one of file_hash's chunks
    (src / "empty").write_bytes(b"")
    copied = asyncio.run(run_rsync(RsyncJob(src, tmp_path / "dst", itemize=True)))
    assert copied.checksums == {n: mf.file_hash(src / n) for n in ("big", "empty")}


def test_hard_links_read_once(tmp_path: Path) -> None:
    _tree(tmp_path, 1)
    reads: list[str] = []
    real = mf.file_hash

    def counted(path: Path | str, fmt: int = mf.FORMAT) -> str:
        reads.append(os.path.relpath(path, tmp_path))
        return real(path, fmt)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mf, "file_hash", counted)
        built = mf.build(tmp_path, 1).by_path()
    assert sorted(reads) == ["d/a.txt", ODD]  # "hard" is d/a.txt's inode
    assert built["hard"].content == built["d/a.txt"].content


def test_a_manifest_of_format_1_is_read_and_validated_by_its_sha256(tmp_path: Path) -> None:
    """Manifests written before xxh128 (format 1) hold sha256s: they are well formed, a
    migration validates against them (and catches a corrupted file with them), and the next
    copy does not take their hashes for its own."""
    root, sources = _migrated(tmp_path, 2)
    for number in (1, 2):
        path = mf.manifest_path(root, number)
        data = json.loads(path.read_text())
        assert data["format"] == mf.FORMAT == 2
        data["format"] = 1
        for entry in data["entries"]:
            if entry["type"] == "f":
                entry["content"] = mf.file_hash(root / entry["path"], 1)
        path.write_text(json.dumps(data))
    old = mf.load(mf.manifest_path(root, 2))
    assert old.format == 1
    assert validate(root, sources, [1, 2], full=True).ok
    assert mf.build(root, 3, previous=old, written=frozenset()) == mf.build(root, 3)
    target = root / "d" / "a.txt"
    st = target.stat()
    target.write_text("b2")  # same size; its times put back: only its contents tell
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    failed = {c.name: c.problems for c in validate(root, sources, [1, 2]).checks if not c.ok}
    assert "not as its manifest says: 'd/a.txt'" in failed["contents"], failed


def _good() -> dict[str, Any]:
    entry = {"path": "a", "type": "f", "size": 1, "mode": 0o644, "uid": 0, "gid": 0,
             "mtime_ns": 1, "nlink": 1, "content": "0" * 32, "ino": 1, "ctime_ns": 1}  # fmt: skip
    return {"format": 2, "number": 1, "entries": [entry, {**entry, "path": "b"}]}


def _with(**change: Any) -> dict[str, Any]:
    data = _good()
    data["entries"][1].update(change)
    return data


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ([], "not a JSON object"),
        ({**_good(), "format": 3}, "format"),
        ({**_good(), "format": "2"}, "format"),
        ({**_good(), "format": 1}, "no sha256 (64 hex digits)"),
        ({**_good(), "number": -1}, "number"),
        ({**_good(), "entries": None}, "no list"),
        (_with(path="a"), "twice"),
        (_with(path="0"), "out of order"),
        (_with(path="/etc"), "not relative"),
        (_with(path="x/../y"), "not relative"),
        (_with(path=".zfsync/x"), "excluded"),
        (_with(content="zz"), "no xxh128 (32 hex digits)"),
        (_with(content="0" * 64), "no xxh128"),
        (_with(content="A" * 32), "no xxh128"),
        (_with(type="q"), "type"),
        (_with(size="1"), "wrong type"),
        (_with(size=-1), "negative"),
        ({**_good(), "entries": [{"path": "a"}]}, "missing or unknown"),
    ],
)
def test_ill_formed_manifests(data: object, says: str) -> None:
    problems = mf.check(data)
    assert any(says in p for p in problems), problems


def test_well_formed_manifests_of_each_format() -> None:
    assert mf.check(_good()) == []
    old = _good()
    old["format"] = 1
    for entry in old["entries"]:
        entry["content"] = "0" * 64
    assert mf.check(old) == []


def test_pick() -> None:
    paths = [str(i) for i in range(10)]
    assert pick(paths, 20) == sorted(paths)
    assert len(pick(paths, 3, seed=1)) == 3
    assert pick(paths, 3, seed=1) == pick(paths, 3, seed=1)


def test_differences(tmp_path: Path) -> None:
    _tree(tmp_path / "a", 1)
    shutil.copytree(tmp_path / "a", tmp_path / "b", symlinks=True)
    a, b = mf.build(tmp_path / "a", 1), mf.build(tmp_path / "b", 1)
    assert any("nlink" in d for d in differences(a, b, contents=True))  # copytree split it
    subprocess.run(
        ["rsync", "-aHAX", "--modify-window=-1", f"{tmp_path}/a/", f"{tmp_path}/c/"], check=True
    )
    c = mf.build(tmp_path / "c", 1)
    assert differences(a, c, contents=True) == []
    (tmp_path / "c" / "d" / "a.txt").write_text("a9")  # same size, other contents
    os.utime(tmp_path / "c" / "d" / "a.txt", ns=(0, a.by_path()["d/a.txt"].mtime_ns))
    c = mf.build(tmp_path / "c", 1)
    assert differences(a, c, contents=False) == []
    assert differences(a, c, contents=True) == [
        "contents differ: 'd/a.txt'",
        "contents differ: 'hard'",
    ]


def _migrated(tmp_path: Path, count: int) -> tuple[Path, list[SourceSnapshot]]:
    """A source of `count` snapshots and a dataset tree migrated as the step does it."""
    sources = []
    for n in range(1, count + 1):
        snap = tmp_path / "src" / f"s{n}"
        _tree(snap, n)
        shutil.rmtree(snap / ".zfsync")
        sources.append(SourceSnapshot(n, snap))
    root = tmp_path / "ds"
    previous = None
    for source in sources:
        subprocess.run(["rsync", "-aHAX", "--modify-window=-1", "--delete", "--exclude=/.zfsync",
                        f"{source.path}/", f"{root}/"], check=True)  # fmt: skip
        previous = mf.build(root, source.number, previous)
        mf.write(root, previous)
    return root, sources


def test_a_migrated_tree_validates(tmp_path: Path) -> None:
    root, sources = _migrated(tmp_path, 3)
    report = validate(root, sources, [1, 2, 3], sample=2, full=True)
    assert report.ok, report.to_json()
    partial = validate(root, sources, [1, 2], sample=2)
    assert not partial.ok  # the tree is snapshot 3's, not 2's
    assert validate(root, sources, [1, 3]).to_json()["checks"][0]["ok"] is False


@pytest.mark.parametrize("full", [False, True])
def test_a_corrupted_file_is_caught(tmp_path: Path, full: bool) -> None:
    root, sources = _migrated(tmp_path, 2)
    target = root / "d" / "a.txt"
    st = target.stat()
    target.write_text("b2")  # same size; its times put back: only its contents tell
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    report = validate(root, sources, [1, 2], sample=100, full=full)
    failed = {c.name: c.problems for c in report.checks if not c.ok}
    assert set(failed) == {"contents"}, failed
    assert "contents differ: 'd/a.txt'" in failed["contents"]
    assert "not as its manifest says: 'd/a.txt'" in failed["contents"]


def test_a_broken_or_missing_manifest_is_caught(tmp_path: Path) -> None:
    root, sources = _migrated(tmp_path, 2)
    mf.manifest_path(root, 1).write_text("{}")
    mf.manifest_path(root, 2).unlink()
    failed = {c.name for c in validate(root, sources, [1, 2]).checks if not c.ok}
    assert "manifests" in failed


def test_the_previous_manifest_is_the_one_written_while_its_file_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next snapshot's copy gets the manifest this process wrote without reading it,
    once, while the file is still the one written; asked again (a retry), or for a file
    changed or put there since, the file is read (and one not well formed refused), and
    `load` (validation's) always reads."""
    _tree(tmp_path, 1)
    built = mf.build(tmp_path, 1)
    stored = mf.write(tmp_path, built)
    reads: list[Path] = []
    real_load = mf.load

    def counted(path: Path) -> mf.Manifest:
        reads.append(path)
        return real_load(path)

    monkeypatch.setattr(mf, "load", counted)
    assert mf.load_previous(stored) is built
    assert reads == []
    assert mf.load_previous(stored) == built  # taken once: a retry reads the file
    assert reads == [stored]
    # the same bytes written again by someone else (its times set apart: a write in the
    # same clock tick as ours may keep them, as with the hashes kept from the previous
    # manifest: module docstring), so read
    stored = mf.write(tmp_path, built)
    stored.write_text(stored.read_text())
    os.utime(stored, ns=(0, 12345))
    reads.clear()
    assert mf.load_previous(stored) == built
    assert reads == [stored]
    mf.write(tmp_path, built)
    stored.write_text("{}")
    with pytest.raises(ValueError, match=r"000001\.json"):
        mf.load_previous(stored)
    # a file renamed into its place (a manifest of another tree)
    again = mf.write(tmp_path, built)
    other = tmp_path / "other.json"
    other.write_text(again.read_text())
    os.replace(other, again)
    reads.clear()
    assert mf.load_previous(again) == built
    assert reads == [again]


def test_the_manifests_kept_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most ENTRIES entries are kept in all, the oldest let go first; a manifest larger
    than that is not kept (its next copy reads it)."""
    monkeypatch.setattr(mf, "_WRITTEN", type(mf._WRITTEN)())
    monkeypatch.setattr(type(mf._WRITTEN), "ENTRIES", 12)
    trees = []
    for n in range(3):
        root = tmp_path / f"t{n}"
        _tree(root, n)
        trees.append((root, mf.build(root, 1)))
    sizes = [len(m.entries) for _, m in trees]
    assert sizes == [5, 5, 5]
    paths = [mf.write(root, m) for root, m in trees]
    assert len(mf._WRITTEN) == 2  # 15 entries > 12: the oldest let go
    assert mf._WRITTEN.take(paths[0]) is None
    assert mf._WRITTEN.take(paths[2]) is trees[2][1]
    monkeypatch.setattr(type(mf._WRITTEN), "ENTRIES", 4)
    mf.write(*trees[1])
    assert len(mf._WRITTEN) == 0  # larger than the bound: not kept, its older one let go
