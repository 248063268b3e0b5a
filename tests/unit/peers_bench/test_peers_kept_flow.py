"""bench/peers/lab.py's measure loop for cases 2-3 with every zfs-facing step replaced by a
recorder (the lab is not here): each tool's setup is made once, kept, and restored before
every run, so that each run starts from the same images and the bare loop from the same base
snapshot. The pool images are plain files whose text is the pools' state."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bench.lab_zfs import ZfsCounter, pool_image
from bench.peers import kept
from bench.peers import lab as peers_lab


class Fake:
    """What the zfs-facing steps did, in order, on images whose text is their state."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.snapshots = tmp, 0
        self.events: list[str] = []

    def image(self, pool: str) -> Path:
        return pool_image(self.tmp, pool)

    def fresh_pools(self) -> None:
        self.events.append("fresh pools")
        for pool in ("zbsrc", "zbdst"):
            self.image(pool).write_text("fresh\n")

    def write(self, directory: str, name: str, mib: int) -> None:
        self.events.append(f"write {name}")
        with self.image("zbsrc").open("a") as f:
            f.write(f"{directory}/{name}\n")

    def snapshot(self, dataset: str, recursive: bool) -> str:
        self.snapshots += 1
        self.events.append(f"snapshot s{self.snapshots}")
        return f"s{self.snapshots}"

    def send(self, base: str | None, snapshot: str, target: str) -> float:
        # DATASET@NAME: the name only (every dataset gets the same)
        since, name = base and base.split("@")[1], snapshot.split("@")[1]
        self.events.append(f"send {since}..{name} onto {self.image('zbdst').read_text()!r}")
        with self.image("zbdst").open("a") as f:
            f.write(f"{name}\n")
        return 0.0


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    fake = Fake(tmp_path)
    monkeypatch.setattr(peers_lab.Lab, "fresh_pools", lambda _: fake.fresh_pools())
    monkeypatch.setattr(peers_lab.Lab, "bench_snapshot", lambda _, d, r: fake.snapshot(d, r))
    monkeypatch.setattr(peers_lab, "zfs", lambda *argv: fake.events.append("zfs " + argv[0]))
    monkeypatch.setattr(peers_lab, "write_data", fake.write)
    monkeypatch.setattr(peers_lab, "bare_send", fake.send)
    for name in ("export_pools", "destroy_pools"):
        monkeypatch.setattr(peers_lab, name, lambda n=name: fake.events.append(n))
    monkeypatch.setattr(peers_lab, "import_pools", lambda _: fake.events.append("import_pools"))
    monkeypatch.setattr(kept, "available", lambda _: 1 << 40)
    return fake


def measure(fake: Fake, runs: int) -> tuple[peers_lab.Lab, list[dict[str, Any]]]:
    counter = ZfsCounter(fake.tmp / "zfs-commands.log", fake.tmp)
    sizes = peers_lab.Sizes(mib=1, datasets=2, parallel=1)
    lab = peers_lab.Lab(fake.tmp, counter, sizes, setups=1)
    saved: list[dict[str, Any]] = []
    results = asyncio.run(peers_lab.measure(lab, ["2", "3"], ["bare"], runs, saved.append))
    return lab, results["2"]["bare"]


def test_the_setup_is_made_once_and_every_run_starts_from_its_copy(fake: Fake) -> None:
    lab, figures = measure(fake, runs=2)
    assert len(figures) == 2
    setup = [
        "fresh pools", "zfs create", "zfs create",
        "zfs create", "write first", "zfs create", "write first",
        "snapshot s1",
        "send None..s1 onto 'fresh\\n'", "send None..s1 onto 'fresh\\ns1\\n'",
        "write second", "write second",
        "export_pools",
    ]  # fmt: skip
    kept_dst = "'fresh\\ns1\\ns1\\n'"  # both first sends, nothing of a run's

    def a_run(snapshot: str) -> list[str]:
        # restored, imported, the bench's snapshot, the measured loop from the setup's base
        return ["destroy_pools", "import_pools", f"snapshot {snapshot}",
                f"send s1..{snapshot} onto {kept_dst}",
                f"send s1..{snapshot} onto {kept_dst[:-1]}{snapshot}\\n'",
                "export_pools"]  # fmt: skip

    assert fake.events == [*setup, *a_run("s2"), *a_run("s3")]
    made = lab.setups["many"]["bare"]
    assert len(made.restores) == 2
    assert made.bytes > 0
    # the copies are still the setup's: run 2 wrote only to the images in use
    copies = kept.setup_dir(fake.tmp, "many", "bare")
    assert (copies / "zbdst.img").read_text() == "fresh\ns1\ns1\n"
    assert fake.image("zbdst").read_text() == "fresh\ns1\ns1\ns3\ns3\n"


def test_a_setup_that_would_not_fit_stops_the_bench_before_its_copy(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kept, "available", lambda _: kept.RESERVE)
    with pytest.raises(SystemExit, match="would not fit in the guest"):
        measure(fake, runs=1)
    assert not kept.setup_dir(fake.tmp, "many", "bare").exists()
