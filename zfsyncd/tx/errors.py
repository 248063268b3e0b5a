"""Errors the transaction engine reports to whoever asked (the bus turns them into D-Bus
errors). Each says what was wrong in words a person can act on; none means ZFS changed.

`describe_error` and `error_kind` word any exception the way the engine stores it (a
transaction's `error` and `error_kind`) and the bus reports it."""

from __future__ import annotations


class TxError(Exception):
    """Base of the engine's refusals."""

    kind = "tx-error"


class TransactionNotFoundError(TxError, LookupError):
    kind = "unknown-transaction"

    def __init__(self, tx_id: str) -> None:
        super().__init__(f"there is no transaction {tx_id!r}")
        self.tx_id = tx_id


class InvalidTransitionError(TxError):
    kind = "invalid-state"

    def __init__(self, tx_id: str, action: str, state: str) -> None:
        super().__init__(f"transaction {tx_id} is {state}: it cannot {action}")
        self.tx_id, self.action, self.state = tx_id, action, state


class PlanError(TxError, ValueError):
    """The request cannot be carried out as asked (a missing dataset, a name in use)."""

    kind = "invalid-request"


class MissingObjectError(PlanError, LookupError):
    """A dataset or snapshot the request names does not exist (NotFound on the bus)."""

    kind = "not-found"


class DatasetBusyError(TxError):
    """A dataset is locked by another active transaction and the caller chose not to wait."""

    kind = "busy"

    def __init__(self, dataset: str, holder: str, requested: str) -> None:
        self.dataset, self.holder, self.requested = dataset, holder, requested
        super().__init__(
            f"{requested}: dataset {dataset} is busy in transaction {holder}; "
            "try again when it has finished, or queue behind it"
        )


class RollbackRefusedError(TxError):
    kind = "rollback-refused"


def describe_error(error: BaseException) -> str:
    """The words stored and shown for `error` (its class name when it has no message)."""
    return str(error) or type(error).__name__


def error_kind(error: BaseException) -> str:
    """The short, stable kind stored with a failure: an error's own `kind` when it declares
    one (the engine's refusals, ZFS errors, a stopped step), else its class name."""
    kind = getattr(error, "kind", None)
    if isinstance(kind, str):
        return kind
    return type(error).__name__
