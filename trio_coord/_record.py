"""Immutable record classes built without generating code: the base of every message class.

A :class:`Record` subclass declares its fields as annotated class attributes,
as a dataclass does, and behaves like ``@dataclass(frozen=True)``: keyword or
positional construction with defaults and ``field(default_factory=...)``, an
optional ``__post_init__``, a ``repr`` (``field(repr=False)`` hides a field),
equality and hashing over the fields in order, ``__match_args__``, and
attributes that cannot be assigned or deleted once built. Type checkers see a
frozen dataclass (:func:`typing.dataclass_transform`).

Why not :func:`dataclasses.dataclass`: it compiles and ``exec``\\ s the source
of six methods for every frozen class, about 0.6 ms a class on the 2-core
VMs the project runs on. Every task instance is a fresh process, and the
start-up path defines a few dozen message classes, so that was most of what
trio_coord added to a task's start-up (docs/performance.md). A record class
costs only reading its annotations: its methods are shared, written once here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Final, NoReturn, Self, TypeVar, dataclass_transform, get_origin

__all__ = ["Record", "field", "record_fields", "record_items", "replace"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


_MISSING: Final[Any] = _Missing()
_R = TypeVar("_R", bound="Record")


class _FieldSpec:
    """What :func:`field` returns; consumed (and removed) when the class is built."""

    __slots__ = ("default", "default_factory", "repr")

    def __init__(self, default: object, default_factory: Callable[[], object] | None, repr: bool) -> None:
        self.default = default
        self.default_factory = default_factory
        self.repr = repr


def field(
    *,
    default: Any = _MISSING,  # noqa: ANN401 - any value can be a default
    default_factory: Callable[[], Any] | None = None,
    repr: bool = True,
) -> Any:  # noqa: ANN401 - typed as the field it stands for, as dataclasses.field
    """Describe a record field: its default, a factory for a fresh default, whether ``repr`` shows it.

    Raises:
        TypeError: both ``default`` and ``default_factory`` were given.
    """
    if default is not _MISSING and default_factory is not None:
        raise TypeError("field() takes a default or a default_factory, not both")
    return _FieldSpec(default, default_factory, repr)


def _is_class_var(annotation: object) -> bool:
    if isinstance(annotation, str):  # postponed annotations: the source text
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return annotation is ClassVar or get_origin(annotation) is ClassVar


class _Factory:
    """Stands for a ``default_factory`` default in a signature (shown as ``<factory>``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


class _RecordSignature:
    """``Record.__signature__``: the constructor's signature, built when first asked for.

    :func:`inspect.signature`, ``help()`` and Sphinx read it, so they show the
    fields rather than the shared ``__init__(*args, **kwargs)``; building it
    only on demand keeps class definitions cheap.
    """

    def __get__(self, instance: object, owner: type[Record]) -> inspect.Signature:
        annotations: dict[str, object] = {}
        for base in reversed(owner.__mro__):
            annotations.update(inspect.get_annotations(base))
        empty = inspect.Parameter.empty
        parameters = []
        for name, spec in owner.__record_specs__.items():
            if spec.default_factory is not None:
                default: object = _Factory()
            else:
                default = empty if spec.default is _MISSING else spec.default
            parameters.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.POSITIONAL_OR_KEYWORD,
                    default=default,
                    annotation=annotations.get(name, empty),
                )
            )
        return inspect.Signature(parameters, return_annotation=None)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Record:
    """Base of trio_coord's immutable message classes (see the module docstring).

    Construction costs one generic ``__init__`` call: unknown, missing and
    repeated arguments raise :class:`TypeError` naming them, as a dataclass's
    ``__init__`` does. Assigning or deleting an attribute raises
    :class:`AttributeError`.
    """

    __slots__ = ()

    #: Field names, in declaration order (base classes' first).
    __record_fields__: ClassVar[tuple[str, ...]] = ()
    __record_field_set__: ClassVar[frozenset[str]] = frozenset()
    __record_required__: ClassVar[frozenset[str]] = frozenset()
    __record_factories__: ClassVar[tuple[tuple[str, Callable[[], object]], ...]] = ()
    __record_repr__: ClassVar[tuple[str, ...]] = ()
    __record_specs__: ClassVar[dict[str, _FieldSpec]] = {}
    __record_post_init__: ClassVar[Callable[[Any], None] | None] = None
    __signature__: ClassVar[_RecordSignature] = _RecordSignature()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        specs: dict[str, _FieldSpec] = {}
        for base in reversed(cls.__mro__[1:]):
            specs.update(base.__dict__.get("__record_specs__", {}))
        for name, annotation in inspect.get_annotations(cls).items():
            if _is_class_var(annotation):
                continue
            value = cls.__dict__.get(name, _MISSING)
            spec = value if isinstance(value, _FieldSpec) else _FieldSpec(value, None, True)
            specs.pop(name, None)  # a redeclared field moves to its new place, as in dataclasses
            specs[name] = spec
            # A plain default stays a class attribute (read when the instance has no value of
            # its own); a factory or a required field leaves none behind.
            if spec.default is _MISSING:
                if name in cls.__dict__:
                    delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
        has_default = False
        for name, spec in specs.items():
            if spec.default is not _MISSING or spec.default_factory is not None:
                has_default = True
            elif has_default:
                raise TypeError(
                    f"{cls.__name__}: field {name!r} without a default follows one with a default"
                )
        names = tuple(specs)
        cls.__record_specs__ = specs
        cls.__record_fields__ = names
        cls.__record_field_set__ = frozenset(names)
        cls.__record_required__ = frozenset(
            name for name, spec in specs.items() if spec.default is _MISSING and spec.default_factory is None
        )
        cls.__record_factories__ = tuple(
            (name, spec.default_factory) for name, spec in specs.items() if spec.default_factory is not None
        )
        cls.__record_repr__ = tuple(name for name, spec in specs.items() if spec.repr)
        setattr(cls, "__match_args__", names)  # noqa: B010 - type checkers synthesise it
        cls.__record_post_init__ = getattr(cls, "__post_init__", None)

    def __init__(self, *args: object, **kwargs: object) -> None:
        cls = type(self)
        if args:
            _take_positional(cls, args, kwargs)
        given = cls.__record_field_set__
        if len(kwargs) != len(given) or not given.issuperset(kwargs):
            _complete(cls, kwargs)  # not every field given by name: check, then apply factories
        self.__dict__.update(kwargs)  # fields with a plain default not given read the class attribute
        post_init = cls.__record_post_init__
        if post_init is not None:
            post_init(self)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"cannot assign to {type(self).__name__}.{name}: the record is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"cannot delete {type(self).__name__}.{name}: the record is immutable")

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).__record_repr__)
        return f"{type(self).__qualname__}({parts})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        names = type(self).__record_fields__
        return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in type(self).__record_fields__))

    def __replace__(self, **changes: object) -> Self:
        """A copy with ``changes`` applied, through ``__init__`` (``copy.replace`` on Python 3.13+)."""
        return type(self)(**{**dict(record_items(self)), **changes})

    def __reduce__(self) -> tuple[object, ...]:
        # Pickle and copy restore the fields as they are, without __init__ (whose
        # __post_init__ may normalise a value) and without the refusing __setattr__.
        return (_rebuild, (type(self), dict(record_items(self))))


