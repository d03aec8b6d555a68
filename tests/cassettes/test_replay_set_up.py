"""What entering a cassette costs less of, with nothing else changed: vcrpy's patchers built
once per process, and cassette files read back by a reader of exactly what the plugin writes
(PyYAML reads anything else), which returns what PyYAML returns."""

from __future__ import annotations

import http.client
import json
import string
from pathlib import Path
from typing import Any

import httpx
import pytest
import vcr.patch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vcr.errors import CannotOverwriteExistingCassetteException
from vcr.record_mode import RecordMode
from vcr.request import Request

from pytest_helios.cassettes import persister, recorder
from pytest_helios.cassettes.matching import MATCHERS
from pytest_helios.cassettes.scrub import Rules, Scrubber, SecretBook
from pytest_helios.exceptions import CassetteFormatError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    p
    for folder in (ROOT / "cassettes", *ROOT.glob("examples/*/cassettes"))
    for p in folder.rglob("*.yaml")
)

# -- vcrpy's patchers, built once ----------------------------------------------------------


def _cassette(body: bytes = b"{}") -> recorder._HeliosCassette:
    cassette = recorder._HeliosCassette(
        "unused.yaml", match_on=MATCHERS, record_mode=RecordMode.NONE
    )
    request = Request("POST", "https://api.heliosai.health/api/v1/agent", body, {})
    cassette.append(request, {"status": {"code": 200, "message": "OK"}, "headers": {},
                              "body": {"string": body}})  # fmt: skip
    cassette.rewound = True
    return cassette


def test_every_cassette_uses_the_same_patchers_and_each_sees_its_own_interactions() -> None:
    first, second = _cassette(b'{"a": 1}'), _cassette(b'{"b": 2}')
    real = httpx.HTTPTransport.handle_request
    with recorder.patched(first):
        patched_once = httpx.HTTPTransport.handle_request
        connection_class = http.client.HTTPConnection
        with httpx.Client() as client:
            answer = client.post("https://api.heliosai.health/api/v1/agent", content=b'{"a": 1}')
        assert answer.status_code == 200
    assert httpx.HTTPTransport.handle_request is real  # unpatched between cassettes
    with recorder.patched(second):
        assert httpx.HTTPTransport.handle_request is patched_once  # not built again
        assert http.client.HTTPConnection is connection_class
        with httpx.Client() as client:
            client.post("https://api.heliosai.health/api/v1/agent", content=b'{"b": 2}')
            with pytest.raises(CannotOverwriteExistingCassetteException, match=r"unused\.yaml"):
                client.post("https://api.heliosai.health/api/v1/agent", content=b'{"a": 1}')
    assert (first.play_count, second.play_count) == (1, 1)
    assert http.client.HTTPConnection is vcr.patch._HTTPConnection  # the real one again


def test_a_cassette_entered_inside_another_gets_its_own_patchers() -> None:
    outer, inner = _cassette(b'{"outer": 1}'), _cassette(b'{"inner": 1}')
    url = "https://api.heliosai.health/api/v1/agent"
    with recorder.patched(outer):
        shared = httpx.HTTPTransport.handle_request
        with recorder.patched(inner):
            assert httpx.HTTPTransport.handle_request is not shared
            with httpx.Client() as client:
                assert client.post(url, content=b'{"inner": 1}').status_code == 200
        assert httpx.HTTPTransport.handle_request is shared
        with httpx.Client() as client:
            assert client.post(url, content=b'{"outer": 1}').status_code == 200
    assert (outer.play_count, inner.play_count) == (1, 1)
    with recorder.patched(_cassette()):  # free again once the outer one ended
        assert httpx.HTTPTransport.handle_request is shared


def test_the_patchers_are_free_again_after_a_test_that_failed_inside_its_cassette() -> None:
    with pytest.raises(RuntimeError), recorder.patched(_cassette()):
        shared = httpx.HTTPTransport.handle_request
        raise RuntimeError
    with recorder.patched(_cassette()):
        assert httpx.HTTPTransport.handle_request is shared


def test_a_requests_session_kept_across_cassettes_replays_from_each_in_turn() -> None:
    """urllib3's pools keep connections across cassettes: those of one cassette are closed
    and dropped when it ends (vcrpy's connection removers), so the next one's are its own."""
    requests = pytest.importorskip("requests")
    url = "https://api.heliosai.health/api/v1/agent"
    cassettes = [_cassette(b'{"n": 1}'), _cassette(b'{"n": 2}'), _cassette(b'{"n": 3}')]
    with requests.Session() as session:
        for number, cassette in enumerate(cassettes, 1):
            with recorder.patched(cassette):
                answer = session.post(url, data=f'{{"n": {number}}}'.encode())
                assert answer.status_code == 200
            pools = list(session.adapters["https://"].poolmanager.pools._container.values())
            assert all(pool.pool.qsize() == 0 or None in pool.pool.queue for pool in pools)
    assert [c.play_count for c in cassettes] == [1, 1, 1]


# -- reading cassette files ----------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_cassette_reads_back_through_the_fast_reader_as_pyyaml_reads_it(
    path: Path,
) -> None:
    text = path.read_text(encoding="utf-8")
    assert persister._read_written(text) == yaml.load(text, Loader=persister.SafeLoader)


