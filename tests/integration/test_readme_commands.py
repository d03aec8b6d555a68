"""The README's two Set-up commands work for a newcomer: in a fresh virtual environment, from a
copy of the repository, typed exactly as the README writes them.

What runs, and why:

- The **main command** (after ``<!-- main-command -->``) runs exactly as written and in full:
  it installs the plugin and runs the example project's suite and the contract suite against
  the embedded emulator. It must succeed, print the assumptions report, and write it.
- The **test command** (after ``<!-- test-command -->``) runs the whole suite, this test
  included, so running it in full here would recurse (and take the suite's time twice). Its
  install part runs exactly as written and in full; its pytest part runs as written plus
  ``--collect-only``, which proves that the fresh environment has every test dependency
  (collection imports every test module and finds every test). The full test
  command runs in CI anyway: ``.ci/run`` reads the same line and runs it in a fresh virtual
  environment.

The copy holds the working tree's tracked files and its untracked files that git does not
ignore, so uncommitted work is tested too. pip uses whatever index the machine is configured
with (PyPI, a mirror or a local wheelhouse) and its cache. This test takes a minute or two.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a whole install or project run: see .ci/run

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- (?P<name>[\w-]+) -->\s*\n```sh\n(?P<body>.*?)\n```", re.DOTALL)


def readme_command(name: str) -> str:
    """The one-line command in the ``sh`` block right after ``<!-- name -->``."""
    found = {m["name"]: m["body"] for m in BLOCK.finditer((ROOT / "README.md").read_text())}
    assert name in found, f"README.md has no ```sh block after <!-- {name} -->"
    (command,) = found[name].strip().splitlines()
    return command


def copy_of_the_repository(target: Path) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout of the repository (git ls-files lists what to copy)")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is left out
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A copy of the repository, and the environment of a shell with a fresh venv activated."""
    base = tmp_path_factory.mktemp("newcomer")
    repository = copy_of_the_repository(base / "pytest-helios")
    environment = base / "venv"
    venv.create(environment, with_pip=True)
    scripts = environment / ("Scripts" if os.name == "nt" else "bin")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HELIOS_", "PYTEST_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env.update(VIRTUAL_ENV=str(environment), PATH=f"{scripts}{os.pathsep}{env.get('PATH', '')}")
    return repository, env


def shell(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as a user types it in a shell."""
    shell_program = [os.environ.get("COMSPEC", "cmd"), "/c"] if os.name == "nt" else ["bash", "-c"]
    return subprocess.run(
        [*shell_program, command], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_the_main_command_installs_the_plugin_runs_the_example_and_writes_the_report(
    fresh: tuple[Path, dict[str, str]],
) -> None:
    repository, env = fresh
    command = readme_command("main-command")

    result = shell(command, repository, env)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "helios contract: assumptions" in result.stdout
    # against the emulator nothing is contradicted; what the suite cannot exercise by design
    # (a fact about the documentation itself, a timing) is listed with its reason
    summary = re.search(
        r"(\d+) assumptions: (\d+) confirmed, 0 contradicted, (\d+) not exercised", result.stdout
    )
    assert summary is not None, result.stdout[-3000:]
    total, confirmed, unexercised = (int(n) for n in summary.groups())
    assert confirmed + unexercised == total and confirmed > unexercised, summary[0]
    lines = result.stdout.splitlines()
    reasons = [lines[i + 1] for i, line in enumerate(lines) if line.startswith("NOT EXERCISED")]
    assert len(reasons) == unexercised and all(r.startswith("    why: ") for r in reasons)
    assert re.search(r"=+ \d+ passed in ", result.stdout), result.stdout[-3000:]
    report = repository / "examples" / "lab-portal" / "helios-contract-report.md"
    assert report.read_text().startswith("# Helios contract report\n\nTarget: embedded emulator.")
    installed = shell('python -c "import pytest_helios, sys; print(sys.prefix)"', repository, env)
    assert Path(installed.stdout.strip()) == Path(env["VIRTUAL_ENV"])


def test_the_test_command_installs_the_test_dependencies_and_collects_the_suite(
    fresh: tuple[Path, dict[str, str]],
) -> None:
    repository, env = fresh
    install, run_suite = readme_command("test-command").split(" && ")
    assert run_suite == "python -m pytest"  # the part extended below

    installed = shell(install, repository, env)
    assert installed.returncode == 0, installed.stderr[-3000:]
    collected = shell(f"{run_suite} --collect-only -q", repository, env)
    assert collected.returncode == 0, collected.stdout[-3000:]
    # "669 tests collected", or "669/707 tests collected (38 deselected)" with the
    # reliability suite and the slow tests deselected by addopts: the first number is what the
    # command runs
    count = re.search(r"^(\d+)(?:/\d+)? tests? collected", collected.stdout, re.MULTILINE)
    assert count is not None and int(count[1]) > 500, collected.stdout[-3000:]


def test_the_readme_commands_are_read_from_the_marked_blocks() -> None:
    main = readme_command("main-command")
    assert main.startswith("python -m pip install -e . && python -m pytest examples/lab-portal")
    assert readme_command("test-command").endswith(" && python -m pytest")
