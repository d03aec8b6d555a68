"""Arguments that misbehave: subclasses whose methods raise, objects whose every attribute
raises, header containers that fail, recurse or never end. verify_webhook must turn each into a
WebhookVerificationError (tests/webhooks/test_signing.py, tests/reliability's fuzzing).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def raise_key_error(*args: object, **kwargs: object) -> Any:
    raise KeyError("a method of the caller's object ran")


_OVERRIDABLE = (
    "__getattribute__",
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__hash__",
    "__str__",
    "__repr__",
    "__format__",
    "__len__",
    "__iter__",
    "__bool__",
    "__index__",
    "__int__",
    "__float__",
    "__bytes__",
    "__getitem__",
    "__contains__",
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__abs__",
    "__neg__",
    "encode",
    "decode",
    "lower",
    "strip",
    "isascii",
    "isdigit",
    "partition",
    "startswith",
    "removeprefix",
    "items",
)


def hostile(base: type) -> Any:
    """A subclass of ``base`` whose every method raises: its value must be read without them."""
    return type(f"Hostile{base.__name__}", (base,), dict.fromkeys(_OVERRIDABLE, raise_key_error))


class _NamelessType(type):
    @property
    def __name__(cls) -> str:  # type: ignore[override]
        raise KeyError("the type's name")


class Unreadable(metaclass=_NamelessType):
    """An object every attribute of which raises, ``__class__`` included, as does its type's
    ``__name__`` (isinstance() reads ``__class__``; messages name the type)."""

    __getattribute__ = __eq__ = __hash__ = __bool__ = __str__ = __repr__ = raise_key_error  # type: ignore[assignment]


class ItemsFailingMidway:
    """A header container whose items() raises after the first pair."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def items(self) -> Iterator[tuple[str, str]]:
        yield next(iter(self.headers.items()))
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "a header the container cannot read")


class ItemsRecursing:
    def items(self) -> Any:
        return self.items()


class MappingMissingItsKeys(Mapping[str, str]):
    """A Mapping that lists keys its __getitem__ does not have (Mapping.items() uses both)."""

    def __getitem__(self, key: str) -> str:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(["X-Helios-Signature"])

    def __len__(self) -> int:
        return 1


def containing_itself() -> list[Any]:
    pairs: list[Any] = []
    pairs.append(pairs)
    return pairs
