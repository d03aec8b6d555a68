"""The docs and the example project send users to public names only.

Every ``pytest_helios...`` a user reads in the README, ``docs/``, ``schemas/README.md``, the
changelog or the example project, and every import in their code, must be the top level or a
documented subpackage (the Python API table of ``docs/reference.md``) and a name it exports:
never a private or deep module that may move.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [ROOT / "examples" / "lab-portal", ROOT / "examples" / "fastapi-gateway"]
TEXTS = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    ROOT / "schemas" / "README.md",
    *(example / "README.md" for example in EXAMPLES if (example / "README.md").is_file()),
    # docs/architecture.md describes the inside of the package, for its developers
    *(p for p in sorted((ROOT / "docs").glob("*.md")) if p.name != "architecture.md"),
]
CODE = sorted(
    p
    for example in EXAMPLES
    for p in example.rglob("*.py")
    if not {"__pycache__", ".venv"} & set(p.parts)
)
#: Run, not imported: ``pytest --pyargs pytest_helios.contract``.
RUN_ONLY = {"pytest_helios.contract"}

TABLE_ROW = re.compile(r"^\| `(?P<package>pytest_helios[\w.]*)` \|", re.MULTILINE)
DOTTED = re.compile(r"\bpytest_helios(?:\.\w+)+")
FROM_IMPORT = re.compile(
    r"^\s*from (?P<module>pytest_helios[\w.]*) import (?P<names>\([^)]*\)|.*)$", re.MULTILINE
)
IMPORT = re.compile(r"^\s*import (?P<module>pytest_helios[\w.]*)", re.MULTILINE)


def public_packages() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    return {name: set(importlib.import_module(name).__all__) for name in TABLE_ROW.findall(text)}


PUBLIC = public_packages()


def problem_with_reference(dotted: str) -> str | None:
    """Why ``dotted`` is not a public package or a public name of one (None when it is)."""
    if dotted in PUBLIC or dotted in RUN_ONLY:
        return None
    package, _, name = dotted.rpartition(".")
    if package in PUBLIC and name in PUBLIC[package]:
        return None
    return f"{dotted} is neither a documented package nor a name one exports"


def problems_in_imports(text: str) -> list[str]:
    problems = []
    for found in FROM_IMPORT.finditer(text):
        module = found["module"]
        names = re.findall(r"\b(\w+)(?:\s+as\s+\w+)?", found["names"].split("#")[0])
        names = [n for n in names if n != "as"]
        if module not in PUBLIC:
            problems.append(f"from {module} import ...: {module} is not a documented package")
            continue
        problems += [
            f"from {module} import {name}: not in {module}.__all__"
            for name in names
            if name not in PUBLIC[module]
        ]
    problems += [
        f"import {found['module']}: not a documented package"
        for found in IMPORT.finditer(text)
        if found["module"] not in PUBLIC
    ]
    return problems


@pytest.mark.parametrize("path", TEXTS + CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_public_names_are_referenced(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    problems = problems_in_imports(text)
    for dotted in sorted(set(DOTTED.findall(text))):
        problem = problem_with_reference(dotted)
        if problem and not any(p.startswith(("from", "import")) and dotted in p for p in problems):
            problems.append(problem)
    assert problems == []


def test_the_check_catches_a_deep_module_and_a_private_name() -> None:
    text = "from pytest_helios.webhooks.fakes import WebhookFactory\n"
    assert problems_in_imports(text) == [
        "from pytest_helios.webhooks.fakes import ...: pytest_helios.webhooks.fakes is not a "
        "documented package"
    ]
    assert problems_in_imports("from pytest_helios.webhooks import (\n    _variant,\n)\n") == [
        "from pytest_helios.webhooks import _variant: not in pytest_helios.webhooks.__all__"
    ]
    assert problem_with_reference("pytest_helios.webhooks.WebhookFactory") is None
    assert problem_with_reference("pytest_helios.cassettes.scrub.session_secrets") is not None
