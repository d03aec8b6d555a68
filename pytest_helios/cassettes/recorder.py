"""One cassette per test, on vcrpy: the glue that the pytest plugin drives.

The plugin imports this module only inside the ``helios_cassette`` fixture, so vcrpy is
loaded only by tests that use a cassette.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from vcr.cassette import Cassette
from vcr.patch import CassettePatcherBuilder
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.record_mode import RecordMode
from vcr.request import Request

from pytest_helios import _options, _stash
from pytest_helios.cassettes import schema_checks
from pytest_helios.cassettes.config import (
    CANONICAL_WEBHOOK_URL,
    CassetteConfig,
    default_cassette_name,
    marker_options,
    shown_path,
)
from pytest_helios.cassettes.config import resolve as resolve_config
from pytest_helios.cassettes.matching import (
    MATCHERS,
    MatchKey,
    Recorded,
    command_target,
    match_key,
    miss_message,
    rerun_command,
)
from pytest_helios.cassettes.persister import (
    dump,
    parse_time,
    provenance,
    read_document,
    utc_now,
    write_atomically,
)
from pytest_helios.cassettes.scan import scan_bytes
from pytest_helios.cassettes.scrub import Rules, Scrubber, session_secrets, session_targets
from pytest_helios.exceptions import (
    CassetteExpiredWarning,
    CassetteFormatError,
    CassetteWriteFailed,
    CassetteWriteRefused,
)
from pytest_helios.facts import BASE_URL

_VCR_MODES = {
    "none": RecordMode.NONE,
    "once": RecordMode.ONCE,
    "new_episodes": RecordMode.NEW_EPISODES,
    "all": RecordMode.ALL,
    "rewrite": RecordMode.ALL,
}
_LOADED = "helios_loaded"
#: A replayed webhook the handler does not take (no 2xx, no answer) is tried again, up to
#: this many attempts in all, after 0.05, 0.1, 0.2 s: the emulator's default policy.
REPLAY_ATTEMPTS = 4
REPLAY_BACKOFF = 0.05
#: How long the end of a test waits for its replayed webhooks still being delivered.
REPLAY_JOIN_TIMEOUT = 60.0

# Entering a cassette, vcrpy imports every HTTP library it knows how to patch. Python does not
# remember a failed import, so for each library that is not installed it searches the whole
# import path again, on every test: about a millisecond per library. While a cassette is
# entered, the libraries known to be absent are marked absent in ``sys.modules``, so those
# imports fail at once, exactly as they would have failed anyway. The mark is process-wide
# for that moment (another thread importing one of them then fails at once too, as it would
# have after its search); a library installed into a folder already on ``sys.path`` during
# the session is seen by the next session.
_VCR_OPTIONAL_LIBRARIES = (
    "aiohttp",
    "botocore",
    "httplib2",
    "httpx2",
    "httpx_curl_cffi",
    "pyreqwest",
    "requests",
    "tornado",
    "urllib3",
)
_absent: dict[tuple[object, ...], tuple[str, ...]] = {}


def absent_libraries() -> tuple[str, ...]:
    """The libraries vcrpy tries to patch that cannot be imported here.

    Found once per import set-up (``sys.path``, ``sys.meta_path`` and ``sys.path_hooks``:
    a path or finder added later is searched again); a module already in ``sys.modules`` is
    never counted absent, whatever its origin.
    """
    setup = (*sys.path, *map(id, sys.meta_path), *map(id, sys.path_hooks))
    found = _absent.get(setup)
    if found is None:
        found = _absent[setup] = tuple(
            name
            for name in _VCR_OPTIONAL_LIBRARIES
            if name not in sys.modules and importlib.util.find_spec(name) is None
        )
    return tuple(name for name in found if name not in sys.modules)


@contextlib.contextmanager
def absent_imports_fail_fast() -> Iterator[None]:
    """Inside: importing a library of :func:`absent_libraries` fails without a search."""
    marked: list[str] = []
    try:
        for name in absent_libraries():
            sys.modules[name] = None  # type: ignore[assignment]  # the import system's "absent"
            marked.append(name)
        yield
    finally:
        for name in marked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


class _EnteredCassette:
    """Stands for the cassette entered now in vcrpy's patchers built once per process.

    vcrpy builds its patchers for each cassette it enters: a new subclass of every patched
    HTTP connection class, a ``mock.patch`` object and a wrapper per patched method, each
    bound to that cassette (about a third of a millisecond, then as much garbage for the
    collector, the classes being in reference cycles). Built once, bound to this object,
    they serve every cassette: whatever they ask of "their" cassette is asked of the one
    entered now (after a test, the last one: a connection object kept from it sees that
    cassette, emptied, as with vcrpy's own patchers).
    """

    __slots__ = ("cassette",)

    def __init__(self, cassette: Any) -> None:
        object.__setattr__(self, "cassette", cassette)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cassette, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.cassette, name, value)

    def __len__(self) -> int:
        return len(self.cassette)

    def __contains__(self, request: Any) -> bool:
        return request in self.cassette


class _Building:
    """What vcrpy's patcher builder reads of a cassette while it builds (nothing else)."""

    _path = ""  # the suffix of the names of vcrpy's subclasses
    custom_patches: tuple[Any, ...] = ()
    skip_patchers: tuple[str, ...] = ()


@dataclass
class _SharedPatchers:
    """vcrpy's patchers for every cassette of the process (for one set of absent libraries)."""

    entered: _EnteredCassette
    patchers: list[Any]
    busy: bool = False

    @classmethod
    def build(cls) -> _SharedPatchers:
        entered = _EnteredCassette(_Building())
        with absent_imports_fail_fast():
            patchers = list(CassettePatcherBuilder(entered).build())
        return cls(entered, patchers)

    def forget_connections(self) -> None:
        """After a cassette: its connection removers (vcrpy's, which close the connections
        the cassette's pools made) start empty for the next one, as new ones would."""
        for patcher in self.patchers:
            if hasattr(patcher, "_connection_pool_to_connections"):
                patcher._connection_pool_to_connections = {}


_shared_patchers: dict[tuple[str, ...], _SharedPatchers] = {}
_shared_lock = threading.Lock()


def _take_shared_patchers() -> _SharedPatchers | None:
    """The process's patchers, now marked busy; ``None`` while another cassette holds them
    (a cassette entered inside another, an inner pytest run): that one builds its own."""
    key = absent_libraries()
    with _shared_lock:
        shared = _shared_patchers.get(key)
        if shared is None:
            shared = _shared_patchers[key] = _SharedPatchers.build()
        if shared.busy:
            return None
        shared.busy = True
        return shared


@contextlib.contextmanager
def patched(cassette: Any) -> Iterator[None]:
    """Inside: HTTP libraries talk to ``cassette``, as inside vcrpy's ``use_cassette``, with
    the same patchers (built once per process; see :class:`_EnteredCassette`)."""
    shared = _take_shared_patchers()
    with contextlib.ExitStack() as stack:
        if shared is None:
            with absent_imports_fail_fast():
                patchers = list(CassettePatcherBuilder(cassette).build())
        else:
            stack.callback(_release_shared_patchers, shared)
            object.__setattr__(shared.entered, "cassette", cassette)
            patchers = shared.patchers
        for patcher in patchers:
            stack.enter_context(patcher)
        yield


def _release_shared_patchers(shared: _SharedPatchers) -> None:
    shared.forget_connections()
    with _shared_lock:
        shared.busy = False


def cassette_path(item: pytest.Item, config: CassetteConfig, name: str | None) -> Path:
    """``<cassette_dir>/<module>/<test>.yaml`` (classes prefix the test: ``TestX.test_y``; a
    parametrize id that could identify someone is a digest, see ``default_cassette_name``)."""
    module = Path(str(item.path)).stem
    if name is None:
        name = default_cassette_name(item.nodeid, item.name, salt=config.pseudonym_salt)
    safe = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "-", name)
    return config.cassette_dir / module / f"{safe}.yaml"


