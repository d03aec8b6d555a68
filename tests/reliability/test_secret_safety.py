"""Secret safety: secrets and patient identifiers planted in every place a user's test can put
them never reach a file or the output, and the cassette linter finds every secret planted
directly in a cassette file.

Each place is a row of ``PLACES`` (``pytest --collect-only`` lists them, one test each). For a
place, a user's project is written whose tests plant fresh values there (generated at run time,
handed over in a file outside the project, never committed), recording against real servers on
loopback that echo what they get: ``FakeHelios`` (tests/cassettes/helpers.py) and ``Mirror``
below, which sends any body back as it came. Then every file the run left in the project
(cassettes read inside: YAML, and gzip, zlib and zip payloads unpacked), every file name, the
terminal output and the junit XML are searched for each value. A place whose protection has
not landed yet stays in the table, skipped with the reason.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import random
import re
import secrets
import string
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_helios.cassettes.lint import lint
from pytest_helios.cassettes.persister import dump, provenance
from tests.cassettes.helpers import (
    LAB_REQUEST,
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
)
from tests.loopback import LoopbackServer, QuietHandler

from .conftest import TALLY, scale

pytestmark = pytest.mark.reliability

ALNUM = string.ascii_letters + string.digits


def _random(rng: random.Random, alphabet: str, size: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(size))


def key_shaped(rng: random.Random) -> str:
    """A fresh secret of one of the shapes the scan knows without being told."""
    kind = rng.randrange(9)
    hexdigits = "0123456789abcdef"
    return [
        lambda: "sk_live_" + _random(rng, ALNUM, rng.randint(24, 48)),
        lambda: "sk_test_" + _random(rng, ALNUM, 32),
        lambda: "whsec_" + _random(rng, hexdigits, 48),
        lambda: "sha256=" + _random(rng, hexdigits, 64),
        lambda: "Bearer " + _random(rng, ALNUM + "._-", 30),
        lambda: "eyJ" + _random(rng, ALNUM, 20) + "." + _random(rng, ALNUM, 30) + ".sig",
        lambda: "AKIA" + _random(rng, string.ascii_uppercase + string.digits, 16),
        lambda: "ghp_" + _random(rng, ALNUM, 36),
        lambda: "xoxb-" + _random(rng, ALNUM + "-", 24),
    ][kind]()


def new_name(rng: random.Random, letters: int = 7) -> str:
    """A generated name word, different on every run (no other text of a cassette has it)."""
    return rng.choice("BDFGKMPRTVZ") + _random(rng, string.ascii_lowercase, letters - 1)


def new_date(rng: random.Random) -> str:
    return f"{rng.randint(1920, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(10, 28)}"


IDENTIFIERS: dict[str, Callable[[random.Random], str]] = {
    "name": lambda rng: f"{new_name(rng)} {new_name(rng, 8)}",
    "date": new_date,
    "mrn": lambda rng: f"MRN{rng.randrange(10**8):08d}",
    "phone": lambda rng: f"+1-555-{rng.randrange(10**7):07d}",
    "email": lambda rng: f"{new_name(rng).lower()}@mail.example",
    "ssn4": lambda rng: f"x{rng.randrange(10**4):04d}",
}
#: Key names a user's data calls a patient identifier by, in the spellings EHRs use.
IDENTIFYING_NAMES: dict[str, str] = {
    "patient_name": "name",
    "first_name": "name",
    "last-name": "name",
    "patientName": "name",
    "Patient-First-Name": "name",
    "date_of_birth": "date",
    "DOB": "date",
    "birthDate": "date",
    "MRN": "mrn",
    "medical_record_number": "mrn",
    "phone_number": "phone",
    "Email_Address": "email",
    "ssn_last4": "ssn4",
}


@dataclass(frozen=True)
class Plant:
    """One planted value: a secret or an identifier, and the name of the field it went in."""

    value: str
    kind: str
    name: str = ""
    #: how deep in JSON it is nested
    depth: int = 1

    def forms(self) -> set[str]:
        """The strings whose presence in a file or the output would be a leak: the value as
        sent, URL- and JSON-encoded, and each distinctive part of it (a name's words, the token
        of ``Bearer <token>`` or ``session=<token>``)."""
        found = {self.value, quote(self.value, safe=""), quote_plus(self.value)}
        found.add(json.dumps(self.value)[1:-1])
        floor = 8 if self.kind == "secret" else 5
        found.update(part for part in re.split(r"[\s=;-]+", self.value) if len(part) >= floor)
        return found


@dataclass(frozen=True)
class Known:
    """The secrets a session knows: the API key, a token in a variable named like a secret,
    and a token of no known shape (known only by the place it is sent in)."""

    api_key: str
    partner: str
    opaque: str


def a_secret(rng: random.Random, known: Known, *, secret_named: bool) -> str:
    """A known secret or a key-shaped one; in a place named like a secret, also one of no
    known shape."""
    roll = rng.random()
    if secret_named and roll >= 0.85:
        return rng.choice([_random(rng, ALNUM, 32), known.opaque])
    if roll < 0.4:
        return rng.choice([known.api_key, known.partner])
    return key_shaped(rng)


def named_secrets(rng: random.Random, known: Known, names: dict[str, bool]) -> list[Plant]:
    """Secrets under some of ``names`` (name -> named like a secret), each name once."""
    chosen = rng.sample(list(names), rng.randint(1, len(names)))
    return [
        Plant(a_secret(rng, known, secret_named=names[name]), "secret", name) for name in chosen
    ]


def named_identifiers(rng: random.Random, count: int) -> list[Plant]:
    """Identifiers under ``count`` of the names EHRs give them."""
    chosen = rng.sample(list(IDENTIFYING_NAMES), count)
    return [Plant(IDENTIFIERS[IDENTIFYING_NAMES[n]](rng), "identifier", n) for n in chosen]


HEADERS = {
    "x-note": False,
    "x-partner": False,
    "x-comment": False,
    "authorization": True,
    "x-api-key": True,
    "Api_Key": True,
    "X-Access-Key": True,
}
PARAMETERS = {"q": False, "note": False, "comment": False, "apiKey": True, "access_token": True}
JSON_KEYS = {"note": False, "comment": False, "x": False, "apiKey": True, "password": True}
FORM_FIELDS = {"note": False, "comment": False, "password": True, "api_key": True}


def _header_plants(rng: random.Random, known: Known, index: int) -> list[Plant]:
    plants = named_secrets(rng, known, HEADERS)
    if rng.random() < 0.3:  # a cookie: its value is the secret
        plants.append(
            Plant(f"session={a_secret(rng, known, secret_named=True)}", "secret", "cookie")
        )
    return plants


def _json_plants(rng: random.Random, known: Known, index: int) -> list[Plant]:
    plants = []
    for _ in range(rng.randint(1, 8)):
        name = rng.choice(list(JSON_KEYS))
        value = a_secret(rng, known, secret_named=JSON_KEYS[name])
        plants.append(Plant(value, "secret", name, rng.randint(1, 8)))
    return plants


def _text_plants(rng: random.Random, known: Known, index: int) -> list[Plant]:
    count = rng.randint(1, 6)
    return [
        Plant(a_secret(rng, known, secret_named=False), "secret", f"t{i}") for i in range(count)
    ]


def _packed_plants(rng: random.Random, known: Known, index: int) -> list[Plant]:
    """A JSON export: secrets under plain and secret names, identifiers under their names."""
    plants = [
        Plant(a_secret(rng, known, secret_named=False), "secret", f"note{i}")
        for i in range(rng.randint(1, 3))
    ]
    plants += named_secrets(rng, known, {"apiKey": True, "password": True})
    return plants + named_identifiers(rng, rng.randint(1, 4))


def _multipart_plants(rng: random.Random, known: Known, index: int) -> list[Plant]:
    plants = named_secrets(rng, known, FORM_FIELDS)
    return plants + named_identifiers(rng, rng.randint(1, 4))


def _names_plants(rng: random.Random, known: Known, index: int) -> list[Plant]:
    return named_identifiers(rng, rng.randint(3, len(IDENTIFYING_NAMES)))


def _fhir_plants(rng: random.Random, known: Known, index: int) -> list[Plant]:
    words = {"family": new_name(rng, 8), "given": new_name(rng), "given2": new_name(rng, 6)}
    plants = [Plant(value, "identifier", name) for name, value in words.items()]
    plants.append(Plant(f"ID-{_random(rng, string.digits, 9)}", "identifier", "identifier"))
    plants.append(Plant(IDENTIFIERS["phone"](rng), "identifier", "telecom"))
    return plants


def _fragment_plants(rng: random.Random, known: Known, index: int) -> list[Plant]:
    return [
        Plant(new_name(rng), "identifier", "first"),
        Plant(new_name(rng, 6) + "-" + new_name(rng, 5), "identifier", "last"),
        Plant(f"{rng.randrange(10**8):08d}", "identifier", "mrn"),
    ]


def _id_plants(rng: random.Random, known: Known, index: int) -> list[Plant]:
    kind = ("name", "date", "mrn", "phone")[index % 4]
    return [Plant(IDENTIFIERS[kind](rng), "identifier", "patient")]


def _call_plants(rng: random.Random, known: Known, index: int) -> list[Plant]:
    """A failing call: 401 for a fresh key, else 400 (one answer echoes the patient's name)."""
    key = "sk_live_" + _random(rng, ALNUM, 32) if index % 3 == 0 else known.api_key
    return [
        Plant(key, "secret", "key"),
        Plant(IDENTIFIERS["name"](rng), "identifier", "name"),
        Plant(f"{new_name(rng)} has HIV {new_name(rng, 6)}", "identifier", "notes"),
        Plant(f"{new_name(rng, 6)} and {new_name(rng, 8)} a day", "identifier", "history"),
    ]


def _webhook_plants(rng: random.Random, known: Known, index: int) -> list[Plant]:
    return [Plant("whsec_" + _random(rng, "0123456789abcdef", 48), "secret", "secret")]


def _violation_plants(rng: random.Random, known: Known, index: int) -> list[Plant]:
    """A cassette whose 401 echoes a key and whose request holds a patient (no webhookUrl)."""
    return [
        Plant(key_shaped(rng) if index % 2 else known.api_key, "secret", "key"),
        Plant(IDENTIFIERS["name"](rng), "identifier", "name"),
        Plant(f"{new_name(rng)} has HIV {new_name(rng, 6)}", "identifier", "notes"),
        Plant(IDENTIFIERS["name"](rng), "identifier", "patientInfo"),
    ]


Make = Callable[[random.Random, Known, int], list[Plant]]


@dataclass(frozen=True)
class Place:
    """Where values are planted, how the project's run must end, and what is searched."""

    name: str
    make: Make
    #: what the recording project does with the plants (``send`` in RECORD_TEST)
    send: str = ""
    project: str = "record"
    options: tuple[str, ...] = ("--helios-record-mode=once",)
    #: "passed" (each test passes or its write is refused), "refused", "failed", "error",
    #: "findings" (the linter's exit status 1)
    outcome: str = "passed"
    #: search the files the run wrote (not for the cassettes this test wrote itself)
    files: bool = True
    #: why the place is skipped: its protection has not landed yet
    pending: str = ""


PLACES = (
    Place("header", _header_plants, send="header"),
    Place(
        "query parameter",
        lambda rng, known, i: named_secrets(rng, known, PARAMETERS),
        send="query",
    ),
    Place("JSON at any depth", _json_plants, send="json"),
    Place("JSON in lists", _json_plants, send="json-list"),
    Place("form body", lambda rng, known, i: named_secrets(rng, known, FORM_FIELDS), send="form"),
    Place("text body", _text_plants, send="text"),
    Place("gzip body without Content-Encoding", _packed_plants, send="gzip"),
    Place("zlib body without Content-Encoding", _packed_plants, send="zlib"),
    Place("zip archive body", _packed_plants, send="zip"),
    Place("binary body no scan can read", _packed_plants, send="binary", outcome="refused"),
    Place("multipart form fields", _multipart_plants, send="multipart"),
    Place("snake_case, kebab and upper-case identifier names", _names_plants, send="names"),
    Place("FHIR name, identifier and telecom", _fhir_plants, send="fhir"),
    Place("fragments of identifiers in free text", _fragment_plants, send="fragments"),
    Place("parametrize ids", _id_plants, project="ids"),
    Place(
        "traceback of a failed call (-l --tb=long -vv)",
        _call_plants,
        project="calls",
        options=("-l", "--tb=long", "-vv"),
        outcome="failed",
    ),
    Place(
        "junit XML of a failed call",
        _call_plants,
        project="calls",
        options=("--junitxml=report.xml", "-l", "--tb=long"),
        outcome="failed",
    ),
    Place(
        "traceback of a failed verify_webhook (-l --tb=long)",
        _webhook_plants,
        project="webhooks",
        options=("-l", "--tb=long"),
        outcome="failed",
    ),
    Place(
        "contract violation of a replayed cassette",
        _violation_plants,
        project="replay",
        options=("-l", "--tb=long", "-vv"),
        outcome="error",
        files=False,
    ),
    Place(
        "linter lines of a cassette",
        _violation_plants,
        project="replay",
        options=("--helios-lint-cassettes",),
        outcome="findings",
        files=False,
    ),
)

# ---------------------------------------------------------------- the user's project

PRELUDE = """
import gzip, io, json, os, zipfile, zlib
from pathlib import Path

import httpx, pytest

from pytest_helios import HeliosClient

ITEMS = json.loads(Path(os.environ["HELIOS_PLANTS"]).read_text())
"""

RECORD_TEST = """

def nest(value, name, depth, lists):
    value = {name: value}
    for level in range(1, depth):
        value = [value] if lists and level % 2 else {f"l{level}": value}
    return value


def packed(kind, data):
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "zlib":
        return zlib.compress(data)
    if kind == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("export.json", data)
        return buffer.getvalue()
    return bytes(byte ^ 0xA5 for byte in data)  # no scan can read this


def send(place, plants):
    named = {p["name"]: p["value"] for p in plants}
    with httpx.Client() as client:
        if place == "header":
            client.post(FAKE + "/echo", headers=named, json=LAB_REQUEST)
        elif place == "query":
            client.post(FAKE + "/echo", params=named, json=LAB_REQUEST)
        elif place in ("json", "json-list"):
            data = {
                f"p{i}": nest(p["value"], p["name"], p["depth"], place == "json-list")
                for i, p in enumerate(plants)
            }
            client.post(FAKE + "/echo", json={**LAB_REQUEST, "data": data})
        elif place == "form":
            client.post(MIRROR + "/form", data=named)
        elif place == "text":
            text = " and ".join(f"free text before {p['value']} after" for p in plants)
            headers = {"content-type": "text/plain; charset=utf-8"}
            client.post(MIRROR + "/text", content=text.encode(), headers=headers)
        elif place in ("gzip", "zlib", "zip", "binary"):
            content = packed(place, json.dumps(named).encode())
            headers = {"content-type": "application/octet-stream"}
            client.post(MIRROR + "/" + place, content=content, headers=headers)
        elif place == "multipart":
            files = {"report": ("report.txt", b"labs attached")}
            client.post(MIRROR + "/upload", data=named, files=files)
        elif place == "names":
            client.post(FAKE + "/echo", json={**LAB_REQUEST, "data": {"demographics": named}})
        elif place == "fhir":
            patient = {
                "resourceType": "Patient",
                "name": [{"family": named["family"], "given": [named["given"], named["given2"]]}],
                "identifier": [{"system": "urn:mrn", "value": named["identifier"]}],
                "telecom": [{"system": "phone", "value": named["telecom"]}],
            }
            client.post(FAKE + "/echo", json={**LAB_REQUEST, "data": {"fhirPatient": patient}})
        elif place == "fragments":
            first, last, mrn = named["first"], named["last"], named["mrn"]
            client.post(FAKE + "/echo", json={
                "patient": {"name": f"{first} {last}", "mrn": mrn},
                "greeting": f"Hello {first}!",
                "remark": f"chart {mrn} reviewed",
            })
            client.post(FAKE + "/echo", json={"remark": f"{last} called back"})


@pytest.mark.helios_cassette
@pytest.mark.parametrize("index", range(len(ITEMS)))
def test_plant(index):
    send(PLACE, ITEMS[index])
"""

IDS_TEST = """

@pytest.mark.helios_cassette
@pytest.mark.parametrize("patient", [item[0]["value"] for item in ITEMS])
def test_labs_for(patient):
    with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
        body = {**LAB_REQUEST, "patientContext": {"name": patient}}
        client.post(FAKE + "/api/v1/lab-results", json=body)
"""

CALLS_TEST = """

def plant(index, name):
    return next(p["value"] for p in ITEMS[index] if p["name"] == name)


def request_of(index):
    context = {
        "name": plant(index, "name"),
        "clinicalNotes": plant(index, "notes"),
        "socialHistory": plant(index, "history"),
        "age": 58 if index % 3 == 2 else "58",  # FakeHelios's 400 then names the patient
    }
    lab = {**LAB_REQUEST["labResults"][0], "notes": plant(index, "notes")}
    webhook = None if index % 3 == 1 else "http://127.0.0.1:9/hook"
    return {"lab_results": [lab], "webhook_url": webhook, "patient_context": context}


@pytest.mark.parametrize("index", range(len(ITEMS)))
def test_failing_call(index):
    with HeliosClient(plant(index, "key"), base_url=FAKE) as client:
        client.submit_lab_results(**request_of(index))
"""

WEBHOOKS_TEST = """
import time

from pytest_helios import verify_webhook


@pytest.mark.parametrize("index", range(len(ITEMS)))
def test_failing_verification(index):
    signature = "sha256=" + "0" * 64
    headers = {"X-Helios-Signature": signature, "X-Helios-Timestamp": str(int(time.time()))}
    verify_webhook(b'{"runId": "r"}', headers, ITEMS[index][0]["value"])
"""

REPLAY_TEST = """

@pytest.mark.helios_cassette
@pytest.mark.parametrize("index", range(len(ITEMS)))
def test_replay(index):
    pass
"""

PROJECTS = {
    "record": RECORD_TEST,
    "ids": IDS_TEST,
    "calls": CALLS_TEST,
    "webhooks": WEBHOOKS_TEST,
    "replay": REPLAY_TEST,
}


def write_project(pytester: pytest.Pytester, place: Place, fake: str, mirror: str) -> None:
    """The user's project: both servers stored as the Helios API, and the place's tests."""
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(
        "import dataclasses\nimport pytest\n\n\n@pytest.fixture\n"
        "def helios_cassette_config(helios_cassette_config):\n"
        "    return dataclasses.replace(\n"
        f"        helios_cassette_config, target_urls=({fake!r}, {mirror!r})\n"
        "    )\n"
    )
    constants = (
        f"FAKE = {fake!r}\nMIRROR = {mirror!r}\nLAB_REQUEST = {LAB_REQUEST!r}\n"
        f"PLACE = {place.send!r}\n"
    )
    pytester.makepyfile(test_api=PRELUDE + constants + PROJECTS[place.project])


def violating_cassette(plants: list[Plant]) -> bytes:
    """One cassette breaking the contract twice: a 401 whose message echoes the key, and an
    accepted request without webhookUrl that names a patient."""
    named = {p.name: p.value for p in plants}
    body = {
        "patientContext": {"name": named["name"], "clinicalNotes": named["notes"]},
        "labResults": [],
    }
    agent = {"agentType": "light", "data": {"patientInfo": {"name": named["patientInfo"]}}}

    def interaction(path: str, sent: dict[str, Any], status: int, answer: object) -> Any:
        return {
            "request": {
                "method": "POST",
                "uri": f"https://api.heliosai.health{path}",
                "headers": {"content-type": ["application/json"]},
                "body": json.dumps(sent),
            },
            "response": {
                "status": {"code": status, "message": "OK"},
                "headers": {"content-type": ["application/json"]},
                "body": {"string": json.dumps(answer)},
            },
        }

    accepted = {"runId": "550e8400-e29b-41d4-a716-446655440000", "status": "accepted"}
    refusal = {"error": "Unauthorized", "message": f"Invalid API key {named['key']}"}
    interactions = [
        interaction("/api/v1/lab-results", body, 200, accepted),
        interaction("/api/v1/agent", agent, 200, accepted),
        interaction("/api/v1/lab-results", LAB_REQUEST, 401, refusal),
    ]
    return dump({"helios": provenance("emulator"), "interactions": interactions})


class Mirror(LoopbackServer):
    """Sends every POST body back as it came, with its Content-Type: an export, a form echo."""

    def __init__(self) -> None:
        class Handler(QuietHandler):
            def do_POST(self) -> None:
                kind = self.headers.get("Content-Type", "application/octet-stream")
                self.reply(200, self.body(), {"Content-Type": kind})

        super().__init__(Handler)


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    with Mirror() as server:
        yield server


# ---------------------------------------------------------------- searching what the run left


def _unpacked(data: bytes, depth: int = 0) -> Iterator[bytes]:
    """``data`` and, when it is a gzip, zlib or zip payload, what is inside (read on)."""
    yield data
    inner: list[bytes] = []
    try:
        if data[:2] == b"\x1f\x8b":
            inner = [gzip.decompress(data)]
        elif data[:1] == b"\x78":
            inner = [zlib.decompress(data)]
        elif data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                inner = [archive.read(name) for name in archive.namelist()]
    except (OSError, zlib.error, zipfile.BadZipFile, EOFError):
        inner = []
    for piece in inner if depth < 3 else ():
        yield from _unpacked(piece, depth + 1)


def _contents(node: Any) -> Iterator[bytes]:
    """Every string and byte string of a loaded YAML document, payloads unpacked."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _contents(key)
            yield from _contents(value)
    elif isinstance(node, list):
        for item in node:
            yield from _contents(item)
    elif isinstance(node, str):
        yield from _unpacked(node.encode("utf-8", "surrogateescape"))
    elif isinstance(node, bytes):
        yield from _unpacked(node)


def readable(path: Path) -> bytes:
    """A file's bytes and, for YAML, every value in it read as a reader would (payloads
    unpacked, ``!!binary`` decoded)."""
    raw = path.read_bytes()
    parts = list(_unpacked(raw))
    if path.suffix == ".yaml":
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with contextlib.suppress(yaml.YAMLError):
            parts.extend(_contents(yaml.load(raw, Loader=loader)))  # a safe loader
    return b"\n".join(parts)


def leaks(
    plants: list[Plant], outputs: dict[str, str], root: Path, *, files: bool
) -> list[tuple[str, str, str]]:
    """``(kind, name, where)`` of every planted value found in a file, a file name or an
    output (never the value itself)."""
    places: dict[str, bytes] = {k: v.encode("utf-8", "surrogateescape") for k, v in outputs.items()}
    written = sorted(p for p in root.rglob("*") if p.is_file())
    names = "\n".join(str(p.relative_to(root)) for p in written)
    places["file names"] = names.lower().encode()
    if files:
        for path in written:
            places[str(path.relative_to(root))] = readable(path)
    found = []
    for plant in plants:
        forms = [form.encode() for form in plant.forms()]
        for where, text in places.items():
            lowered = where == "file names"
            if any((form.lower() if lowered else form) in text for form in forms):
                found.append((plant.kind, plant.name, where))
    return found


# ---------------------------------------------------------------- planted in every place

_EXPECTED = {"passed": "passed", "refused": "failed", "failed": "failed", "error": "errors"}


@pytest.mark.parametrize(
    "place",
    [
        pytest.param(
            place,
            id=place.name,
            marks=[pytest.mark.skip(reason=place.pending)] if place.pending else [],
        )
        for place in PLACES
    ],
)
def test_values_planted_in_a_place_reach_no_file_name_or_output(
    pytester: pytest.Pytester,
    server: FakeHelios,
    mirror: Mirror,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    place: Place,
) -> None:
    rng = random.Random(secrets.randbits(32))
    known = Known(
        api_key=server.api_key, partner=_random(rng, ALNUM, 40), opaque=server.partner_token
    )
    monkeypatch.setenv("PARTNER_TOKEN", known.partner)  # known by its variable's name
    monkeypatch.setenv("HELIOS_WEBHOOK_SECRET", "whsec_" + secrets.token_hex(24))
    count = max(scale().fuzz_examples // 8, 10)
    items = [place.make(rng, known, index) for index in range(count)]
    handed = tmp_path_factory.mktemp("plants") / "plants.json"  # outside the project
    handed.write_text(json.dumps([[plant.__dict__ for plant in item] for item in items]))
    monkeypatch.setenv("HELIOS_PLANTS", str(handed))
    write_project(pytester, place, server.url, mirror.url)
    if place.project == "replay":
        for index, item in enumerate(items):
            path = pytester.path / "cassettes" / "test_api" / f"test_replay[{index}].yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(violating_cassette(item))

    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", *place.options)

    output = result.stdout.str()
    refused = len(set(re.findall(r"refused to write cassette (\S+): ", output)))
    if place.outcome == "findings":
        assert result.ret == 1, output[-3000:]
    else:
        outcomes = result.parseoutcomes()
        if place.outcome == "passed":
            assert outcomes.get("passed", 0) + refused == count, output[-3000:]
        else:
            assert outcomes.get(_EXPECTED[place.outcome], 0) == count, output[-3000:]
        if place.outcome == "refused":
            assert refused == count, output[-3000:]
    outputs = {"stdout": output, "stderr": result.stderr.str()}
    planted = [plant for item in items for plant in item]
    found = leaks(planted, outputs, pytester.path, files=place.files)
    assert found == []
    cassettes = list((pytester.path / "cassettes").rglob("*.yaml")) if place.files else []
    kinds = [plant.kind for plant in planted]
    TALLY["secret safety", "places planted in (each its own test)"] += 1
    TALLY["secret safety", "secrets planted in those places"] += kinds.count("secret")
    TALLY["secret safety", "identifiers planted in those places"] += kinds.count("identifier")
    TALLY["secret safety", "secrets and identifiers planted, all told"] += len(planted)
    TALLY["secret safety", "cassettes written (scrubbed)"] += len(cassettes)
    TALLY["secret safety", "writes refused by the pre-write scan"] += refused
    TALLY["secret safety", "planted values found in a file, a file name or the output"] += len(
        found
    )


# ---------------------------------------------------------------- planted in a cassette file

SEGMENT = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=8)


@st.composite
def planted_documents(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A cassette document with secrets planted at random places, and [(place, secret)]."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    count = draw(st.integers(1, 3))
    interactions: list[dict[str, Any]] = [
        {
            "request": {
                "method": "POST",
                "uri": "https://api.heliosai.health/api/v1/lab-results",
                "headers": {"content-type": ["application/json"]},
                "body": json.dumps({"labResults": []}),
            },
            "response": {
                "status": {"code": 200, "message": "OK"},
                "headers": {"content-type": ["application/json"]},
                "body": {"string": json.dumps({"status": "accepted"})},
            },
        }
        for _ in range(count)
    ]
    planted: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(1, 5))):
        index = draw(st.integers(0, count - 1))
        part = draw(st.sampled_from(["request", "response"]))
        message = interactions[index][part]
        where = f"interaction {index}, {part}"
        secret = draw(st.sampled_from(["shaped", "known"]))
        value = key_shaped(rng) if secret == "shaped" else "known-" + _random(rng, ALNUM, 24)
        place = draw(st.sampled_from(["header", "uri", "json", "text"]))
        if place == "uri" and part == "response":
            place = "header"
        if place == "header":
            name = "x-" + draw(SEGMENT).lower()
            message["headers"].setdefault(name, []).append(f"note {value} end")
            planted.append((f"{where}, header {name}", value))
        elif place == "uri":
            message["uri"] += ("&" if "?" in message["uri"] else "?") + f"q={value}"
            planted.append((f"{where}, uri", value))
        else:
            body = message["body"]["string"] if part == "response" else message["body"]
            try:
                parsed = json.loads(body) if place == "json" else None
            except ValueError:
                parsed = None  # an earlier text planting made it plain text
            if isinstance(parsed, dict):
                keys = draw(st.lists(SEGMENT, min_size=1, max_size=6))
                keys[0] = f"p{len(planted)}{keys[0]}"  # a subtree of its own
                node = parsed
                for key in keys[:-1]:
                    node = node.setdefault(key, {})
                node[keys[-1]] = value
                body = json.dumps(parsed)
            else:
                body = f"{body} {value}"
            path = f"{where}, body"
            if part == "response":
                message["body"]["string"] = body
            else:
                message["body"] = body
            planted.append((path, value))
    return {"helios": provenance("emulator"), "interactions": interactions}, planted


@settings(
    max_examples=scale().fuzz_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=planted_documents())
def test_the_linter_finds_every_secret_planted_in_a_cassette_file(
    tmp_path: Path, case: tuple[dict[str, Any], list[tuple[str, str]]]
) -> None:
    document, planted = case
    path = tmp_path / "cassettes" / "test_api" / "test_planted.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dump(document))
    known = {value: "a planted secret" for _, value in planted if value.startswith("known-")}

    _, findings = lint([path], extra_secrets=known)

    secret_findings = [f for f in findings if "a known secret" in f or "key-shaped" in f]
    for place, value in planted:
        assert any(f.startswith(f"{path}: {place}") for f in secret_findings), (place, findings)
        assert all(value not in f for f in findings)  # named by place, never shown
    TALLY["secret safety", "secrets planted directly in cassette files"] += len(planted)
    TALLY["secret safety", "secrets and identifiers planted, all told"] += len(planted)
    TALLY["secret safety", "planted secrets the linter missed"] += 0  # any miss fails above
