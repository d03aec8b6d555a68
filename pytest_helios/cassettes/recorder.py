"""One cassette per test, on vcrpy: the glue that the pytest plugin drives.

The plugin imports this module only inside the ``helios_cassette`` fixture, so vcrpy is
loaded only by tests that use a cassette.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from vcr.cassette import Cassette
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.record_mode import RecordMode
from vcr.request import Request

from pytest_helios.cassettes import contract
from pytest_helios.cassettes.config import (
    CANONICAL_BASE_URL,
    SESSION_KEY,
    CassetteConfig,
    marker_options,
)
from pytest_helios.cassettes.config import resolve as resolve_config
from pytest_helios.cassettes.matching import MATCHERS, Recorded, miss_message
from pytest_helios.cassettes.persister import (
    CassetteFormatError,
    dump,
    parse_time,
    provenance,
    read_document,
    utc_now,
    write_atomically,
)
from pytest_helios.cassettes.scan import CassetteWriteRefused, scan_bytes
from pytest_helios.cassettes.scrub import Rules, Scrubber, session_secrets

_VCR_MODES = {
    "none": RecordMode.NONE,
    "once": RecordMode.ONCE,
    "new_episodes": RecordMode.NEW_EPISODES,
    "all": RecordMode.ALL,
    "rewrite": RecordMode.ALL,
}
_LOADED = "helios_loaded"


class CassetteExpiredWarning(UserWarning):
    """A replayed cassette is older than its maximum age."""


def cassette_path(item: pytest.Item, config: CassetteConfig, name: str | None) -> Path:
    """``<cassette_dir>/<module>/<test>.yaml`` (classes prefix the test: ``TestX.test_y``)."""
    module = Path(str(item.path)).stem
    if name is None:
        parts = item.nodeid.split("::")[1:]
        name = ".".join(parts) or item.name
    safe = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "-", name)
    return config.cassette_dir / module / f"{safe}.yaml"


def _display(path: Path, rootpath: Path) -> str:
    try:
        return str(path.relative_to(rootpath))
    except ValueError:
        return str(path)


class _HeliosCassette(Cassette):  # type: ignore[misc]  # vcrpy is untyped
    """A vcrpy cassette that tells its session about every request it cannot answer."""

    helios_session: CassetteSession | None = None

    def can_play_response_for(self, request: Any) -> bool:
        playable = bool(super().can_play_response_for(request))
        if not playable and self.write_protected and self.helios_session is not None:
            self.helios_session.note_miss(self, request)
        return playable


@dataclass
class CassetteSession:
    """The cassette of one test: what it loaded, recorded and missed, and whether to save."""

    path: Path
    display: str
    config: CassetteConfig
    nodeid: str
    scrubber: Scrubber
    hook: Callable[..., Any] | None = None
    pytest_config: pytest.Config | None = None
    misses: list[str] = field(default_factory=list)
    #: set when the test failed: its cassette is not saved
    discard: bool = False
    loaded: dict[str, Any] | None = None
    targets: set[str] = field(default_factory=set)
    saved: bool = False
    cassette: Any = None
    _cache: dict[int, tuple[Any, Any]] = field(default_factory=dict)

    # -- vcrpy callbacks -------------------------------------------------------------------
    def before_record_request(self, request: Any) -> Any:
        if getattr(request, "helios_scrubbed", False):
            return request
        cached = self._cache.get(id(request))
        if cached is not None and cached[0] is request:
            return cached[1]
        host = urlsplit(request.uri).netloc
        self.targets.add("live" if request.uri.startswith(CANONICAL_BASE_URL) else host)
        plain = {
            "method": request.method,
            "uri": request.uri,
            "headers": {name: [value] for name, value in request.headers.items()},
            "body": request.body,
        }
        scrubbed = self.scrubber.scrub_request(plain)
        self._call_hook({"request": scrubbed})
        new = Request(
            scrubbed["method"],
            scrubbed["uri"],
            scrubbed["body"],
            {name: ", ".join(values) for name, values in scrubbed["headers"].items()},
        )
        new.helios_scrubbed = True
        self._cache[id(request)] = (request, new)
        return new

    def before_record_response(self, response: dict[str, Any]) -> dict[str, Any]:
        if response.get(_LOADED):
            return response
        scrubbed = self.scrubber.scrub_response(response)
        self._call_hook({"response": scrubbed})
        body = scrubbed["body"]["string"]
        scrubbed["body"]["string"] = body.encode("utf-8") if isinstance(body, str) else body
        return scrubbed

    def _call_hook(self, interaction: dict[str, Any]) -> None:
        if self.hook is not None and self.pytest_config is not None:
            self.hook(config=self.pytest_config, interaction=interaction)

    # -- persister -------------------------------------------------------------------------
    def load_cassette(self, cassette_path: Any, serializer: Any) -> tuple[list[Any], list[Any]]:
        path = Path(cassette_path)
        if self.config.record_mode == "rewrite" or not path.is_file():
            raise CassetteNotFoundError()
        try:
            document = read_document(path)
        except CassetteFormatError as error:
            raise CassetteFormatError(self.display, error.problem) from None
        self.loaded = document
        self._check_age(document)
        if self.config.contract_check:
            problems = contract.check_document(document)
            if problems:
                pytest.fail(
                    f"helios: cassette {self.display} breaks the contract in schemas/:\n"
                    + "\n".join(f"  {p}" for p in problems)
                    + f"\n  re-record it: pytest {self.nodeid} --helios-record-mode=rewrite",
                    pytrace=False,
                )
        requests, responses = [], []
        for interaction in document["interactions"]:
            stored = interaction["request"]
            request = Request(
                stored["method"],
                stored["uri"],
                stored.get("body"),
                {k: ", ".join(v) for k, v in (stored.get("headers") or {}).items()},
            )
            request.helios_scrubbed = True
            requests.append(request)
            reply = interaction["response"]
            body = reply["body"].get("string", "")
            responses.append(
                {
                    "status": {
                        "code": reply["status"]["code"],
                        "message": reply["status"].get("message", ""),
                    },
                    "headers": dict(reply.get("headers") or {}),
                    "body": {"string": body.encode("utf-8") if isinstance(body, str) else body},
                    _LOADED: True,
                }
            )
        return requests, responses

    def save_cassette(self, cassette_path: Any, cassette_dict: Any, serializer: Any) -> None:
        if self.discard or self.saved:
            return
        interactions = []
        for request, response in zip(
            cassette_dict["requests"], cassette_dict["responses"], strict=True
        ):
            body = request.body
            interactions.append(
                {
                    "request": {
                        "method": request.method,
                        "uri": request.uri,
                        "headers": {k.lower(): [v] for k, v in request.headers.items()},
                        "body": _text(body) if body not in (None, b"") else None,
                    },
                    "response": {
                        "status": dict(response["status"]),
                        "headers": {k: list(v) for k, v in response["headers"].items()},
                        "body": {"string": _text(response["body"]["string"])},
                    },
                }
            )
        meta = provenance(self._target())
        if self.loaded is not None and self.config.record_mode == "new_episodes":
            meta["updated_at"] = meta["recorded_at"]
            meta["recorded_at"] = self.loaded["helios"]["recorded_at"]
        data = dump({"helios": meta, "interactions": interactions})
        findings = scan_bytes(
            data,
            secrets=self.scrubber.secrets.labels(),
            identifiers=self.scrubber.identifier_labels(),
        )
        if findings:
            raise CassetteWriteRefused(self.display, findings)
        write_atomically(Path(cassette_path), data)
        self.saved = True

    def _target(self) -> str:
        if "live" in self.targets:
            return "live"
        return "emulator" if self.targets else "unknown"

    def _check_age(self, document: dict[str, Any]) -> None:
        limit = self.config.max_age_days
        if limit is None:
            return
        recorded = parse_time(document["helios"]["recorded_at"])
        age = (utc_now() - recorded) / dt.timedelta(days=1)
        if age <= limit:
            return
        message = (
            f"helios: cassette {self.display} was recorded {age:.0f} days ago "
            f"({document['helios']['recorded_at']}), more than its maximum age of "
            f"{limit:g} days\n  re-record it: pytest {self.nodeid} --helios-record-mode=rewrite"
        )
        if self.config.on_expiry == "fail":
            pytest.fail(message, pytrace=False)
        warnings.warn(CassetteExpiredWarning(message), stacklevel=1)

    # -- misses ----------------------------------------------------------------------------
    def note_miss(self, cassette: Any, request: Any) -> None:
        asked = self.before_record_request(request)
        recorded = [
            Recorded(
                index=index,
                method=stored.method,
                uri=stored.uri,
                body=stored.body,
                played=cassette.play_counts[index] > 0,
            )
            for index, (stored, _) in enumerate(cassette.data)
        ]
        self.misses.append(
            miss_message(
                asked=asked,
                recorded=recorded,
                cassette=self.display,
                cassette_exists=self.loaded is not None,
                record_mode=self.config.record_mode,
                nodeid=self.nodeid,
            )
        )


def _text(body: Any) -> Any:
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return body
    return body


@contextlib.contextmanager
def use_cassette(request: pytest.FixtureRequest, base: CassetteConfig) -> Iterator[Any]:
    """Open the test's cassette for the duration of the test; save it only if it passed."""
    item = request.node
    marker = item.get_closest_marker("helios_cassette")
    options = marker_options(marker.kwargs, marker.args) if marker is not None else None
    config = resolve_config(base, options, request.config)
    path = cassette_path(item, config, options.name if options is not None else None)
    rules = Rules.with_additions(
        secret_headers=config.secret_headers,
        secret_keys=config.secret_keys,
        identifying=(*config.identifying_keys, *contract.identifying_paths()),
        target_urls=config.target_urls,
        salt=config.pseudonym_salt,
    )
    hook = getattr(request.config.hook, "pytest_helios_scrub_interaction", None)
    secrets = session_secrets(request.config)
    for value in config.extra_secrets:
        secrets.add(value, "a secret from helios_cassette_config")
    session = CassetteSession(
        path=path,
        display=_display(path, request.config.rootpath),
        config=config,
        nodeid=item.nodeid,
        scrubber=Scrubber(rules, secrets),
        hook=hook,
        pytest_config=request.config,
    )
    context = _HeliosCassette.use(
        path=str(path),
        persister=session,
        record_mode=_VCR_MODES[config.record_mode],
        match_on=MATCHERS,
        before_record_request=session.before_record_request,
        before_record_response=session.before_record_response,
    )
    item.stash[SESSION_KEY] = session
    problem = None
    try:
        cassette = context.__enter__()
    except CassetteFormatError as error:
        problem = str(error)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    cassette.helios_session = session
    session.cassette = cassette
    try:
        yield cassette
    finally:
        try:
            context.__exit__(None, None, None)
        except CassetteWriteRefused as error:
            pytest.fail(str(error), pytrace=False)


def save_after_call(item: pytest.Item) -> None:
    """Save the cassette as soon as the test body passed, so a refused write fails the test
    itself (and names the place) rather than its teardown."""
    session: CassetteSession = item.stash[SESSION_KEY]
    if session.cassette is None or session.misses:
        return
    try:
        session.cassette._save()
    except CassetteWriteRefused as error:
        session.discard = True
        pytest.fail(str(error), pytrace=False)


def annotate_report(item: pytest.Item, report: pytest.TestReport) -> None:
    """Called for every report: a failed test's cassette is not saved, and a miss explains
    itself (even when the code under test swallowed vcrpy's exception)."""
    session: CassetteSession = item.stash[SESSION_KEY]
    if report.failed and report.when in ("setup", "call"):
        session.discard = True
    if report.when == "call" and session.misses:
        session.discard = True
        report.outcome = "failed"
        report.longrepr = "\n\n".join(session.misses)
