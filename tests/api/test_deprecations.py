"""A deprecated command: shown as such in the catalog, the OpenAPI document and the page; still run,
each call warned in its spiff__logs and counted."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from tests.support import client_from

ONLY_SAMPLE = '[discovery]\nenable_unlisted = false\n[connectors.sample.config]\ntoken = "env:SAMPLE_TOKEN"\n'


def client(tmp_path: Path) -> FlaskClient:
    return client_from(tmp_path, ONLY_SAMPLE)


def test_a_deprecated_command_is_shown_so_and_still_runs_with_a_warning(tmp_path: Path) -> None:
    app = client(tmp_path)
    entry = next(e for e in app.get("/v1/commands").get_json() if e["id"] == "sample/Salute")
    assert (entry["deprecated"], entry["replaced_by"], entry["since"]) == (
        "say it with Greet",
        "sample/Greet",
        "0.9.0",
    )
    greet = next(e for e in app.get("/v1/commands").get_json() if e["id"] == "sample/Greet")
    assert greet["deprecated"] is None and greet["since"] is None

    answer = app.post("/v1/do/sample/Salute", json={"name": "Ada"})
    assert answer.status_code == 200
    envelope = answer.get_json()
    assert envelope["command_response"]["body"] == {"greeting": "Salute Ada"}
    assert envelope["spiff__logs"] == [
        "[WARNING] sample/Salute is deprecated: say it with Greet; use sample/Greet"
    ]
    operation = app.get("/v1/openapi.json").get_json()["paths"]["/v1/do/sample/Salute"]["post"]
    assert operation["deprecated"] is True and "say it with Greet" in operation["description"]
    assert "Deprecated: say it with Greet" in app.get("/").get_data(as_text=True)
    counted = app.get("/metrics").get_data(as_text=True)
    assert 'connector_proxy_deprecated_calls_total{command="Salute",connector="sample"} 1.0' in counted


def test_a_model_still_calling_a_deprecated_command_gets_a_note(tmp_path: Path) -> None:
    model = (Path(__file__).parents[1] / "fixtures" / "models" / "clean.bpmn").read_text()
    model = model.replace('id="sample/Greet"', 'id="sample/Salute"').replace(
        '<spiffworkflow:parameter id="tags" type="any" value="[&#34;a&#34;, &#34;b&#34;]" />', ""
    )
    answer = client(tmp_path).post("/v1/validate", data=model, content_type="application/xml").get_json()
    assert answer["ok"] is True  # a note, not an error: it still runs
    (note,) = answer["findings"]
    assert (note["kind"], note["severity"]) == ("deprecated_command", "note")
    assert note["message"] == "say it with Greet; use sample/Greet"
