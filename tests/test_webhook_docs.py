"""The examples in docs/webhooks.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "webhooks.md"
TEXT = DOC.read_text(encoding="utf-8")


def blocks(marker: str) -> list[str]:
    return re.findall(rf"<!-- {marker} -->\n```python\n(.*?)```", TEXT, re.S)


def test_the_doc_has_its_examples() -> None:
    assert len(blocks("docs-example")) == 1
    assert len(blocks("docs-test-module")) == 3


def test_the_plain_examples_run() -> None:
    for code in blocks("docs-example"):
        exec(compile(code, str(DOC), "exec"), {})


@pytest.mark.parametrize("index", range(3))
def test_the_test_module_examples_pass_under_pytest(pytester: pytest.Pytester, index: int) -> None:
    pytester.makepyfile(blocks("docs-test-module")[index])
    result = pytester.runpytest()
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 0
    assert set(outcomes) <= {"passed", "skipped"}, result.stdout.str()
