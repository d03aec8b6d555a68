"""Masked secrets beside PyYAML, which the plugin does not import until something needs it."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from pytest_helios.masking import MaskedSecret
print("yaml" in sys.modules)
key = MaskedSecret("sk_live_" + "a" * 32)
import yaml
dumpers = [yaml.Dumper, yaml.SafeDumper] + [
    getattr(yaml, name) for name in ("CDumper", "CSafeDumper") if hasattr(yaml, name)
]
for dumper in dumpers:
    print(yaml.dump({"key": key}, Dumper=dumper).strip())
"""


def test_a_masked_secret_made_before_pyyaml_is_imported_is_dumped_as_a_plain_string() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == "False"  # importing the masking module did not import PyYAML
    assert set(out[1:]) == {"key: sk_live_" + "a" * 32}
