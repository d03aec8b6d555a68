"""The pseudonym salt: the secret key of every pseudonym, per project, never in a cassette.

A pseudonym is an HMAC of the identifier keyed with the salt. With a salt anyone knows, anyone
holding a cassette can test a guessed name against it; so by default the salt is the
project's own secret:

1. the environment variable ``HELIOS_PSEUDONYM_SALT`` when it is set (CI: a secret variable
   holding the recorder's salt);
2. else the file ``.helios/pseudonym-salt`` in the rootdir, created with a random salt on
   the first recording (``.helios/`` holds a ``.gitignore`` of ``*``, so git never sees it);
3. replaying only (record mode ``none``) with neither, nothing is written: a salt of this
   run alone keys the pseudonyms, so a pseudonymized request misses (its miss message shows
   the two pseudonyms) rather than matching a cassette it cannot read.

`ProjectSalt` stands for that salt in a `CassetteConfig` (whose default, `PROJECT_SALT`, the
cassette becomes) until a pseudonym needs it (`resolve`), so nothing is read or written by a
run that makes none. A salt given in the
configuration (``pseudonym_salt="..."``) is used as it is.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pytest_helios.cassettes.config import PROJECT_SALT

SALT_VARIABLE = "HELIOS_PSEUDONYM_SALT"
#: The salt every project had before the project salt: public, so no secret to look for.
PUBLIC_SALT = "pytest-helios"
SALT_FILE = Path(".helios") / "pseudonym-salt"
_FILE_HEADER = (
    "# The secret key of this project's cassette pseudonyms (pytest-helios). Never commit it.\n"
    "# Whoever replays these cassettes needs it: share it as you share other secrets, and\n"
    f"# give it to CI as the secret variable {SALT_VARIABLE}.\n"
)
_IGNORE_ALL = "# Created by pytest-helios: nothing in this folder is committed.\n*\n"

#: What keys the pseudonyms of a replay that has no salt: this process's alone.
_THIS_RUN_ONLY = secrets.token_hex(32)


class PseudonymSaltMissing(Exception):
    """Replaying needs the salt the cassettes were recorded with, and none is available."""


class ProjectSalt(str):
    """The project's secret salt, found or made on first use (see the module docstring).

    As a ``str`` it is a fixed placeholder, never the secret; two of them are equal when
    they stand for the same rootdir and both may (or both may not) create the salt.
    """

    root: Path | None
    recording: bool

    def __new__(cls, root: Path | None = None, *, recording: bool = True) -> ProjectSalt:
        salt = super().__new__(cls, PROJECT_SALT)
        salt.root = root
        salt.recording = recording
        return salt

    @property
    def path(self) -> Path:
        return (self.root if self.root is not None else Path.cwd()) / SALT_FILE

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ProjectSalt):
            return (self.root, self.recording) == (other.root, other.recording)
        return False

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((ProjectSalt, self.root, self.recording))

    def __repr__(self) -> str:
        return "ProjectSalt(...)"

    def __reduce__(self) -> tuple[type[ProjectSalt], tuple[Path | None]]:
        return (ProjectSalt, (self.root,))

    def secret(self) -> str:
        """The salt itself (from the environment, the file, or a new file)."""
        from_environment = os.environ.get(SALT_VARIABLE, "").strip()
        if from_environment:
            return from_environment
        path = self.path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if not self.recording:
                return _THIS_RUN_ONLY
            text = _create(path)
        salt = next(
            (line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"), ""
        )
        if not salt:
            raise PseudonymSaltMissing(
                f"helios: {path} holds no salt: delete it to have a new one made on the next "
                f"recording, or set {SALT_VARIABLE}."
            )
        return salt


def resolve(salt: str) -> str:
    """The salt to key pseudonyms with: a `ProjectSalt`'s secret, any other string as it is."""
    return salt.secret() if isinstance(salt, ProjectSalt) else salt


def _create(path: Path) -> str:
    """Write a new random salt to ``path`` unless another process just did; its text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore = path.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text(_IGNORE_ALL, encoding="utf-8")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    temporary.write_text(_FILE_HEADER + secrets.token_hex(32) + "\n", encoding="utf-8")
    try:
        os.chmod(temporary, 0o600)
        os.link(temporary, path)  # atomic, and never replaces a salt another worker made
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text(encoding="utf-8")
