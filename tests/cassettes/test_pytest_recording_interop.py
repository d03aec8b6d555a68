"""pytest-helios beside pytest-recording: the helios fixtures' keys are MaskedSecret strings, and
vcrpy's YAML serializer must write them like any str (it refused the Python tag before).

The project here sets no vcrpy header filter, so pytest-recording writes the (generated) key, as
it would any str: what its cassettes hold is pytest-recording's configuration, not ours."""

from __future__ import annotations

import pytest

from tests.cassettes.helpers import FakeHelios, new_api_key

TESTS = """
import json, urllib.request
import pytest
import requests

URL = {url!r}
BODY = {{"labResults": [{{"name": "Creatinine", "value": "1.8 mg/dL"}}], "webhookUrl": "x"}}


@pytest.mark.vcr
def test_requests_with_a_helios_key(helios_api_key):
    answer = requests.post(URL + "/echo", json=BODY, headers={{"x-api-key": helios_api_key}})
    assert answer.status_code == 200


@pytest.mark.vcr
def test_urllib_with_a_helios_key(helios_api_key):
    request = urllib.request.Request(
        URL + "/echo", data=json.dumps(BODY).encode(), method="POST",
        headers={{"x-api-key": helios_api_key, "content-type": "application/json"}},
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 200
"""


@pytest.fixture
def fake() -> object:
    with FakeHelios(new_api_key()) as server:
        yield server


def test_a_helios_key_in_a_pytest_recording_cassette_is_written_and_replays(
    pytester: pytest.Pytester, fake: FakeHelios
) -> None:
    pytest.importorskip("pytest_recording")
    pytester.makepyfile(test_interop=TESTS.format(url=fake.url))
    pytester.runpytest("--record-mode=once").assert_outcomes(passed=2)
    written = sorted(p.name for p in (pytester.path / "cassettes" / "test_interop").iterdir())
    assert written == ["test_requests_with_a_helios_key.yaml", "test_urllib_with_a_helios_key.yaml"]
    hits = len(fake.hits)
    pytester.runpytest("--record-mode=none").assert_outcomes(passed=2)
    assert len(fake.hits) == hits  # replayed from the cassettes, the server not called again
