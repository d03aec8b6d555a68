"""schemathesis, run against the emulator with every check, finds nothing.

schemathesis pins pytest, so it lives in a virtual environment of its own, created in pytest's
cache folder (or beside the session's temporary folders) and reused by later runs. The test
skips, with pip's exit status and message, when the package index cannot be reached.

The emulator delivers webhooks to loopback and reserved names only (docs/emulator.md, "Where
webhooks go"), a rule of its own, not the API's: a hook file points the ``webhookUrl`` of
schema-valid requests at a reserved name (accepted; the run plays out and nothing is sent),
so schemathesis's "schema-valid request rejected" check tests the API's contract.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

from pytest_helios import HeliosEmulator

pytestmark = pytest.mark.slow  # a whole install and a fuzz run: see .ci/run

#: Cases per operation and phase: enough to cover every check, a few seconds in all.
MAX_EXAMPLES = 20
#: The whole run, in seconds (it takes about 10).
RUN_TIMEOUT = 300
#: What pip says when it cannot reach the package index.
OFFLINE = (
    "No matching distribution found",
    "Could not find a version",
    "NewConnectionError",
    "Network is unreachable",
    "Temporary failure in name resolution",
    "Name or service not known",
    "ProxyError",
    "ConnectTimeout",
    "ReadTimeout",
)

HOOKS = textwrap.dedent(
    '''
    """Schema-valid requests send their webhooks to a reserved name the emulator accepts."""
    import schemathesis
    from schemathesis import GenerationMode


    @schemathesis.hook
    def before_call(context, case, kwargs):
        body = case.body
        if (
            case.meta is not None
            and case.meta.generation.mode == GenerationMode.POSITIVE
            and isinstance(body, dict)
            and isinstance(body.get("webhookUrl"), str)
        ):
            body["webhookUrl"] = "https://hooks.example.test/helios"
    '''
)


def _executable(env: Path, name: str) -> Path:
    if sys.platform == "win32":
        return env / "Scripts" / f"{name}.exe"
    return env / "bin" / name


@pytest.fixture(scope="session")
def schemathesis_command(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The ``schemathesis`` of its own virtual environment, installed once and then reused."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        env = cache.mkdir("schemathesis") / "venv"
    else:  # -p no:cacheprovider: beside the session's temporary folders, which pytest keeps
        env = tmp_path_factory.getbasetemp().parent / "helios-schemathesis-venv"
    command = _executable(env, "schemathesis")
    installed = env / "installed"
    if installed.is_file() and command.is_file():
        return command
    venv.create(env, with_pip=False, clear=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(_executable(env, "python")),
         "install", "--quiet", "--disable-pip-version-check", "schemathesis"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        if any(sign in output for sign in OFFLINE):
            last = "\n".join(output.splitlines()[-5:])
            pytest.skip(
                f"the package index cannot be reached to install schemathesis "
                f"(pip exited {done.returncode}):\n{last}"
            )
        pytest.fail(f"pip install schemathesis exited {done.returncode}:\n{output}")
    installed.write_text("schemathesis installed\n")
    return command


def test_schemathesis_finds_nothing_with_every_check(
    schemathesis_command: Path, tmp_path: Path
) -> None:
    (tmp_path / "helios_schemathesis_hooks.py").write_text(HOOKS)
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "SCHEMATHESIS_HOOKS": "helios_schemathesis_hooks",
    }
    with HeliosEmulator() as emulator:
        account = emulator.create_account("schemathesis")
        key = account.create_key("schemathesis")
        command = [
            str(schemathesis_command), "run", f"{emulator.url}/openapi.json",
            "--checks", "all",
            "--url", account.base_url,
            "-H", f"x-api-key: {key.value}",
            "--max-examples", str(MAX_EXAMPLES),
            "--request-timeout", "10",
            "--generation-database", "none",
            "--no-color",
        ]  # fmt: skip
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=RUN_TIMEOUT, check=False,
        )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"schemathesis exited {done.returncode}:\n{output}"
    assert "No issues found" in output, output
