"""Every Python sample in the README and docs/ runs, as a user would run it.

A sample is a fenced ``python`` block preceded by ``<!-- doc-test: NAME FILE -->``. Blocks with
the same NAME in one document are the files of one small project (``conftest.py``,
``test_x.py``...), run with pytest through ``pytester``; every test in it must pass. A project
without a test file is a script, run with Python. A block that is not a program (an API
signature, a fragment shown for its shape) says so with ``<!-- doc-test: fragment -->``. A
``python`` block with neither comment is an error: an unexecuted sample is how docs rot.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TAG = re.compile(r"<!-- doc-test: (?P<name>[\w-]+) (?P<file>[\w./-]+\.(?:py|ini|toml)) -->\s*$")
FRAGMENT = "<!-- doc-test: fragment -->"
FENCE = re.compile(r"^```(?P<lang>\w*)\s*$")


@dataclass
class Sample:
    document: str
    name: str
    files: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.document}:{self.name}"


def parse(path: Path) -> tuple[list[Sample], list[str]]:
    """The samples of a document, and the line numbers of untagged python blocks."""
    samples: dict[str, Sample] = {}
    untagged: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    pending: re.Match[str] | None = None
    fragment = False
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        tag = TAG.match(lines[i].strip())
        if tag or lines[i].strip() == FRAGMENT:
            pending = tag
            fragment = tag is None
        elif fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            body = "\n".join(lines[i + 1 : end]) + "\n"
            if pending is not None:
                sample = samples.setdefault(pending["name"], Sample(path.name, pending["name"]))
                sample.files[pending["file"]] = sample.files.get(pending["file"], "") + body
            elif fence["lang"] == "python" and not fragment:
                untagged.append(f"{path.name}:{i + 1}")
            pending = None
            fragment = False
            i = end
        elif lines[i].strip():
            pending = None
            fragment = False
        i += 1
    return list(samples.values()), untagged


SAMPLES = [s for doc in DOCUMENTS for s in parse(doc)[0]]


def test_every_python_sample_in_the_docs_is_executed() -> None:
    untagged = [where for doc in DOCUMENTS for where in parse(doc)[1]]
    assert untagged == [], "python blocks without <!-- doc-test: NAME FILE -->"


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.id for s in SAMPLES])
def test_the_sample_runs_and_its_tests_pass(pytester: pytest.Pytester, sample: Sample) -> None:
    for name, text in sample.files.items():
        target = pytester.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if not any(Path(n).name.startswith("test_") for n in sample.files):
        # a sample without tests is a script: it runs as one, and must not fail
        (script,) = sample.files
        result = pytester.run(sys.executable, script)
        assert result.ret == 0, result.stderr.str()
        return
    result = pytester.runpytest("-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1, result.stdout.str()
    assert not {"failed", "errors", "error"} & set(outcomes), result.stdout.str()


HOOK_SAMPLES = [s for s in SAMPLES if "def pytest_helios_" in s.files.get("conftest.py", "")]


def test_the_docs_show_hook_samples() -> None:
    assert len(HOOK_SAMPLES) >= 3, [s.id for s in HOOK_SAMPLES]


@pytest.mark.parametrize("sample", HOOK_SAMPLES, ids=[s.id for s in HOOK_SAMPLES])
def test_a_hook_sample_still_loads_with_the_plugin_turned_off(
    pytester: pytest.Pytester, sample: Sample
) -> None:
    """``-p no:helios`` must not fail on the conftest: the samples mark their hooks optional."""
    for name, text in sample.files.items():
        (pytester.path / name).write_text(text, encoding="utf-8")
    result = pytester.runpytest("-p", "no:helios", "-p", "no:cacheprovider", "--collect-only")
    assert "unknown hook" not in result.stdout.str() + result.stderr.str()
    assert result.ret == 0, result.stdout.str() + result.stderr.str()


def python_api_names(reference: Path = ROOT / "docs" / "reference.md") -> dict[str, list[str]]:
    """The names of the Python API table of docs/reference.md, by the module they come from."""
    text = reference.read_text(encoding="utf-8")
    section = text[text.index("\n## Python API\n") :]
    rows = [line for line in section.splitlines() if line.startswith("| `pytest_helios")]
    table: dict[str, list[str]] = {}
    for row in rows:
        _, module, names, *_ = row.split("|")
        table[module.strip().strip("`")] = re.findall(r"`([^`]+)`", names)
    return table


def test_the_reference_lists_the_python_api_of_each_public_module() -> None:
    assert list(python_api_names()) == [
        "pytest_helios",
        "pytest_helios.webhooks",
        "pytest_helios.payloads",
        "pytest_helios.cassettes",
        "pytest_helios.emulator",
    ]


def test_every_name_of_the_python_api_table_is_used_in_an_executed_sample() -> None:
    executed = "\n".join(text for sample in SAMPLES for text in sample.files.values())
    missing = [
        f"{module}.{name}"
        for module, names in python_api_names().items()
        for name in names
        if not re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", executed)
    ]
    assert missing == [], "names of docs/reference.md's Python API table in no executed sample"