_text = st.lists(
    st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from(["\n", " ", "  ", "'", '"', ": ", " #", "- ", "|", "&a", "*a", "!x"]),
    max_size=12,
).map("".join)
_keys = _text | st.sampled_from(["helios", "yes", "on", "null", "1", "<<", "x-api-key", "~"])
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _values, min_size=1, max_size=4))
def test_whatever_dump_writes_reads_back_as_pyyaml_reads_it(document: dict[str, Any]) -> None:
    data = persister.dump(document)
    expected = yaml.load(data.decode(), Loader=persister.SafeLoader)
    assert persister.load_written(data, "x.yaml") == expected  # (PyYAML itself may differ)
    assert type(persister.load_written(data, "x.yaml")) is dict


_edits = st.lists(
    st.tuples(
        st.integers(0, 10_000),
        st.integers(0, 3),
        st.sampled_from([*string.printable, "\x00", "\x85", "\u2028", "\ufeff", "é"]),
    ),
    min_size=1,
    max_size=3,
)


def _pyyaml(data: bytes) -> Any:
    try:
        return ("read", persister.load_yaml(data, "x.yaml"))
    except CassetteFormatError as error:
        return ("refused", type(error))


def _fast(data: bytes) -> Any:
    try:
        return ("read", persister.load_written(data, "x.yaml"))
    except CassetteFormatError as error:
        return ("refused", type(error))


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SHIPPED), _edits)
def test_an_edited_cassette_reads_as_pyyaml_reads_it_or_is_refused_alike(
    path: Path, edits: list[tuple[int, int, str]]
) -> None:
    """A hand-edited (or tampered) file: the same document, or the same refusal."""
    text = path.read_text(encoding="utf-8")
    for at, removed, inserted in edits:
        at %= len(text) + 1
        text = text[:at] + inserted + text[at + removed :]
    data = text.encode("utf-8")
    assert _fast(data) == _pyyaml(data)


def test_a_file_not_written_by_dump_is_read_by_pyyaml(tmp_path: Path) -> None:
    """Flow style, anchors, a double-quoted string, a float: all PyYAML's."""
    text = 'a: {b: [1, 2]}\nc: &x "d\\te"\ne: *x\nf: 1.5\n'
    with pytest.raises(persister._Unsupported):
        persister._read_written(text)
    with pytest.raises(CassetteFormatError, match="anchors or aliases"):
        persister.load_written(text.encode(), "x.yaml")
    path = tmp_path / "flow.yaml"
    path.write_text('helios: {format: 1, recorded_at: "2026-01-31T12:00:00Z"}\ninteractions: []\n')
    assert persister.read_document(path)["helios"]["format"] == 1


@pytest.mark.parametrize("style", ["|", "|-", "|+"])
def test_a_literal_block_at_the_end_of_a_file_without_its_final_line_break(style: str) -> None:
    data = f"a: 1\nb: {style}\n  text".encode()
    assert persister.load_written(data, "x.yaml") == persister.load_yaml(data, "x.yaml")


def test_a_tampered_cassette_still_fails_the_provenance_checks(tmp_path: Path) -> None:
    path = tmp_path / "tampered.yaml"
    good = persister.dump({"helios": persister.provenance("emulator"), "interactions": []})
    path.write_bytes(good)
    assert persister.read_document(path)["interactions"] == []
    path.write_bytes(good.replace(b"format: 1", b"format: 2"))
    with pytest.raises(CassetteFormatError, match="unsupported cassette format 2"):
        persister.read_document(path)
    path.write_bytes(good.replace(b"recorded_at: '", b"recorded_at: 'x"))
    with pytest.raises(CassetteFormatError, match="recorded_at"):
        persister.read_document(path)


def test_a_cassette_edited_on_disk_between_two_reads_is_read_again(tmp_path: Path) -> None:
    """Nothing read is kept: each test reads its cassette file as it is now."""
    path = tmp_path / "edited.yaml"
    meta = persister.provenance("emulator")
    path.write_bytes(persister.dump({"helios": meta, "interactions": []}))
    assert persister.read_document(path)["interactions"] == []
    interaction = {
        "request": {"method": "POST", "uri": "https://api.heliosai.health/x", "headers": {}},
        "response": {"status": {"code": 200, "message": "OK"}, "headers": {},
                     "body": {"string": "{}"}},
    }  # fmt: skip
    path.write_bytes(persister.dump({"helios": meta, "interactions": [interaction]}))
    assert persister.read_document(path)["interactions"] == [interaction]


def test_a_secret_met_or_registered_after_a_request_scrubs_the_next_ones() -> None:
    """The secrets a request is scrubbed with are sorted once per change, never kept stale."""
    book = SecretBook()
    scrubber = Scrubber(Rules.with_additions(), book)

    def body_of(text: str, headers: dict[str, list[str]] | None = None) -> Any:
        body = json.dumps({"status": text}).encode()
        request = {"method": "POST", "uri": "https://api.heliosai.health/api/v1/agent",
                   "headers": headers or {}, "body": body}  # fmt: skip
        return json.loads(scrubber.scrub_request(request)["body"])["status"]

    assert body_of("plain text registered-later-value") == "plain text registered-later-value"
    book.add("registered-later-value", "a secret registered after the first request")
    assert body_of("plain text registered-later-value") == "plain text [REDACTED]"
    header = {"authorization": ["Bearer token-from-a-header-1234"]}
    assert body_of("echo token-from-a-header-1234", header) == "echo [REDACTED]"
    assert body_of("again token-from-a-header-1234") == "again [REDACTED]"
    assert body_of("longer registered-later-value-2") == "longer [REDACTED]-2"
    book.add("registered-later-value-2", "a longer secret containing the first")
    assert body_of("longer registered-later-value-2") == "longer [REDACTED]"
