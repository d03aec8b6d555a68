"""The built wheel ships the ``helios`` command, the OpenAPI generator and the test vectors.

The wheel is built from this checkout into a temporary folder and listed; then it is installed
with ``--no-deps --no-index`` into a fresh virtual environment (its dependencies made visible
through a ``.pth`` line naming this interpreter's site-packages, as in test_wheel_install.py),
and the installed ``helios`` script prints the vectors and the OpenAPI document from the
installed package's own files. This takes some seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from pytest_helios.payloads import openapi_document

pytestmark = pytest.mark.slow  # a whole install or project run: see .ci/run

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "webhook-signatures.json"
PACKAGED_VECTORS = "pytest_helios/vectors/webhook-signatures.json"


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _bin(env: Path, name: str) -> Path:
    if sys.platform == "win32":
        return env / "Scripts" / f"{name}.exe"
    return env / "bin" / name


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("needs the project's source checkout to build the wheel")
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT, cwd=out)
    (built,) = out.glob("pytest_helios-*.whl")
    return built


def test_the_wheel_ships_the_vectors_the_command_and_the_openapi_generator(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read(PACKAGED_VECTORS) == VECTORS.read_bytes()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode().split("[console_scripts]")[1]
    modules = {
        f"pytest_helios/cli/{name}.py"
        for name in ("__init__", "main", "_common", "admin", "conformance", "documents",
                     "emulator", "signatures", "trigger")
    }  # fmt: skip
    assert modules | {"pytest_helios/payloads/openapi.py"} <= names
    assert "helios = pytest_helios.cli.main:main" in scripts.splitlines()


def test_the_installed_helios_prints_the_packaged_vectors_and_the_openapi_document(
    wheel: Path, tmp_path: Path
) -> None:
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    python = _bin(env, "python")
    _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
        "--no-deps", "--no-index", wheel,
        cwd=tmp_path,
    )  # fmt: skip
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                        cwd=tmp_path).strip())  # fmt: skip
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "zz_dependencies.pth").write_text("\n".join(sorted(here)) + "\n")
    helios = _bin(env, "helios")

    where = Path(_run(helios, "vectors", "--path", cwd=tmp_path).strip())
    assert where == purelib / PACKAGED_VECTORS
    assert _run(helios, "vectors", cwd=tmp_path) == VECTORS.read_text(encoding="utf-8")
    assert json.loads(_run(helios, "openapi", cwd=tmp_path)) == openapi_document()