class _HeliosCassette(Cassette):  # type: ignore[misc]  # vcrpy is untyped
    """A vcrpy cassette that finds a request's recorded interactions by key, and tells its
    session about every request it cannot answer and every answer it replays.

    vcrpy tries every recorded request in turn with every matcher, twice per request (once to
    ask whether it can play, once to play): with 50 interactions, some 5,000 matcher calls a
    test. Here the recorded requests are indexed by :func:`match_key` (their canonical body
    computed once per cassette load), which is equal exactly when every matcher of
    :data:`MATCHERS` passes, so finding one costs a dictionary look-up.
    """

    helios_session: CassetteSession | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._helios_lock = threading.Lock()
        self._helios_index: dict[MatchKey, list[int]] = {}
        #: the list indexed (vcrpy never replaces it; a rebuild if anything does) and how much
        self._helios_indexed: tuple[object, int] = (None, 0)

    def _responses(self, request: Any) -> Iterator[tuple[int, Any]]:
        if tuple(self._match_on) != MATCHERS:  # not ours: vcrpy's own scan
            yield from super()._responses(request)
            return
        request = self._before_record_request(request)
        if not request:
            return
        data = self.data
        for index in self._indexed(data).get(_key(request), ()):
            yield index, data[index][1]

    def _indexed(self, data: list[Any]) -> dict[MatchKey, list[int]]:
        """The index of ``data``, brought up to date with what was appended since."""
        with self._helios_lock:
            indexed, count = self._helios_indexed
            if indexed is not data or count > len(data):
                self._helios_index, count = {}, 0
            for number in range(count, len(data)):
                self._helios_index.setdefault(_key(data[number][0]), []).append(number)
            self._helios_indexed = (data, len(data))
            return self._helios_index

    def release(self) -> None:
        """The test is over: drop the interactions and what finds them."""
        with self._helios_lock:
            empty: list[tuple[Any, Any]] = []
            self.data = empty
            self._old_interactions = empty[:]  # vcrpy's lists of the same interactions
            self._played_interactions = empty[:]
            self._helios_index, self._helios_indexed = {}, (None, 0)

    def can_play_response_for(self, request: Any) -> bool:
        playable = bool(super().can_play_response_for(request))
        if not playable and self.write_protected and self.helios_session is not None:
            self.helios_session.note_miss(self, request)
        return playable

    def play_response(self, request: Any) -> Any:
        response = super().play_response(request)
        if self.helios_session is not None:
            self.helios_session.replayed(request, response)
        return response


