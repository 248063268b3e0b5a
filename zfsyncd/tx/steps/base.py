"""What a step is: one change to ZFS with a known inverse.

A step has
- `capture`, which reads what `undo` will need before anything changes (the previous value
  of a property, whether a target existed); it is journaled with the step's intent, so an
  undo after a crash in the middle of `do` still has it;
- `do`, which makes the change and returns what else its undo will need (journaled with
  the result);
- `undo`, which takes the change back out;
- `check`, which reads real ZFS state and says whether the change is in place now.

`do` and `undo` are idempotent because they consult `check` (or the same reading) first:
after a crash the engine may run either again without knowing whether the first attempt
got as far as ZFS. Names made by steps carry the transaction id, so "it exists" can only
mean "we made it".

Some changes cannot be taken back once made (a destroyed snapshot is gone). Such a step
moves the object aside in `do` (rename to a trash name), so that `undo` can move it back,
and destroys it for good in `finalize`, which runs only after the whole transaction has
completed.

Every step acts on a named host (`OnHost.host`; the send|recv step names two), which it
reaches through `ctx.host(name)`: its ZFS backend, and a runner for its other commands.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from zfsyncd.tx.hosts import LOCAL, Host, HostName, UnknownHostError
from zfsyncd.zfs.models import TransferProgress

JsonDict = dict[str, Any]


class StepArgs(BaseModel):
    """Arguments of a step: validated on construction, stored as JSON in the journal."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class OnHost(StepArgs):
    """Arguments of a step that acts on one host."""

    #: left out of the journal when local, so the rows of local steps read as they always
    #: did (and rows written before hosts existed load as local ones)
    host: HostName = Field(default=LOCAL, exclude_if=lambda host: host == LOCAL)


@dataclass
class StepContext:
    """What a running step may use."""

    tx_id: str
    #: the hosts a transaction may touch, by name; LOCAL is always there
    hosts: Mapping[str, Host]
    #: reports bytes moved by a transfer step
    progress: Callable[[TransferProgress], None] = field(default=lambda _p: None)
    #: reports bytes moved by one stream (named by its dataset) of a step that runs several
    stream: Callable[[str, TransferProgress], None] = field(default=lambda _n, _p: None)
    #: that stream runs no more
    stream_ended: Callable[[str], None] = field(default=lambda _n: None)
    #: readings a step's `do` made after its last change, for the next step's `capture`
    #: alone (the executor empties it before each `do`), by what was read: a recursive
    #: reading costs about what a recursive change does (lookup.snapshots_below)
    handed: dict[object, Any] = field(default_factory=dict)

    def host(self, name: str) -> Host:
        """The host a step names; an unknown one stops the step (no default: acting on the
        wrong machine is worse than not acting)."""
        try:
            return self.hosts[name]
        except KeyError:
            raise UnknownHostError(name, self.tx_id, self.hosts) from None


A = TypeVar("A", bound=StepArgs)
R = TypeVar("R")


class ReadForDo(Generic[R]):
    """What a step's `capture` read, kept for the `do` that follows it: the executor only
    journals the intent in between (with the step's datasets locked), so the reading still
    stands, and a recursive reading costs about what the change itself does. `do` takes it
    once: a retried `do`, or one after a restart (a new step object), reads again."""

    def __init__(self) -> None:
        self._reading: R | None = None

    def keep(self, reading: R) -> R:
        self._reading = reading
        return reading

    def take(self) -> R | None:
        reading, self._reading = self._reading, None
        return reading


class Step(ABC, Generic[A]):
    """One change. Subclasses set `kind` and `Args` and implement the abstract methods."""

    kind: ClassVar[str]
    Args: ClassVar[type[StepArgs]]

    def __init__(self, args: A) -> None:
        self.args = args

    @abstractmethod
    def describe(self) -> str:
        """One line for a person: what this step does."""

    @abstractmethod
    def datasets(self) -> set[str]:
        """The datasets this step changes (for locks and for the rollback-conflict rule)."""

    @abstractmethod
    async def check(self, ctx: StepContext) -> bool:
        """Is this step's change in place right now (read from ZFS)?"""

    async def capture(self, ctx: StepContext) -> JsonDict:
        """Read, before the change, what `undo` needs (most steps: nothing)."""
        return {}

    @abstractmethod
    async def do(self, ctx: StepContext, before: JsonDict) -> JsonDict:
        """Make the change (or find it made); return what `undo` needs beyond `before`."""

    @abstractmethod
    async def undo(self, ctx: StepContext, undo_data: JsonDict) -> None:
        """Take the change back out; nothing to do when it is not in place.

        `undo_data` is `before` merged with what `do` returned, or `before` alone when
        `do` was interrupted (a crash): undo must work from either."""

    async def estimate(self, ctx: StepContext) -> int | None:
        """Bytes this step will move, when it moves any (for progress); None otherwise."""
        return None

    async def finalize(self, ctx: StepContext, undo_data: JsonDict) -> None:
        """Make the change permanent once the transaction completed (most steps: nothing)."""

    def inverse(self, undo_data: JsonDict) -> Step[Any] | None:
        """A step that takes this one back after its transaction completed, for a manual
        rollback; None when this step cannot be taken back any more (say why in `why_final`)."""
        return None

    def why_final(self) -> str:
        return f"{self.describe()} cannot be taken back once its transaction completed"

    async def refusal(self, ctx: StepContext) -> str | None:
        """Why this step cannot run on ZFS as it is now, read from ZFS; None when it can.
        A plan made of steps built from records rather than from a reading (the rollback
        of a completed transaction: tx/rollback.py) asks each, so that a world changed
        since is refused at plan time with the reason (most steps: None)."""
        return None

    def to_json(self) -> JsonDict:
        return self.args.model_dump(mode="json")

    def __repr__(self) -> str:
        return f"<{self.kind} {self.describe()}>"


STEP_KINDS: dict[str, type[Step[Any]]] = {}


S = TypeVar("S", bound=type[Step[Any]])


def register(cls: S) -> S:
    """Class decorator: make a step kind known by its `kind`, so the journal can rebuild it."""
    if cls.kind in STEP_KINDS:
        raise ValueError(f"step kind {cls.kind!r} registered twice")
    STEP_KINDS[cls.kind] = cls
    return cls


def build_step(kind: str, args: JsonDict) -> Step[Any]:
    """A step from its journaled kind and arguments."""
    try:
        cls = STEP_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown step kind {kind!r}") from None
    return cls(cls.Args.model_validate(args))
