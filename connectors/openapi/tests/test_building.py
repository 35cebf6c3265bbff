"""How documents become commands: names, parameters, schemas in JSON Schema 2020-12, selection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from connector_proxy_openapi import factory
from jsonschema.exceptions import ValidationError

from connector_proxy.calls.validation import parameters_validator
from connector_proxy.config import ConfigError, load_settings
from connector_proxy.sdk import Connector
from connector_proxy.sdk.factories import CannotBuild, Recipe


def built(tmp_path: Path, document: dict[str, Any], table: dict[str, Any] | None = None) -> Connector:
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(document))
    return factory(Recipe("api", "api.yaml", tmp_path, table or {}))


def v30(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths, **extra}


OK = {"200": {"description": "ok"}}


def test_ids_are_made_safe_stable_and_unique(tmp_path: Path) -> None:
    connector = built(
        tmp_path,
        v30(
            {
                "/repos/{id}": {
                    "get": {"operationId": "repos/get", "responses": OK},
                    "put": {"operationId": "repos get", "responses": OK},
                    "post": {"operationId": "repos_get", "responses": OK},
                    "delete": {"responses": OK},
                },
            }
        ),
    )
    assert list(connector.commands) == ["repos.get", "repos_get", "repos_get_2", "delete_repos_id"]


def test_openapi_3_0_schemas_become_json_schema_2020_12(tmp_path: Path) -> None:
    parameter = {
        "name": "size",
        "in": "query",
        "schema": {"type": "integer", "nullable": True, "minimum": 1, "exclusiveMinimum": True},
    }
    connector = built(
        tmp_path, v30({"/a": {"get": {"operationId": "a", "parameters": [parameter], "responses": OK}}})
    )
    schema = connector.commands["a"].parameters
    assert schema["properties"]["size"]["type"] == ["integer", "null"]
    assert schema["properties"]["size"]["exclusiveMinimum"] == 1
    validator = parameters_validator(schema)
    validator.validate({"size": None})
    validator.validate({"size": 2})
    with pytest.raises(ValidationError):
        validator.validate({"size": 1})


def test_a_name_in_two_places_keeps_both(tmp_path: Path) -> None:
    parameters = [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "id", "in": "header", "schema": {"type": "string"}},
    ]
    connector = built(
        tmp_path, v30({"/a/{id}": {"get": {"operationId": "a", "parameters": parameters, "responses": OK}}})
    )
    assert list(connector.commands["a"].parameters["properties"]) == ["id", "header.id"]


def test_swagger_form_data_is_a_form_body_and_a_file_makes_it_multipart(tmp_path: Path) -> None:
    form = [{"name": "name", "in": "formData", "type": "string", "required": True}]
    upload = [*form, {"name": "file", "in": "formData", "type": "file"}]
    document = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "1"},
        "host": "example.org",
        "paths": {
            "/form": {"post": {"operationId": "form", "parameters": form, "responses": OK}},
            "/upload": {
                "post": {
                    "operationId": "upload",
                    "consumes": ["multipart/form-data"],
                    "parameters": upload,
                    "responses": OK,
                }
            },
        },
    }
    connector = built(tmp_path, document)
    assert connector.commands["form"].parameters["required"] == ["name"]
    assert connector.commands["upload"].parameters["properties"]["file"]["format"] == "binary"


def test_include_and_exclude_choose_operations(tmp_path: Path) -> None:
    paths = {
        "/repos/{id}": {"get": {"operationId": "repos.get", "tags": ["repos"], "responses": OK}},
        "/repos/{id}/issues": {"get": {"operationId": "issues.list", "tags": ["issues"], "responses": OK}},
        "/users": {"get": {"operationId": "users.list", "tags": ["users"], "responses": OK}},
    }
    table = {
        "include": {"paths": ["/repos/*"], "tags": ["users"]},
        "exclude": {"operations": ["issues.list"]},
    }
    assert list(built(tmp_path, v30(paths), table).commands) == ["repos.get", "users.list"]


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"openapi": "2.5.0", "info": {}}, "neither OpenAPI 3.0, 3.1 nor Swagger 2.0"),
        (
            v30({"/a": {"get": {"responses": {"200": {"$ref": "#/components/responses/Gone"}}}}}),
            "does not resolve",
        ),
        (v30({"/a": {"get": {"responses": {"200": {"$ref": "other.yaml#/x"}}}}}), "cannot be read"),
    ],
)
def test_what_cannot_build_says_why(tmp_path: Path, document: dict[str, Any], reason: str) -> None:
    with pytest.raises(CannotBuild, match=reason):
        built(tmp_path, document)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('openapi = "api.yaml"\nopenap = "x"', "unknown key(s) in [connectors.api]: openap"),
        ("openapi = 3", "connectors.api.openapi must be a string"),
        ('openapi = "api.yaml"\nprogram = ["node", "worker.js"]', "runs isolated by python, not program"),
    ],
)
def test_the_openapi_key_is_one_of_the_tables_keys(tmp_path: Path, table: str, problem: str) -> None:
    (tmp_path / "plugins.toml").write_text(f"[connectors.api]\n{table}\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(tmp_path / "plugins.toml", {})
    assert problem in str(refused.value)


def test_a_configured_document_names_its_factory(tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text('[connectors.api]\nopenapi = "api.yaml"\n')
    assert load_settings(tmp_path / "plugins.toml", {}).connectors["api"].built_from == (
        "openapi",
        "api.yaml",
    )