def _key(request: Any) -> MatchKey:
    """A scrubbed request's :func:`match_key`, computed once (it is never changed after)."""
    key: MatchKey | None = getattr(request, "helios_key", None)
    if key is None:
        key = request.helios_key = match_key(request)
    return key


@dataclass(repr=False)
class CassetteSession:
    """The cassette of one test: what it loaded, recorded and missed, and whether to save."""

    path: Path
    display: str
    config: CassetteConfig
    #: the test as a pytest argument from the directory pytest was started in
    test: str
    scrubber: Scrubber
    hook: Callable[..., Any] | None = None
    pytest_config: pytest.Config | None = None
    #: the target is the live API (``--helios-live``): what is recorded comes from it
    live: bool = False
    misses: list[str] = field(default_factory=list)
    #: set when the test failed: its cassette is not saved
    discard: bool = False
    loaded: dict[str, Any] | None = None
    targets: set[str] = field(default_factory=set)
    saved: bool = False
    cassette: Any = None
    #: webhook deliveries captured by hand while recording, and those loaded for replay
    captured: list[dict[str, Any]] = field(default_factory=list)
    loaded_webhooks: list[dict[str, Any]] = field(default_factory=list)
    #: every delivery that passed through while recording, raw: those of this test's runs
    #: are captured when the cassette is saved (see :meth:`run_deliveries`)
    passed: list[tuple[Any, dict[str, str]]] = field(default_factory=list)
    _scrubbed: dict[int, tuple[Any, dict[str, Any]]] = field(default_factory=dict)
    #: the test's request, to find the test account whose secret signs replayed webhooks
    request: pytest.FixtureRequest | None = None
    account: Any = None
    #: the threads delivering replayed runs' webhooks; the cassette waits for them at the end
    replaying: list[threading.Thread] = field(default_factory=list)
    #: what a failure of this test should also say (webhooks that could not be replayed)
    notes: list[str] = field(default_factory=list)
    _cache: dict[int, tuple[Any, Any]] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Never the raw requests it caches: their URLs may still hold a secret.
        return f"<helios cassette {self.display} record_mode={self.config.record_mode}>"

    def release(self) -> None:
        """The test is over: let go of the cassette and its interactions, the loaded
        document and webhooks, every request seen and the test's own objects, so that the
        memory of a long suite stays flat. The misses and notes (a few lines) stay."""
        cassette, self.cassette = self.cassette, None
        if cassette is not None:
            # The process's patchers keep it (and so this session, its persister) until the
            # next cassette is entered, as may a connection object of the test (vcrpy's own
            # patchers, when a cassette builds them, until the garbage collector runs):
            # neither keeps anything of the test meanwhile.
            cassette.helios_session = None
            cassette.release()
        self.loaded = None
        self.loaded_webhooks = []
        self.captured = []
        self.passed = []
        self.replaying = []
        self._cache = {}
        self._scrubbed = {}
        self.request = None
        self.account = None

    # -- vcrpy callbacks -------------------------------------------------------------------
    def before_record_request(self, request: Any) -> Any:
        if getattr(request, "helios_scrubbed", False):
            return request
        cached = self._cache.get(id(request))
        if cached is not None and cached[0] is request:
            return cached[1]
        if _is_delivery(request.headers):
            # A webhook delivery (to the user's handler): never an API interaction, so it goes
            # to the real handler. While recording it is kept aside; when the cassette is
            # saved, those of the runs this test started are captured beside it (another
            # test's run may still be delivering, and the user's own tests send fakes).
            self._cache[id(request)] = (request, None)
            if self.recording:
                self.passed.append((request.body, dict(request.headers.items())))
            return None
        if not self.records(request.uri):
            # Not the Helios API (the app under test, a webhook handler, any other server):
            # it passes through to its destination, recording or replaying alike.
            self._cache[id(request)] = (request, None)
            return None
        self.targets.add("live" if self.live or request.uri.startswith(BASE_URL) else "emulator")
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

    def records(self, uri: str) -> bool:
        """Whether a request to ``uri`` belongs in the cassette: one to the Helios API (the
        target's base URL, known to the scrubber) or to a host of ``record_hosts``, never one
        to a host of ``ignore_hosts``."""
        host = _host(uri)
        if _listed(host, self.config.ignore_hosts):
            return False
        canonical = self.scrubber.canonical_uri(uri)
        helios = canonical == BASE_URL or canonical.startswith((BASE_URL + "/", BASE_URL + "?"))
        return helios or _listed(host, self.config.record_hosts)

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
        webhooks_path = self.webhooks_path
        if webhooks_path.is_file():
            try:
                self.loaded_webhooks = read_webhooks(webhooks_path)
            except CassetteFormatError as error:
                raise CassetteFormatError(_sibling(self.display), error.problem) from None
        if self.config.contract_check:
            problems = schema_checks.check_document(document)
            problems += schema_checks.check_webhooks(self.loaded_webhooks)
            if problems:
                pytest.fail(
                    f"helios: cassette {self.display} breaks the contract in schemas/:\n"
                    + "\n".join(f"  {p}" for p in problems)
                    + f"\n  re-record it: {rerun_command(self.test, 'rewrite')}",
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
        # scrubbed first: what the deliveries hold is scanned for in the cassette too
        deliveries = [*self.captured, *self.run_deliveries()]
        if self.config.record_mode == "new_episodes":
            deliveries = [*self.loaded_webhooks, *deliveries]
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
        self._refuse_if_unsafe(self.display, data)
        webhooks = None
        if deliveries:
            webhooks = dump({"helios": meta, "deliveries": deliveries})
            self._refuse_if_unsafe(_sibling(self.display), webhooks)
        try:
            write_atomically(Path(cassette_path), data)
        except OSError as error:
            raise CassetteWriteFailed(self.display, error) from None
        if webhooks is not None:
            try:
                write_atomically(self.webhooks_path, webhooks)
            except OSError as error:
                shown = _sibling(self.display)
                raise CassetteWriteFailed(shown, error, written=self.display) from None
        self.saved = True

    def _refuse_if_unsafe(self, shown: str, data: bytes) -> None:
        findings = scan_bytes(
            data,
            secrets=self.scrubber.secrets.labels(),
            identifiers=self.scrubber.identifier_labels(),
        )
        if findings:
            raise CassetteWriteRefused(shown, findings)

    def _target(self) -> str:
        """The provenance's ``target``: ``live``, ``emulator`` (or a stand-in for the API
        declared in ``target_urls``), or ``unknown`` when no Helios request was recorded."""
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
            f"{limit:g} days\n  re-record it: {rerun_command(self.test, 'rewrite')}"
        )
        if self.config.on_expiry == "fail":
            pytest.fail(message, pytrace=False)
        warnings.warn(CassetteExpiredWarning(message), stacklevel=1)

    # -- webhooks --------------------------------------------------------------------------
    @property
    def webhooks_path(self) -> Path:
        """``<test>.webhooks.yaml`` beside the cassette: the deliveries the recording produced."""
        return self.path.with_name(self.path.stem + ".webhooks.yaml")

    @property
    def recording(self) -> bool:
        """Whether requests missing from the cassette go to the network (and get recorded)."""
        return self.cassette is not None and not self.cassette.write_protected

    def capture_webhook(self, body: bytes | str, headers: Mapping[str, str]) -> None:
        """Keep one webhook delivery (scrubbed like a response) to save beside the cassette.

        The deliveries of the runs this test started that pass through the test process
        (the emulator's) are captured on their own while recording; a receiver that gets the
        live API's deliveries calls this. Its signature and timestamp are dropped: replay
        signs afresh.
        """
        entry = self._delivery(body, headers)
        if isinstance(entry, str):
            raise ValueError(
                "helios: capture_webhook takes a Helios webhook delivery, whose body is a JSON "
                f"object; got {entry} (scrubbed). Nothing was captured."
            )
        self.captured.append(entry)

    def run_deliveries(self) -> list[dict[str, Any]]:
        """The deliveries that passed through while recording, of the runs that this test's
        recorded requests started (the run ids of their answers), scrubbed, each once (a
        retry sends the same body again)."""
        runs = self._recorded_runs()
        kept: list[dict[str, Any]] = []
        seen: set[tuple[str | None, Any]] = set()
        for body, headers in list(self.passed):
            run_id = _run_id(body, headers)
            key = (run_id, body if isinstance(body, (bytes, str)) else id(body))
            if run_id not in runs or key in seen:
                continue
            seen.add(key)
            cached = self._scrubbed.get(id(body))
            if cached is None or cached[0] is not body:
                entry = self._delivery(body, headers)
                if isinstance(entry, str):
                    continue
                cached = self._scrubbed[id(body)] = (body, entry)
            kept.append(cached[1])
        return kept

    def _recorded_runs(self) -> set[str]:
        """Run ids of the answers recorded in this session (not those loaded from the file)."""
        runs: set[str] = set()
        for _, response in self.cassette.data if self.cassette is not None else ():
            if not response.get(_LOADED):
                run_id = _run_id(response["body"]["string"], {})
                if run_id:
                    runs.add(run_id)
        return runs

    def _delivery(self, body: bytes | str, headers: Mapping[str, str]) -> dict[str, Any] | str:
        """A delivery scrubbed for the capture file, or (when its body is not a JSON object)
        the start of the scrubbed body, to say what it was."""
        lowered = {k.lower(): v for k, v in headers.items()}
        scrubbed = self.scrubber.scrub_response(
            {
                "status": {"code": 200, "message": "OK"},
                "headers": {"content-type": [lowered.get("content-type", "application/json")]},
                "body": {"string": body},
            }
        )
        text = scrubbed["body"]["string"]
        try:
            payload = json.loads(text)
        except (TypeError, ValueError):
            payload = None
        if not isinstance(payload, dict):
            return repr(text[:40]) + ("..." if len(text) > 40 else "")
        run_id = lowered.get("x-helios-run-id") or str(payload.get("runId", ""))
        return {
            "run_id": run_id,
            "sequence_number": payload.get("sequenceNumber"),
            "body": _text(text),
        }

    @property
    def webhooks(self) -> list[dict[str, Any]]:
        """The recorded deliveries (loaded for replay, or captured so far while recording)."""
        captured = [*self.captured, *self.run_deliveries()] if self.recording else self.captured
        return [*self.loaded_webhooks, *captured]

    def signed_webhooks(
        self, secret: str, *, timestamp: int | None = None
    ) -> list[tuple[bytes, dict[str, str]]]:
        """Each recorded delivery as (body, headers), signed with ``secret`` at ``timestamp``
        (default: now), exactly as Helios would send it today."""
        from pytest_helios.webhooks.signing import sign_webhook

        now = int(time.time()) if timestamp is None else timestamp
        signed = []
        for delivery in self.webhooks:
            body = str(delivery["body"]).encode("utf-8")
            headers = sign_webhook(body, secret, timestamp=now, run_id=delivery["run_id"])
            signed.append((body, headers))
        return signed

    def deliver_webhooks(
        self,
        target: object,
        secret: str,
        *,
        timestamp: int | None = None,
        path: str = "/",
        headers: Mapping[str, str] | None = None,
    ) -> list[int]:
        """POST every recorded delivery, freshly signed, to the handler at ``target``: a URL,
        or a WSGI or ASGI app called in-process at ``path`` (with ``Host: testserver`` unless
        ``headers`` give another); ``headers`` are added to each delivery's. Returns the status
        codes. These requests pass the cassette by (they are deliveries)."""
        from pytest_helios.webhooks.sending import deliver, detect_interface

        kind = detect_interface(target)
        extra = list((headers or {}).items())
        signed = self.signed_webhooks(secret, timestamp=timestamp)
        if kind != "url":
            return [
                deliver(
                    target, body, list(sent.items()), path=path, interface=kind, extra_headers=extra
                ).status_code
                for body, sent in signed
            ]
        import httpx

        with httpx.Client(timeout=10) as client:
            return [
                client.post(str(target), content=body, headers={**sent, **dict(extra)}).status_code
                for body, sent in signed
            ]

    # -- replayed runs ---------------------------------------------------------------------
    def find_account(self) -> None:
        """Remember the test account, if the test uses one (against the emulator): the
        current secret of that account signs the replayed webhooks, as it signs live ones."""
        request = self.request
        if self.account is not None or self.live or request is None:
            return
        if "helios_account" in request.fixturenames:
            self.account = request.getfixturevalue("helios_account")

    def webhook_secret(self) -> str | None:
        """The test's current webhook secret: its test account's, else HELIOS_WEBHOOK_SECRET
        (where the ``helios_webhook_secret`` fixture reads it with ``--helios-live``)."""
        if self.account is not None:
            return str.__str__(self.account.webhook_secret)
        return os.environ.get("HELIOS_WEBHOOK_SECRET") or None

    def replayed(self, request: Any, response: Mapping[str, Any]) -> None:
        """An answer was replayed: if it accepted a run whose webhooks were recorded, they are
        delivered to the ``webhookUrl`` this request sent, in sequence order, freshly signed
        with the test's current secret, in the background, as the API would deliver them."""
        if not self.config.replay_webhooks or not response.get(_LOADED):
            return
        run_id = _run_id(response["body"]["string"], {})
        deliveries = sorted(
            (d for d in self.loaded_webhooks if run_id is not None and d["run_id"] == run_id),
            key=lambda d: d.get("sequence_number") or 0,
        )
        url = _webhook_url(request.body)
        if not deliveries or url is None:
            return
        if self.webhook_secret() is None:
            # said if the test fails (waiting for them, say); a test that does not wait passes
            self.notes.append(
                f"helios: the recorded webhooks of run {run_id} were not replayed: no webhook "
                "secret to sign them with\n"
                "  the test uses no helios_account, and HELIOS_WEBHOOK_SECRET is not set\n"
                "  set it, or deliver them yourself: "
                "@pytest.mark.helios_cassette(replay_webhooks=False)"
            )
            return
        thread = threading.Thread(
            target=self._deliver, args=(url, deliveries), name="helios-replay", daemon=True
        )
        self.replaying.append(thread)
        thread.start()

    def _deliver(self, url: str, deliveries: list[dict[str, Any]]) -> None:
        import httpx

        from pytest_helios.webhooks.signing import sign_webhook

        with httpx.Client(timeout=10) as client:
            for delivery in deliveries:
                body = str(delivery["body"]).encode("utf-8")
                for attempt in range(REPLAY_ATTEMPTS):
                    if attempt:
                        time.sleep(REPLAY_BACKOFF * 2 ** (attempt - 1))
                    secret = self.webhook_secret() or ""
                    now = int(time.time())
                    headers = sign_webhook(body, secret, timestamp=now, run_id=delivery["run_id"])
                    try:
                        if client.post(url, content=body, headers=headers).is_success:
                            break
                    except httpx.HTTPError:
                        continue

    def finish_replay(self) -> None:
        """Wait for the replayed webhooks still being delivered, so none reaches another test."""
        for thread in self.replaying:
            thread.join(REPLAY_JOIN_TIMEOUT)

    # -- misses ----------------------------------------------------------------------------
    def note_miss(self, cassette: Any, request: Any) -> None:
        asked = self.before_record_request(request)
        if asked is None:
            return
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
                test=self.test,
            )
        )


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host(url: str) -> tuple[str, str]:
    """``(host, host:port)`` of a URL (its scheme's port by default) or of a ``host[:port]``
    (no port: any port), lowercased."""
    parts = urlsplit(url if "://" in url else f"//{url}")
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        port = None
    hostname = (parts.hostname or "").lower()
    shown = f"[{hostname}]" if ":" in hostname else hostname
    return hostname, f"{shown}:{port}" if port is not None else shown


