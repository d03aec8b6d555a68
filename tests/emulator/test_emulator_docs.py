"""The example in docs/emulator.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"


def test_the_quick_start_example_runs() -> None:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- docs-example -->\n```python\n(.*?)```", text, re.S)
    assert match, "docs/emulator.md lost its <!-- docs-example --> block"
    exec(compile(match.group(1), str(DOC), "exec"), {})
