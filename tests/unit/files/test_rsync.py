"""The rsync runner with a real rsync on temporary directories: what it copies (hard links,
xattrs), excludes, delete, its progress and its errors."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest
import xxhash

from zfsyncd.commands.errors import CommandNotFoundError
from zfsyncd.commands.runner import CommandRunner, Transport
from zfsyncd.files import rsync as rsync_module
from zfsyncd.files.rsync import (
    RsyncError,
    RsyncJob,
    content_written,
    parse_itemized,
    parse_progress,
    rsync_argv,
    run_rsync,
)


def _tree(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"a" * 5000)
    (root / "sub" / "b.log").write_bytes(b"log")
    (root / "sub" / "c.txt").write_bytes(b"c")
    os.link(root / "a.txt", root / "sub" / "a-link.txt")


def _set_xattr(path: Path) -> None:
    try:
        os.setxattr(path, "user.zfsync-test", b"kept")
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EPERM):
            pytest.skip(f"no user xattrs on {path.parent}")
        raise


#: what every rsync gets (the module's docstring)
ALWAYS = ["rsync", "-aHAX", "--numeric-ids", "--modify-window=-1"]
PROGRESS = "--info=progress2"
ITEMIZE = ["--checksum-choice=xxh128", "--out-format=%i %C %n"]


@pytest.mark.parametrize(
    ("job", "argv"),
    [
        (
            RsyncJob(Path("/src"), Path("/dst/")),
            [*ALWAYS, "--delete", PROGRESS, "/src/", "/dst/"],
        ),
        (
            RsyncJob(Path("/s"), Path("/d"), excludes=("*.log", "-x y"), delete=False),
            [*ALWAYS, "--exclude=*.log", "--exclude=-x y", PROGRESS, "/s/", "/d/"],
        ),
        (RsyncJob(Path("/"), Path("/d")), [*ALWAYS, "--delete", PROGRESS, "/", "/d/"]),
        (
            RsyncJob(Path("/s"), Path("/d"), itemize=True),
            [*ALWAYS, "--delete", PROGRESS, *ITEMIZE, "/s/", "/d/"],
        ),
    ],
)
def test_argv(job: RsyncJob, argv: list[str]) -> None:
    assert rsync_argv(job) == argv


@pytest.mark.parametrize(
    "bad",
    [
        {"source": Path("rel"), "target": Path("/d")},
        {"source": Path("/s"), "target": Path("-d")},
        {"source": Path("/s"), "target": Path("/d"), "excludes": ("",)},
        {"source": Path("/s"), "target": Path("/d"), "excludes": ("a\nb",)},
    ],
)
def test_a_bad_job_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"absolute paths|exclude pattern"):
        RsyncJob(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("      1,234,567  45%   12.34MB/s    0:00:01 (xfr#3, to-chk=0/5)", (1234567, 3)),
        ("              0   0%    0.00kB/s    0:00:00", (0, 0)),
        ("sending incremental file list", None),
        ("", None),
        ("rsync: [sender] change_dir failed", None),
    ],
)
def test_parse_progress(line: str, parsed: tuple[int, int] | None) -> None:
    assert parse_progress(line) == parsed


async def test_copies_hard_links_and_xattrs_and_reports_progress(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src)
    _set_xattr(src / "sub" / "c.txt")
    dst.mkdir()
    seen: list[int] = []
    result = await run_rsync(RsyncJob(src, dst), seen.append)
    assert (dst / "a.txt").read_bytes() == b"a" * 5000
    assert os.stat(dst / "a.txt").st_ino == os.stat(dst / "sub" / "a-link.txt").st_ino
    assert os.getxattr(dst / "sub" / "c.txt", "user.zfsync-test") == b"kept"
    assert result.bytes >= 5000 + 3 + 1
    assert result.files >= 3
    assert seen
    assert seen[-1] == result.bytes


async def test_excludes_and_delete(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src)
    dst.mkdir()
    (dst / "stale.txt").write_text("gone after")
    await run_rsync(RsyncJob(src, dst, excludes=("*.log",)))
    assert not (dst / "stale.txt").exists()
    assert not (dst / "sub" / "b.log").exists()
    assert (dst / "sub" / "c.txt").exists()
    # without delete, what the target has stays; a second run transfers nothing new
    (dst / "mine.txt").write_text("kept")
    again = await run_rsync(RsyncJob(src, dst, excludes=("*.log",), delete=False))
    assert (dst / "mine.txt").read_text() == "kept"
    assert again.files == 0


async def test_an_error_names_the_source_and_rsyncs_message(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    seen: list[str] = []
    runner = CommandRunner(observers=[lambda argv: seen.append(argv[0])])
    with pytest.raises(RsyncError) as info:
        await run_rsync(RsyncJob(missing, tmp_path / "dst"), runner=runner)
    message = str(info.value)
    assert str(missing) in message
    assert "No such file or directory" in message
    assert info.value.returncode != 0
    assert not info.value.transient
    assert seen == ["rsync"]  # the runner's observers saw it


SUM = "5c7401c0ec22eeeeeaf06c6480b2cd11"
NONE = " " * 32


@pytest.mark.parametrize(
    ("line", "parsed", "written"),
    [
        (f">f+++++++++ {SUM} new.txt", (">f+++++++++", SUM, "new.txt"), True),
        (f">f.st...... {SUM} sub/changed name", (">f.st......", SUM, "sub/changed name"), True),
        (f">f+++++++++ {SUM}  leading space", (">f+++++++++", SUM, " leading space"), True),
        (f"hf+++++++++ {NONE} sub/link => x", ("hf+++++++++", "", "sub/link => x"), True),
        (f".f...p..... {NONE} only-mode", (".f...p.....", "", "only-mode"), False),
        (f"cd+++++++++ {NONE} sub/", ("cd+++++++++", "", "sub/"), False),
        (f"cL+++++++++ {NONE} link -> x", ("cL+++++++++", "", "link -> x"), False),
        # rsync's escapes: a newline, a byte that is no character (fsdecode's surrogate), a
        # backslash that would read as one
        (f">f+++++++++ {SUM} we\\#012ird", (">f+++++++++", SUM, "we\nird"), True),
        (f">f+++++++++ {SUM} caf\\#351", (">f+++++++++", SUM, "caf\udce9"), True),
        (f">f+++++++++ {SUM} a\\#134#012b", (">f+++++++++", SUM, "a\\#012b"), True),
        # not an itemized line: no checksum column, a short or odd one, a deletion, progress
        (">f+++++++++ new.txt", None, False),
        (f">f+++++++++ {SUM[:-1]} x", None, False),
        (f">f+++++++++ {SUM.upper()} x", None, False),
        (f"*deleting   {NONE} gone.txt", None, False),
        ("      1,234,567  45%   12.34MB/s    0:00:01 (xfr#3, to-chk=0/5)", None, False),
        ("created directory /d", None, False),
        ("", None, False),
    ],
)
def test_parse_itemized(line: str, parsed: tuple[str, str, str] | None, written: bool) -> None:
    raw = os.fsencode(line)
    assert parse_itemized(raw) == parsed
    assert (parsed is not None and content_written(parsed[0])) is written


async def test_itemize_names_the_files_whose_contents_it_wrote(tmp_path: Path) -> None:
    """Only what rsync wrote: new and changed files (a same-size edit too, whatever its
    mtime), not one whose mode alone changed, not an unchanged one; odd names exact. Each
    file it sent has the checksum of its contents (xxh128, as xxhash makes it); a hard
    link it made has none."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src)
    odd = os.fsdecode(b"odd \xff\nname \\#012")
    (src / odd).write_bytes(b"odd")
    first = await run_rsync(RsyncJob(src, dst, itemize=True))
    assert first.written == {"a.txt", "sub/b.log", "sub/c.txt", "sub/a-link.txt", odd}
    linked = {"a.txt", "sub/a-link.txt"}  # one of them is sent, the other linked to it
    assert len(first.checksums.keys() & linked) == 1
    assert first.checksums.keys() - linked == {"sub/b.log", "sub/c.txt", odd}
    assert all(v == _xxh128(dst / k) for k, v in first.checksums.items())
    (src / "sub" / "c.txt").write_bytes(b"C")  # same size
    (src / "sub" / "b.log").chmod(0o600)
    (src / "new").write_bytes(b"n")
    again = await run_rsync(RsyncJob(src, dst, itemize=True))
    assert again.written == {"sub/c.txt", "new"}
    assert again.checksums == {"sub/c.txt": _xxh128(src / "sub/c.txt"), "new": _xxh128(src / "new")}
    plain = await run_rsync(RsyncJob(src, dst))
    assert (plain.written, plain.checksums) == (frozenset(), {})