def _listed(host: tuple[str, str], entries: tuple[str, ...]) -> bool:
    """Whether ``host`` is one of ``entries``: an entry with a port names that port only."""
    for entry in entries:
        name, with_port = _host(entry.strip())
        if host[1 if with_port != name else 0] == with_port:
            return True
    return False


def _run_id(body: Any, headers: Mapping[str, str]) -> str | None:
    """The run a delivery or an accepted answer is about: its ``X-Helios-Run-Id`` header or
    its JSON body's ``runId``; ``None`` when it names none."""
    for name, value in headers.items():
        if name.lower() == "x-helios-run-id" and value:
            return str(value)
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        return None
    run_id = payload.get("runId") if isinstance(payload, dict) else None
    return run_id if isinstance(run_id, str) and run_id else None


def _webhook_url(body: Any) -> str | None:
    """The ``webhookUrl`` a request's JSON body sent (the real one, never the placeholder)."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        return None
    url = payload.get("webhookUrl") if isinstance(payload, dict) else None
    if not isinstance(url, str) or url == CANONICAL_WEBHOOK_URL:
        return None
    return url


def _is_delivery(headers: Any) -> bool:
    return any(str(name).lower() == "x-helios-signature" for name in headers)


def _sibling(display: str) -> str:
    return display[: -len(".yaml")] + ".webhooks.yaml" if display.endswith(".yaml") else display


def read_webhooks(path: Path) -> list[dict[str, Any]]:
    """The deliveries of a ``.webhooks.yaml`` file, checked like a cassette."""
    document = read_document(path, items="deliveries")
    deliveries: list[dict[str, Any]] = document["deliveries"]
    return deliveries


def _text(body: Any) -> Any:
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return body
    return body


@contextlib.contextmanager
def use_cassette(request: pytest.FixtureRequest, base: CassetteConfig) -> Iterator[CassetteSession]:
    """Open the test's cassette for the duration of the test; save it only if it passed."""
    item = request.node
    clash = item.stash.get(_stash.cassette_clash, None)
    if clash is not None:
        pytest.fail(clash, pytrace=False)
    marker = item.get_closest_marker("helios_cassette")
    options = marker_options(marker.kwargs, marker.args) if marker is not None else None
    config = resolve_config(base, options, request.config)
    path = cassette_path(item, config, options.name if options is not None else None)
    rules = Rules.with_additions(
        secret_headers=config.secret_headers,
        secret_keys=config.secret_keys,
        identifying=(*config.identifying_keys, *schema_checks.identifying_paths()),
        target_urls=config.target_urls,
        salt=config.pseudonym_salt,
    )
    target = _options.of(request.config)
    targets = session_targets(request.config)
    if target.live and target.base_url != BASE_URL and target.base_url not in targets:
        targets.append(target.base_url)  # stored as the canonical host, like the emulator's
    hook = getattr(request.config.hook, "pytest_helios_scrub_interaction", None)
    secrets = session_secrets(request.config)
    for value in config.extra_secrets:
        secrets.add(value, "a secret from helios_cassette_config")
    session = CassetteSession(
        request=request,
        path=path,
        display=shown_path(path, request.config.rootpath),
        config=config,
        test=command_target(item.nodeid, item.path, request.config.invocation_params.dir),
        scrubber=Scrubber(rules, secrets, targets),
        hook=hook,
        pytest_config=request.config,
        live=target.live,
    )
    item.stash[_stash.cassette_session] = session
    try:
        problem = None
        try:
            # what vcrpy's use_cassette does: load, patch, yield, save, unpatch
            cassette = _HeliosCassette.load(
                path=str(path),
                persister=session,
                record_mode=_VCR_MODES[config.record_mode],
                match_on=MATCHERS,
                before_record_request=session.before_record_request,
                before_record_response=session.before_record_response,
            )
        except CassetteFormatError as error:
            problem = str(error)
        if problem is not None:
            pytest.fail(problem, pytrace=False)
        cassette.helios_session = session
        session.cassette = cassette
        with patched(cassette):
            try:
                yield session
            finally:
                session.finish_replay()
                try:
                    cassette._save()
                except (CassetteWriteRefused, CassetteWriteFailed) as error:
                    pytest.fail(str(error), pytrace=False)
    finally:
        # The test is over: its call report, which explains a miss, was made before its
        # fixtures are torn down. Nothing of its cassette outlives it (pytest keeps every
        # item, and so its stash, until the session ends).
        del item.stash[_stash.cassette_session]
        session.release()


