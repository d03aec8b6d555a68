"""Every body vcrpy hands over (bytes, str, a dict or list from aiohttp's ``json=``, an
iterator of chunks, a file, none) is scrubbed, or, when it cannot be read, refused with a
message; never a crash. aiohttp records and replays like any other client."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from pytest_helios.cassettes.scrub import BodyNotReadable, Rules, Scrubber, SecretBook
from tests.cassettes.helpers import (
    FakeHelios,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

PATIENT = "Theodora Quillfeather"

AIOHTTP_TEST = """
    import asyncio, os, aiohttp, pytest

    PATIENT = "Theodora Quillfeather"

    @pytest.mark.helios_cassette
    def test_aiohttp_json_body():
        async def go():
            headers = {"x-api-key": os.environ["HELIOS_API_KEY"]}
            async with aiohttp.ClientSession(headers=headers) as session:
                body = {**LAB_REQUEST, "patientContext": {"name": PATIENT, "age": "58"}}
                async with session.post(URL + "/api/v1/lab-results", json=body) as accepted:
                    assert accepted.status == 200
                    assert (await accepted.json())["status"] == "accepted"
                echoed = ["Creatinine", {"ref": os.environ["HELIOS_API_KEY"]}]
                async with session.post(URL + "/echo", json=echoed) as echo:
                    assert (await echo.json())["body"][0] == "Creatinine"
        asyncio.run(go())
"""


def test_an_aiohttp_json_body_is_recorded_scrubbed_and_replays(
    pytester: pytest.Pytester, server: FakeHelios
) -> None:
    pytest.importorskip("aiohttp")
    write_project(pytester, server.url, AIOHTTP_TEST)

    recorded = pytester.runpytest("--helios-record-mode=once")

    recorded.assert_outcomes(passed=1)
    written = b"".join(p.read_bytes() for p in (pytester.path / "cassettes").rglob("*.yaml"))
    assert b"pseudonym-id-" in written
    for planted in (server.api_key, PATIENT, "Quillfeather"):
        assert planted.encode() not in written
        assert planted not in recorded.stdout.str()
    server.close()
    pytester.runpytest().assert_outcomes(passed=1)


def _scrubber() -> Scrubber:
    book = SecretBook()
    book.add("registered-secret-0042", "a fixture's secret")
    return Scrubber(Rules.with_additions(), book)


def _request(body: Any, content_type: str = "application/json") -> dict[str, Any]:
    return {
        "method": "POST",
        "uri": "https://api.heliosai.health/api/v1/lab-results",
        "headers": {"content-type": [content_type]},
        "body": body,
    }


DOCUMENT = {"patientName": PATIENT, "remark": "key registered-secret-0042"}
TEXT = json.dumps(DOCUMENT)
BODIES: dict[str, Callable[[], Any]] = {
    "bytes": lambda: TEXT.encode(),
    "str": lambda: TEXT,
    "bytearray": lambda: bytearray(TEXT.encode()),
    "memoryview": lambda: memoryview(TEXT.encode()),
    "a dict (aiohttp json=)": lambda: dict(DOCUMENT),
    "a list of chunks": lambda: [TEXT[:10].encode(), TEXT[10:].encode()],
    "an iterator of chunks": lambda: iter([TEXT[:10].encode(), TEXT[10:].encode()]),
    "a file": lambda: io.BytesIO(TEXT.encode()),
}


@pytest.mark.parametrize("kind", list(BODIES))
def test_every_body_type_vcrpy_hands_over_is_scrubbed_as_the_same_json(kind: str) -> None:
    scrubbed = _scrubber().scrub_request(_request(BODIES[kind]()))

    stored = json.loads(scrubbed["body"])
    assert stored["patientName"].startswith("pseudonym-id-")
    assert stored["remark"] == "key [REDACTED]"


def test_a_form_dict_is_scrubbed_as_a_form() -> None:
    body = {"patientName": PATIENT, "password": "hunter2hunter2", "age": "58"}

    scrubbed = _scrubber().scrub_request(_request(body, "application/x-www-form-urlencoded"))

    assert scrubbed["body"].startswith("patientName=pseudonym-id-")
    assert scrubbed["body"].endswith("&password=[REDACTED]&age=58")


def test_no_body_stays_no_body() -> None:
    assert _scrubber().scrub_request(_request(None))["body"] is None


def test_a_body_that_cannot_be_read_is_refused_with_a_message() -> None:
    class FormData:
        pass

    with pytest.raises(BodyNotReadable) as refused:
        _scrubber().scrub_request(_request(FormData()))

    assert str(refused.value) == (
        "helios: will not record the request POST /api/v1/lab-results: it has a body of type "
        "FormData, which cannot be checked for secrets. Nothing was written."
    )
