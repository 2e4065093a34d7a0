"""The record base of the message classes behaves as a frozen dataclass does."""

from __future__ import annotations

import copy
import inspect
import pickle
from typing import ClassVar

import pytest

from trio_coord._messages import Connection, GetVariable, SucceedTask, VariableResult
from trio_coord._record import Record, field, record_fields, record_items, replace


class Point(Record):
    kind: ClassVar[str] = "point"

    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)
    secret: str | None = field(default=None, repr=False)


class Point3(Point):
    z: int = 0


class Checked(Record):
    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("value must be >= 0")


def test_fields_in_order_and_class_vars_skipped() -> None:
    assert record_fields(Point) == ("x", "y", "tags", "secret")
    assert record_fields(Point3) == ("x", "y", "tags", "secret", "z")
    assert Point.__match_args__ == ("x", "y", "tags", "secret")
    assert Point.kind == "point"


def test_construction_by_keyword_position_and_defaults() -> None:
    p = Point(1, y=2)
    assert (p.x, p.y, p.tags, p.secret) == (1, 2, [], None)
    assert Point(x=5).y == 0
    assert dict(record_items(Point3(1, 2, ["a"], "s", 3))) == {
        "x": 1,
        "y": 2,
        "tags": ["a"],
        "secret": "s",
        "z": 3,
    }


def test_default_factory_gives_each_instance_its_own_value() -> None:
    a, b = Point(1), Point(2)
    assert a.tags == []
    assert a.tags is not b.tags


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, r"Point\(\) missing required argument\(s\) x"),
        ((), {"x": 1, "w": 2}, r"unexpected keyword argument\(s\) w"),
        ((1,), {"x": 1}, r"multiple values for argument 'x'"),
        ((1, 2, [], None, 5), {}, r"takes 4 positional arguments but 5 were given"),
    ],
)
def test_bad_arguments_raise_type_error_naming_them(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)  # type: ignore[arg-type]


def test_records_are_immutable() -> None:
    p = Point(1)
    with pytest.raises(AttributeError, match="immutable"):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del p.y
    assert p.x == 1


def test_post_init_runs_and_validates() -> None:
    assert Checked(3).value == 3
    with pytest.raises(ValueError, match="must be >= 0"):
        Checked(-1)


def test_equality_hash_and_repr() -> None:
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(1, 3)
    assert Point(1) != Point3(1)
    assert hash(GetVariable(key="k")) == hash(GetVariable(key="k"))
    assert repr(Point(1, secret="hidden")) == "Point(x=1, y=0, tags=[])"
    assert "password" not in repr(Connection(conn_id="c", conn_type="http", password="pw"))


def test_replace_copy_and_pickle_keep_the_values() -> None:
    p = Point(1, 2, ["t"], "s")
    assert replace(p, y=9) == Point(1, 9, ["t"], "s")
    with pytest.raises(TypeError, match="unexpected"):
        replace(p, w=1)
    assert copy.copy(p) == p
    assert pickle.loads(pickle.dumps(p)) == p
    done = SucceedTask()
    assert pickle.loads(pickle.dumps(done)) == done


def test_field_order_is_checked() -> None:
    with pytest.raises(TypeError, match="without a default follows one with a default"):

        class Bad(Record):
            a: int = 0
            b: int  # type: ignore[misc]


def test_field_takes_a_default_or_a_factory() -> None:
    with pytest.raises(TypeError, match="not both"):
        field(default=1, default_factory=list)


def test_match_statement_uses_field_order() -> None:
    match VariableResult("k", "v"):
        case VariableResult(key, value):
            assert (key, value) == ("k", "v")
        case _:  # pragma: no cover
            pytest.fail("no match")


def test_signature_shows_the_fields() -> None:
    assert str(inspect.signature(Point)) == (
        "(x: 'int', y: 'int' = 0, tags: 'list[str]' = <factory>, secret: 'str | None' = None) -> None"
    )
    assert list(inspect.signature(GetVariable).parameters) == ["key"]
