"""How the engine words an error and names its kind (stored with a failed transaction)."""

from __future__ import annotations

from zfsyncd.tx.errors import PlanError, TransactionNotFoundError, describe_error, error_kind
from zfsyncd.tx.executor import StepCancelled
from zfsyncd.zfs.errors import NotFoundError


def test_the_kind_an_error_declares_or_its_class_name() -> None:
    assert error_kind(PlanError("bad")) == "invalid-request"
    assert error_kind(TransactionNotFoundError("t1")) == "unknown-transaction"
    assert error_kind(StepCancelled("cancelled by uid 1000")) == "cancelled"
    assert error_kind(NotFoundError(["zfs", "list"], 1, "no such dataset")) == "not-found"
    assert error_kind(RuntimeError("boom")) == "RuntimeError"


def test_an_error_without_words_is_described_by_its_class() -> None:
    assert describe_error(RuntimeError("boom")) == "boom"
    assert describe_error(RuntimeError()) == "RuntimeError"