def _xxh128(path: Path) -> str:
    return xxhash.xxh3_128_hexdigest(path.read_bytes())


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def test_output_larger_than_its_pipe_is_read_whole_between_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rsync's output is read every READ_EVERY seconds, not as it comes: with a pipe of
    one page and reads far apart, rsync waits on the full pipe and nothing is lost (each
    of 400 files is itemized, with its checksum); the pipe is closed after."""
    monkeypatch.setattr(rsync_module._Output, "PIPE_SIZE", 4096)
    monkeypatch.setattr(rsync_module._Output, "READ_EVERY", 0.1)
    src = tmp_path / "src"
    src.mkdir()
    names = {f"file-{i:05d}-{'x' * 40}" for i in range(400)}
    for name in names:
        (src / name).write_text(name)
    before = _open_fds()
    seen: list[int] = []
    result = await run_rsync(RsyncJob(src, tmp_path / "dst", itemize=True), seen.append)
    assert result.written == names
    assert result.checksums == {n: _xxh128(src / n) for n in names}
    assert seen[-1] == result.bytes == sum(len(n) for n in names)
    assert _open_fds() == before


async def test_a_stopped_or_failed_rsync_leaves_no_process_or_pipe(tmp_path: Path) -> None:
    """Cancelled while it runs (the engine stopping a step): its process group is killed
    and the pipes closed; a failure and a missing program close them too."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(1 << 20))
    before = _open_fds()
    # a prefix that says its pid and waits before it runs rsync: the stop finds it running
    script = 'echo $$ > "$0.pid"; sleep 30; exec "$@"'
    runner = CommandRunner(transport=Transport(prefix=("sh", "-c", script, str(src))))
    task = asyncio.ensure_future(run_rsync(RsyncJob(src, tmp_path / "dst"), runner=runner))
    for _ in range(100):
        if (src.with_suffix(".pid")).exists():
            break
        await asyncio.sleep(0.05)
    pid = int(src.with_suffix(".pid").read_text() or 0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _open_fds() == before
    with pytest.raises(RsyncError):
        await run_rsync(RsyncJob(tmp_path / "missing", tmp_path / "dst"))
    assert _open_fds() == before
    missing = CommandRunner(transport=Transport(prefix=("/no/such/program",)))
    with pytest.raises(CommandNotFoundError):
        await run_rsync(RsyncJob(src, tmp_path / "dst"), runner=missing)
    assert _open_fds() == before
