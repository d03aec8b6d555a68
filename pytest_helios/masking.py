"""What pytest-helios shows of a secret or a long value: masked keys, shortened text.

Every message, repr and report of the plugin goes through here, so a key or a webhook secret
is never printed whole (``sk_live_…a1b2``) and no message grows without bound.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

from pytest_helios.facts import API_KEY_PREFIX, WEBHOOK_SECRET_PREFIX

__all__ = [
    "KEY_SHAPED",
    "MaskedSecret",
    "explain_comparison",
    "mask_secret",
    "mask_text",
    "shorten",
]

# the documented prefixes, and the test-mode twin such keys conventionally have
_PREFIXES = (API_KEY_PREFIX, API_KEY_PREFIX.replace("_live_", "_test_"), WEBHOOK_SECRET_PREFIX)
#: A Helios API key (or its test-mode twin) or webhook secret, wherever it stands in text.
KEY_SHAPED = re.compile(f"(?:{'|'.join(map(re.escape, _PREFIXES))})[A-Za-z0-9_+/=-]{{4,}}")
#: How many characters of an operand a masked comparison shows.
_OPERAND_LIMIT = 240


def mask_secret(secret: str) -> str:
    """Return a form of ``secret`` safe to print: a known prefix and the last four characters.

    >>> mask_secret("sk_live_" + "0" * 28 + "a1b2")
    'sk_live_…a1b2'
    """
    prefix = ""
    for known in (API_KEY_PREFIX, WEBHOOK_SECRET_PREFIX):
        if secret.startswith(known):
            prefix = known
    if len(secret) - len(prefix) < 12:
        return prefix + "…"
    return f"{prefix}…{secret[-4:]}"


class MaskedSecret(str):
    """A ``str`` holding a secret whose ``repr`` is masked (see `mask_secret`).

    It is the secret itself for every use (hashing, comparing, ``str()``), but pytest's
    tracebacks, assertion rewriting and logs, which show values by ``repr``, see
    ``'whsec_…a1b2'``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask_secret(str(self)))


def _yaml_writes_masked_secrets_as_strings() -> None:
    """YAML writes a `MaskedSecret` as the plain string it is: vcrpy's serializer (under
    pytest-recording) refuses the Python tag it would otherwise get, and fails the test.

    Registered on PyYAML's dumpers and every subclass they already have (vcrpy's), as a
    multi-representer so that subclasses made later inherit it."""
    import yaml

    def represent(dumper: yaml.representer.BaseRepresenter, value: MaskedSecret) -> yaml.Node:
        return dumper.represent_scalar("tag:yaml.org,2002:str", str(value))

    bases: list[type] = [yaml.Dumper, yaml.SafeDumper]
    bases += [getattr(yaml, name) for name in ("CDumper", "CSafeDumper") if hasattr(yaml, name)]
    seen: set[type] = set()
    while bases:
        dumper = bases.pop()
        if dumper not in seen:
            seen.add(dumper)
            dumper.add_multi_representer(MaskedSecret, represent)  # type: ignore[attr-defined]
            bases.extend(dumper.__subclasses__())


class _AfterImport:
    """A one-shot import hook: once ``module`` is imported, ``action`` runs.

    It lets this module teach PyYAML about `MaskedSecret` without importing PyYAML itself
    (about 12 ms that a test using only the emulator would otherwise pay)."""

    def __init__(self, module: str, action: Callable[[], None]) -> None:
        self.module = module
        self.action = action

    def find_spec(self, name: str, path: object = None, target: object = None) -> Any:
        if name != self.module:
            return None
        import importlib.abc
        import importlib.util

        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        action, execute = self.action, loader.exec_module

        class Loader(importlib.abc.Loader):
            def create_module(self, spec: Any) -> Any:
                return loader.create_module(spec)

            def exec_module(self, module: Any) -> None:
                execute(module)
                action()

        spec.loader = Loader()
        return spec


def _when_imported(module: str, action: Callable[[], None]) -> None:
    """Run ``action`` now if ``module`` is imported, else as soon as it is."""
    if module in sys.modules:
        action()
    else:
        sys.meta_path.insert(0, _AfterImport(module, action))


_when_imported("yaml", _yaml_writes_masked_secrets_as_strings)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``...`` when cut."""
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each of ``secrets``, and every key-shaped string, in its masked form.

    >>> mask_text("key sk_live_" + "0" * 28 + "a1b2 refused")
    'key sk_live_…a1b2 refused'
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, mask_secret(secret))
    return KEY_SHAPED.sub(lambda match: mask_secret(match.group(0)), text)


def explain_comparison(op: str, left: object, right: object) -> list[str] | None:
    """What pytest shows of a failed comparison that involves a key: both operands masked.

    ``None`` (pytest's own explanation) unless an operand is a `MaskedSecret` or holds a
    key-shaped string; then each operand is shown by ``repr`` with every secret of the
    comparison and every key-shaped string masked, cut short.
    """
    secrets = [str(side) for side in (left, right) if isinstance(side, MaskedSecret)]
    if not secrets and not any(KEY_SHAPED.search(_safe_repr(side)) for side in (left, right)):
        return None
    return [
        f"{_masked_repr(left, secrets)} {op} {_masked_repr(right, secrets)}",
        "(pytest-helios shows keys and secrets masked, never their values)",
    ]


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # a user object whose __repr__ fails: pytest says so in its own way
        return f"<{type(value).__name__} object>"


def _masked_repr(value: object, secrets: list[str]) -> str:
    if isinstance(value, MaskedSecret):
        return repr(value)
    if isinstance(value, str):
        return repr(shorten(mask_text(value, secrets), _OPERAND_LIMIT))
    # inside a repr a secret may stand escaped (quotes, backslashes, non-ASCII)
    escaped = [repr(secret)[1:-1] for secret in secrets]
    return shorten(mask_text(_safe_repr(value), [*secrets, *escaped]), _OPERAND_LIMIT)
