"""Which D-Bus signatures a field's type travels as (zfsyncd.api.signatures), and the
declarations the generation refuses."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import AfterValidator, BaseModel, ConfigDict

from zfsyncd.api.names import Action
from zfsyncd.api.signatures import INTEGER, SECONDS, signatures_of
from zfsyncd.api.states import TxState
from zfsyncd.bus.kind_methods import manager_class
from zfsyncd.tx.kinds import BusMethod, TxKind

Name = Annotated[str, AfterValidator(str.strip)]


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (bool, ("b",)),
        (int, INTEGER),
        (int | None, INTEGER),
        (float, SECONDS),
        (float | None, SECONDS),
        (str, ("s",)),
        (Name, ("s",)),
        (TxState, ("s",)),
        (list[str], ("as",)),
        (tuple[Name, ...], ("as",)),
        (tuple[TxState, ...], ("as",)),
        (dict[str, str], ("a{ss}",)),
        (Annotated[dict[str, str], AfterValidator(dict)], ("a{ss}",)),
    ],
)
def test_a_type_travels_as(annotation: Any, expected: tuple[str, ...]) -> None:
    assert signatures_of(annotation) == expected


@pytest.mark.parametrize("annotation", [list[int], dict[str, int], bytes, int | str])
def test_a_type_dbus_cannot_carry_here_is_refused(annotation: Any) -> None:
    with pytest.raises(TypeError, match=r"Request\.field: no D-Bus signature"):
        signatures_of(annotation, "Request.field")


class Inner(BaseModel):
    x: int


class OddRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    inner: Inner | None = None


def _kind(positional: tuple[str, ...], request: type[BaseModel] = OddRequest) -> TxKind:
    class Odd:
        name = "odd"
        action = Action.MANAGE
        method = BusMethod("DoOdd", positional=positional)

        def describe(self, params: Any) -> str:
            return "odd"

        def datasets(self, params: Any) -> set[str]:
            return set()

        async def plan(self, ctx: Any, params: Any) -> Any:
            raise NotImplementedError

    Odd.request = request  # type: ignore[attr-defined]
    return Odd()  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("positional", "problem"),
    [
        (("name", "nowhere"), "DoOdd: odd's request has no field 'nowhere'"),
        (("name", "inner"), r"DoOdd\(inner\): no D-Bus signature"),
        (("name",), r"OddRequest\.inner: no D-Bus signature"),
    ],
)
def test_a_declaration_the_bus_cannot_carry_fails_at_start_up(
    positional: tuple[str, ...], problem: str
) -> None:
    with pytest.raises(TypeError, match=problem):
        manager_class({"odd": _kind(positional)})


def test_a_request_field_named_like_a_common_option_fails_at_start_up() -> None:
    class Clash(BaseModel):
        name: str
        priority: int = 0

    with pytest.raises(TypeError, match="DoOdd: request field 'priority' is a common option"):
        manager_class({"odd": _kind(("name",), Clash)})
