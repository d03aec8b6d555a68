"""The cassette linter (``pytest --helios-lint-cassettes`` and ``helios-cassettes lint``):
one line per secret, unpseudonymized identifier, contract violation, age or format problem,
and a non-zero exit on any."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_helios.cassettes.lint import main
from pytest_helios.cassettes.persister import dump, provenance
from tests.cassettes.helpers import (
    ONE_CALL_CASSETTE,
    FakeHelios,
    new_api_key,
    record_one_call,
    server_fixture,  # noqa: F401  # the `server` fixture
    write_project,
)

CASSETTE = ONE_CALL_CASSETTE


@pytest.fixture
def recorded(pytester: pytest.Pytester, server: FakeHelios) -> Path:
    return record_one_call(pytester, server.url)


def spoil(cassette: Path, key: str) -> None:
    """What a hand edit (or another tool) could leave behind."""
    text = cassette.read_text()
    text = text.replace("'[REDACTED]'", key, 1)
    text = text.replace('"gender": "male"', '"gender": "male",\n        "name": "Jane Roe"', 1)
    text = text.replace('"status": "accepted"', '"status": "queued"')
    cassette.write_text(text)


def test_a_clean_cassette_directory_passes(pytester: pytest.Pytester, recorded: Path) -> None:
    result = pytester.runpytest("--helios-lint-cassettes")

    assert result.ret == 0
    result.stdout.fnmatch_lines(["helios-cassettes: 1 cassette checked, no findings"])


def test_every_finding_is_one_line_and_the_exit_status_is_non_zero(
    pytester: pytest.Pytester, recorded: Path
) -> None:
    spoil(recorded, new_api_key())

    result = pytester.runpytest("--helios-lint-cassettes")

    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            f"{CASSETTE}: interaction 0, request, header x-api-key: "
            "a key-shaped string (a Helios API key)",
            f"{CASSETTE}: interaction 0, request, header x-api-key: secret header not redacted",
            f"{CASSETTE}: interaction 0, request body $.patientContext.name: "
            "patient identifier not pseudonymized",
            f"{CASSETTE}: interaction 0, response (accepted-response): *",
            "helios-cassettes: 4 finding(s) in 1 cassette",
        ]
    )


def test_the_console_command_lints_the_paths_it_is_given(recorded: Path, tmp_path: Path) -> None:
    key = new_api_key()
    spoil(recorded, key)
    (tmp_path / "broken.yaml").write_text("helios: [unclosed\n")
    command = Path(sys.executable).with_name("helios-cassettes")

    result = subprocess.run(
        [str(command), "lint", str(recorded.parent), str(tmp_path / "broken.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    broken = f"{tmp_path / 'broken.yaml'}: invalid YAML: line 2: "
    assert [line for line in lines if line.startswith(broken) and "expected ',' or ']'" in line]
    assert lines[-1] == "helios-cassettes: 5 finding(s) in 2 cassettes"
    assert key not in result.stdout + result.stderr


def test_the_maximum_age_is_checked_when_given(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = recorded.read_text()
    start = text.index("recorded_at: '") + len("recorded_at: '")
    recorded.write_text(text[:start] + "2020-01-31T12:00:00Z" + text[start + 20 :])

    assert main(["lint", str(recorded), "--max-age", "30"]) == 1

    out = capsys.readouterr().out
    assert f"{recorded}: recorded " in out
    assert "days ago (2020-01-31T12:00:00Z), more than the maximum age of 30 days" in out


def test_a_path_that_does_not_exist_is_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lint", str(tmp_path / "nowhere")]) == 1

    assert f"{tmp_path / 'nowhere'}: no such file or directory" in capsys.readouterr().out


def test_a_bad_maximum_age_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["lint", "--max-age", "-1"])

    assert exit_info.value.code == 2
    assert "argument --max-age: -1 is not a positive number" in capsys.readouterr().err


def test_a_webhook_capture_beside_a_cassette_is_linted_as_deliveries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_helios.cassettes.persister import dump, provenance
    from pytest_helios.payloads.builders import lab_results_completed

    labs = [{"name": "Creatinine", "value": "1.8 mg/dL", "flag": "High"}]
    final = lab_results_completed(
        "550e8400-e29b-41d4-a716-446655440000", labs, timestamp="2026-01-15T12:00:00.000Z"
    )
    capture = tmp_path / "test_api" / "test_calls.webhooks.yaml"
    capture.parent.mkdir()
    delivery = {"run_id": final["runId"], "sequence_number": 8, "body": json.dumps(final)}
    capture.write_bytes(dump({"helios": provenance("emulator"), "deliveries": [delivery]}))

    assert main(["lint", str(tmp_path)]) == 0
    spoiled = {**final, "status": "done", "extra": new_api_key()}
    spoiled_delivery = {**delivery, "body": json.dumps(spoiled)}
    capture.write_bytes(dump({"helios": provenance("emulator"), "deliveries": [spoiled_delivery]}))

    assert main(["lint", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"{capture}: delivery 0, body: a key-shaped string (a Helios API key)" in lines
    assert any(
        line.startswith(f"{capture}: delivery 0 (webhook): schema 'webhook' violated at $.status")
        for line in lines
    )
    assert lines[-1] == "helios-cassettes: 2 finding(s) in 1 cassette"


def test_no_finding_shows_a_secret_even_when_a_contract_violation_quotes_its_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = new_api_key()
    document = {
        "helios": provenance("emulator"),
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": "https://api.heliosai.health/api/v1/lab-results",
                    "headers": {"content-type": ["application/json"]},
                    "body": json.dumps({"labResults": [], "leaked": key}),
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {},
                    "body": {"string": "{}"},
                },
            }
        ],
    }
    path = tmp_path / "leaky.yaml"
    path.write_bytes(dump(document))

    assert main(["lint", str(path)]) == 1

    out = capsys.readouterr().out
    assert f"{path}: interaction 0, request, body $.leaked: a key-shaped string" in out
    assert "violated at $: keyword 'required': missing required property 'webhookUrl'" in out
    assert "'leaked': '[REDACTED]'" in out
    assert key not in out


def test_query_parameters_and_form_fields_are_checked_as_the_scrubber_treats_them(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = "uri: https://api.heliosai.health/api/v1/lab-results"
    recorded.write_text(
        recorded.read_text().replace(uri, uri + "?patientName=Jane%20Roe&token=abcdefgh123", 1)
    )
    form = recorded.parent / "test_form.yaml"
    request = {
        "method": "POST",
        "uri": "https://api.heliosai.health/form",
        "headers": {"content-type": ["application/x-www-form-urlencoded"]},
        "body": "patientName=Jane+Roe&password=hunter2hunter2&age=58",
    }
    response = {"status": {"code": 204}, "headers": {}, "body": {"string": ""}}
    form.write_bytes(
        dump(
            {
                "helios": provenance("emulator"),
                "interactions": [{"request": request, "response": response}],
            }
        )
    )

    assert main(["lint", str(recorded.parent)]) == 1

    lines = capsys.readouterr().out.splitlines()
    unpseudonymized = "patientName: patient identifier not pseudonymized"
    unredacted = "secret parameter not redacted"
    assert f"{form}: interaction 0, request, form field {unpseudonymized}" in lines
    assert f"{form}: interaction 0, request, form field password: {unredacted}" in lines
    assert f"{recorded}: interaction 0, request, query parameter {unpseudonymized}" in lines
    assert f"{recorded}: interaction 0, request, query parameter token: {unredacted}" in lines


# ---------------------------------------------------------------- any YAML, bounded reading


def _vcrpy_cassette(key: str, *, status: str = "accepted") -> dict[str, object]:
    """What vcrpy (and pytest-recording) write: no provenance, headers as they were sent."""
    return {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": "https://api.heliosai.health/api/v1/lab-results",
                    "headers": {"Content-Type": ["application/json"], "X-Api-Key": [key]},
                    "body": json.dumps(
                        {
                            "webhookUrl": "https://hooks.example.org/helios",
                            "labResults": [{"name": "Creatinine", "value": "1.8 mg/dL"}],
                            "patientContext": {"name": "Imogen Vasquez-Thorne", "age": "58"},
                        }
                    ),
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"Content-Type": ["application/json"]},
                    "body": {
                        "string": json.dumps(
                            {
                                "runId": "550e8400-e29b-41d4-a716-446655440000",
                                "status": status,
                                "message": "Request accepted.",
                            }
                        )
                    },
                },
            }
        ],
    }


def test_a_plain_vcrpy_cassette_is_scanned_and_the_way_to_migrate_it_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = new_api_key()
    path = tmp_path / "test_calls.yaml"
    path.write_text(yaml.safe_dump(_vcrpy_cassette(key)))

    assert main(["lint", str(path)]) == 1

    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"{path}: not a pytest-helios cassette (no 'helios' provenance section): convert it "
        f"with: helios-cassettes migrate {path}",
        f"{path}: interaction 0, request, header X-Api-Key: a key-shaped string (a Helios API key)",
        f"{path}: interaction 0, request, header X-Api-Key: secret header not redacted",
        f"{path}: interaction 0, request body $.patientContext.name: "
        "patient identifier not pseudonymized",
        "helios-cassettes: 4 finding(s) in 1 cassette",
    ]
    assert key not in out


#: A pytest-helios cassette in all other respects, so every check reads the rest of it.
HEADER = "helios: {format: 1, recorded_at: '2026-01-31T12:00:00Z'}\ninteractions: []\n"
#: 600-odd bytes that expand to 9**9 strings for whoever walks the document.
ALIAS_BOMB = "\n".join(
    [HEADER + "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']"]
    + [
        f"{n}: &{n} [{','.join(['*' + p] * 9)}]"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    + ["bomb: [*i]", ""]
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (ALIAS_BOMB, "YAML anchors or aliases (&name, *name), which a cassette never holds"),
        (
            HEADER + "loop: &loop [*loop]\n",
            "YAML anchors or aliases (&name, *name), which a cassette never holds",
        ),
        ("[" * 5000 + "]" * 5000 + "\n", "invalid YAML: line 1: exceeded maximum nesting depth"),
    ],
    ids=["an alias bomb", "a recursive alias", "deep nesting"],
)
def test_a_file_that_cannot_be_read_safely_is_one_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)

    assert main(["lint", str(path)]) == 1

    assert capsys.readouterr().out.splitlines() == [
        f"{path}: {problem}",
        "helios-cassettes: 1 finding(s) in 1 cassette",
    ]


def test_a_file_beyond_the_size_limit_is_one_finding_and_never_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_helios.cassettes import persister

    monkeypatch.setattr(persister, "MAX_CASSETTE_BYTES", 1024)
    path = tmp_path / "huge.yaml"
    path.write_text("interactions: []\n" + "# padding\n" * 200)

    assert main(["lint", str(path)]) == 1

    assert capsys.readouterr().out.splitlines()[0] == (
        f"{path}: larger than 1,024 bytes, the most a cassette may hold"
    )


def test_the_plugin_refuses_a_cassette_with_an_alias(
    pytester: pytest.Pytester, recorded: Path
) -> None:
    text = recorded.read_text().replace("interactions:", "interactions: &all", 1)
    recorded.write_text(text)

    result = pytester.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*YAML anchors or aliases (&name, *name), which a cassette never holds*"]
    )


# ---------------------------------------------------------------- migrate

RECORDING_TEST = """
    import os, httpx, pytest

    @pytest.mark.vcr
    def test_calls():
        body = {**LAB_REQUEST, "patientContext": {"name": "Imogen Vasquez-Thorne", "age": "58"}}
        with httpx.Client(headers={"x-api-key": os.environ["HELIOS_API_KEY"]}) as client:
            assert client.post(URL + "/api/v1/lab-results", json=body).status_code == 200
