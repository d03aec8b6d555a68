"""The built wheel ships the schemas and validates payloads from a fresh virtual environment.

The wheel is built from this checkout (hatchling comes from the package index, as for any
build), installed with ``--no-deps --no-index`` into a new venv in ``tmp_path``, and its runtime
dependencies are made visible through a ``.pth`` line naming this interpreter's site-packages
(a plain path line: that folder's own ``.pth`` files, such as an editable install of this
project, are not run). The venv's own site-packages comes first, so the code that runs is the
wheel's. This takes some seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a whole install or project run: see .ci/run

ROOT = Path(__file__).resolve().parents[2]

CHECK = textwrap.dedent(
    """
    import json, sys
    from importlib import metadata
    import pytest_helios
    from pytest_helios import ContractViolation, SCHEMA_NAMES, validate
    from pytest_helios.payloads.validation import schema_directory

    accepted = {"runId": "550e8400-e29b-41d4-a716-446655440000", "status": "accepted"}
    validate("accepted-response", accepted)
    try:
        validate("accepted-response", {**accepted, "runId": "run-1"})
    except ContractViolation as exc:
        message = str(exc)
    else:
        message = None
    plugins = [ep.value for ep in metadata.entry_points(group="pytest11") if ep.name == "helios"]
    print(json.dumps({
        "module": pytest_helios.__file__,
        "schemas": str(schema_directory()),
        "names": list(SCHEMA_NAMES),
        "message": message,
        "plugins": plugins,
    }))
    """
)


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _venv_python(env: Path) -> Path:
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    return env / scripts / ("python.exe" if sys.platform == "win32" else "python")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("needs the project's source checkout to build the wheel")
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT, cwd=out)
    (built,) = out.glob("pytest_helios-*.whl")
    return built


def test_the_wheel_ships_every_schema_file_and_py_typed(wheel: Path) -> None:
    from pytest_helios.payloads.validation import schema_directory

    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"pytest_helios/schemas/{p.name}" for p in schema_directory().iterdir()}
    assert expected - names == set()
    assert "pytest_helios/schemas/README.md" in names
    assert "pytest_helios/py.typed" in names


def test_the_installed_wheel_validates_a_payload_in_a_fresh_virtual_environment(
    wheel: Path, tmp_path: Path
) -> None:
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    python = _venv_python(env)
    _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
        "--no-deps", "--no-index", wheel,
        cwd=tmp_path,
    )  # fmt: skip
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                        cwd=tmp_path).strip())  # fmt: skip
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "zz_dependencies.pth").write_text("\n".join(sorted(here)) + "\n")

    report = json.loads(_run(python, "-I", "-c", CHECK, cwd=tmp_path))

    assert Path(report["module"]).is_relative_to(env)
    assert Path(report["schemas"]) == Path(report["module"]).parent / "schemas"
    assert len(report["names"]) == 11
    assert report["message"] == (
        "schema 'accepted-response' violated at $.runId: keyword 'format': "
        "not a valid uuid; value: 'run-1'"
    )
    assert report["plugins"] == ["pytest_helios.plugin"]