def _take_positional(cls: type[Record], args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    names = cls.__record_fields__
    if len(args) > len(names):
        raise TypeError(
            f"{cls.__name__}() takes {len(names)} positional arguments but {len(args)} were given"
        )
    for name, value in zip(names, args, strict=False):
        if name in kwargs:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
        kwargs[name] = value


def _complete(cls: type[Record], kwargs: dict[str, object]) -> None:
    unknown = kwargs.keys() - cls.__record_field_set__
    if unknown:
        raise TypeError(f"{cls.__name__}() got unexpected keyword argument(s) {', '.join(sorted(unknown))}")
    missing = cls.__record_required__ - kwargs.keys()
    if missing:
        names = [name for name in cls.__record_fields__ if name in missing]
        raise TypeError(f"{cls.__name__}() missing required argument(s) {', '.join(names)}")
    for name, factory in cls.__record_factories__:
        if name not in kwargs:
            kwargs[name] = factory()


def _rebuild(cls: type[Record], values: dict[str, object]) -> Record:
    record = cls.__new__(cls)
    record.__dict__.update(values)
    return record


def record_fields(record: Record | type[Record]) -> tuple[str, ...]:
    """The field names of a record (or record class), in order."""
    return record.__record_fields__


def record_items(record: Record) -> Iterator[tuple[str, Any]]:
    """``(name, value)`` for every field of ``record``, in order."""
    for name in record.__record_fields__:
        yield name, getattr(record, name)


def replace(record: _R, /, **changes: object) -> _R:
    """A copy of ``record`` with ``changes`` applied, as :func:`dataclasses.replace` makes one.

    Raises:
        TypeError: a name in ``changes`` is not a field.
    """
    return record.__replace__(**changes)