"""


def test_a_pytest_recording_cassette_migrates_to_one_that_lints_clean_and_replays(
    pytester: pytest.Pytester, server: FakeHelios, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(pytester, server.url, RECORDING_TEST)
    pytester.runpytest("--record-mode=once").assert_outcomes(passed=1)
    original = pytester.path / "cassettes" / "test_api" / "test_calls.yaml"
    before = original.read_bytes()
    assert server.api_key.encode() in before  # what pytest-recording leaves on disk
    capsys.readouterr()

    assert main(["migrate", str(original), "--target-url", server.url]) == 0

    migrated = original.with_name("test_calls.helios.yaml")
    assert capsys.readouterr().out.splitlines() == [
        f"helios-cassettes: migrated {original} to {migrated} (1 interaction), lint clean"
    ]
    assert original.read_bytes() == before  # untouched unless asked
    written = migrated.read_bytes()
    for planted in (server.api_key, "Imogen", "Vasquez", server.url):
        assert planted.encode() not in written
    assert main(["lint", str(migrated)]) == 0
    capsys.readouterr()
    assert main(["migrate", str(original), "--in-place", "--target-url", server.url]) == 0
    assert original.read_bytes().startswith(b"# pytest-helios cassette.")
    migrated.unlink()
    test_file = pytester.path / "test_api.py"
    test_file.write_text(
        test_file.read_text().replace("@pytest.mark.vcr", "@pytest.mark.helios_cassette")
    )
    server.close()
    pytester.runpytest("-p", "no:recording").assert_outcomes(passed=1)


def test_migrate_writes_nothing_when_the_result_would_not_lint_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = new_api_key()
    source = tmp_path / "test_calls.yaml"
    source.write_text(yaml.safe_dump(_vcrpy_cassette(key, status="queued")))

    assert main(["migrate", str(source)]) == 1

    out = capsys.readouterr().out
    target = tmp_path / "test_calls.helios.yaml"
    assert out.splitlines()[-1] == (
        f"helios-cassettes: {source} was not migrated: the result would not lint clean "
        "(1 finding(s)). Nothing was written."
    )
    assert f"{target}: interaction 0, response (accepted-response): schema" in out
    assert not target.exists()
    assert key not in out


def test_migrate_never_overwrites_another_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "test_calls.yaml"
    source.write_text(yaml.safe_dump(_vcrpy_cassette(new_api_key())))
    taken = tmp_path / "taken.yaml"
    taken.write_text("mine\n")

    assert main(["migrate", str(source), "--output", str(taken)]) == 1

    assert capsys.readouterr().out.splitlines() == [
        f"{taken}: exists already; name another with --output, or replace the original with "
        "--in-place. Nothing was written."
    ]
    assert taken.read_text() == "mine\n"
