"""The emulator's modules form layers: state and logic below, the HTTP layer above, the lifecycle
on top. Read from the source, so an import deferred into a function or kept for type checking
counts as much as one at the top of a module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest_helios.emulator

PACKAGE = "pytest_helios.emulator"
ROOT = Path(pytest_helios.emulator.__file__).parent
MODULES = sorted(path.stem for path in ROOT.glob("*.py"))


def imported_siblings(module: str) -> set[str]:
    """The emulator modules ``module`` imports anywhere in its source."""
    found: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / f"{module}.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            if base.startswith(f"{PACKAGE}."):
                base = "." + base.removeprefix(f"{PACKAGE}.")
            elif base == PACKAGE:
                base = "."
            if base == ".":  # from . import x: the module x, or the package itself
                found.update(a.name if a.name in MODULES else "__init__" for a in node.names)
            elif base.startswith(".") and node.level <= 1:
                found.add(base[1:].split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(f"{PACKAGE}."):
                    found.add(alias.name.removeprefix(f"{PACKAGE}.").split(".")[0])
    return found & set(MODULES)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as ``[a, b, ..., a]``, or ``None``."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            cycle = visit(imported, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_the_emulator_modules_import_each_other_without_a_cycle() -> None:
    graph = {module: imported_siblings(module) for module in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_sees_deferred_imports() -> None:
    """The check itself: an import inside a function is an edge like any other."""
    assert "app" in imported_siblings("service")  # HeliosEmulator.start imports build_app
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_state_and_logic_import_neither_the_http_layer_nor_the_lifecycle() -> None:
    above = {"app", "admin", "responses", "server", "transports", "service", "cli"}
    for module in ("core", "state", "runs", "delivery", "concurrency", "loop", "results"):
        assert not imported_siblings(module) & above, module


def test_the_package_exports_the_emulator_and_the_types_its_api_hands_out() -> None:
    assert pytest_helios.emulator.__all__ == [
        "Account",
        "ApiKey",
        "DeliveryAttempt",
        "HeliosEmulator",
        "WebhookRoute",
    ]
    for name in pytest_helios.emulator.__all__:
        assert isinstance(getattr(pytest_helios.emulator, name), type), name
