"""The public API is exactly what ``docs/reference.md`` lists under "Python API".

Each row of that table names a package and the names to import from it. The package's
``__all__`` must be that set, every name must resolve, ``dir()`` must show exactly it, one name
must mean one thing wherever it is exported, and importing a package must stay cheap.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference.md"
ROW = re.compile(r"^\| `(?P<package>pytest_helios[\w.]*)` \| (?P<names>[^|]+) \|")
NAME = re.compile(r"`([A-Za-z_]\w*)`")


def documented() -> dict[str, set[str]]:
    """Package -> names, from the Python API table of docs/reference.md."""
    text = REFERENCE.read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        row = ROW.match(line)
        if row:
            table[row["package"]] = set(NAME.findall(row["names"]))
    return table


DOCUMENTED = documented()
PACKAGES = sorted(DOCUMENTED)
#: The packages whose names load on first use; pytest_helios.emulator imports its three eagerly.
LAZY = [name for name in PACKAGES if name != "pytest_helios.emulator"]


def package(name: str) -> ModuleType:
    return importlib.import_module(name)


def test_the_reference_documents_the_top_level_and_each_subpackage() -> None:
    assert PACKAGES == [
        "pytest_helios",
        "pytest_helios.cassettes",
        "pytest_helios.emulator",
        "pytest_helios.payloads",
        "pytest_helios.webhooks",
    ]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_exactly_the_documented_names(name: str) -> None:
    exported = package(name).__all__
    assert len(exported) == len(set(exported)), "a name is listed twice in __all__"
    assert set(exported) == DOCUMENTED[name]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_resolves(name: str) -> None:
    module = package(name)
    for public in module.__all__:
        assert getattr(module, public) is not None, f"{name}.{public}"
        namespace: dict[str, object] = {}
        exec(f"from {name} import {public}", namespace)
        assert namespace[public] is getattr(module, public)


@pytest.mark.parametrize("name", LAZY)
def test_dir_lists_exactly_the_public_names(name: str) -> None:
    module = package(name)
    for public in module.__all__:
        getattr(module, public)  # loading the names must not add any to dir()
    assert dir(module) == sorted(module.__all__)


@pytest.mark.parametrize("name", LAZY)
def test_an_unknown_name_is_an_attribute_error_naming_the_package(name: str) -> None:
    expected = rf"module '{re.escape(name)}' has no attribute 'Nope'"
    with pytest.raises(AttributeError, match=expected):
        package(name).Nope  # noqa: B018 (the attribute access is what is tested)


def test_a_name_means_one_thing_wherever_it_is_exported() -> None:
    """Two things never share a public name (the receiver's delivery is a ReceivedWebhook)."""
    meaning: dict[str, tuple[str, object]] = {}
    for name in PACKAGES:
        module = package(name)
        for public in module.__all__:
            value = getattr(module, public)
            first = meaning.setdefault(public, (name, value))
            assert first[1] is value, f"{public}: {first[0]} and {name} export different things"


def test_malformed_body_and_verifier_misconfigured_come_from_the_top_level() -> None:
    from pytest_helios import MalformedBody, VerifierMisconfigured, WebhookVerificationError
    from pytest_helios.exceptions import MalformedBody as Defined

    assert MalformedBody is Defined
    assert issubclass(MalformedBody, WebhookVerificationError)
    assert issubclass(VerifierMisconfigured, WebhookVerificationError)
    assert (MalformedBody.reason, VerifierMisconfigured.reason) == (
        "malformed-body",
        "verifier-misconfigured",
    )


def test_every_public_exception_is_exported_by_a_documented_package() -> None:
    import pytest_helios.exceptions

    exported = {public for name in PACKAGES for public in package(name).__all__}
    assert set(pytest_helios.exceptions.__all__) <= exported


def test_the_modules_the_design_contract_names_are_the_webhook_kits_and_strategies() -> None:
    import pytest_helios
    from pytest_helios.payloads import strategies
    from pytest_helios.webhooks import conformance

    assert pytest_helios.strategies is strategies
    assert pytest_helios.conformance is conformance


IMPORT_PROBE = """
import json, sys
import pytest_helios, pytest_helios.webhooks, pytest_helios.payloads, pytest_helios.cassettes
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_the_packages_loads_no_dependency_and_no_submodule() -> None:
    """In a fresh interpreter: names load their modules on first use, not on import."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    ours = {m for m in loaded if m.startswith("pytest_helios")}
    assert ours == {
        "pytest_helios",
        "pytest_helios.cassettes",
        "pytest_helios.payloads",
        "pytest_helios.webhooks",
    }
    heavy = {"httpx", "hypothesis", "jsonschema", "jsonschema_rs", "vcr", "yaml", "starlette"}
    assert not heavy & {m.split(".")[0] for m in loaded}