def before_call(item: pytest.Item) -> None:
    """Called as the test starts, every fixture set up: the cassette finds the test account."""
    item.stash[_stash.cassette_session].find_account()


def save_after_call(item: pytest.Item) -> None:
    """Save the cassette as soon as the test body passed, so a refused write fails the test
    itself (and names the place) rather than its teardown."""
    session = item.stash[_stash.cassette_session]
    if session.cassette is None or session.misses:
        return
    try:
        # deliveries captured by hand are kept even when no request was recorded with them
        session.cassette._save(force=session.recording and bool(session.captured))
    except (CassetteWriteRefused, CassetteWriteFailed) as error:
        session.discard = True
        pytest.fail(str(error), pytrace=False)


def annotate_report(item: pytest.Item, report: pytest.TestReport) -> None:
    """Called for every report: a failed test's cassette is not saved, and a miss explains
    itself (even when the code under test swallowed vcrpy's exception)."""
    session = item.stash[_stash.cassette_session]
    if report.when in ("setup", "call") and (report.failed or hasattr(report, "wasxfail")):
        session.discard = True  # failed, or failed as expected (xfail): nothing to keep
    if report.when == "call" and session.misses:
        session.discard = True
        report.outcome = "failed"
        report.longrepr = "\n\n".join(session.misses)
    if report.when == "call" and report.failed and session.notes:
        report.sections.append(("helios cassette", "\n".join(session.notes)))
