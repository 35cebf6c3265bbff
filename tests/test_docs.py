"""The README is the front door and docs/ the reference: what the code declares, they must document."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from connector_proxy_aws import errors as aws_errors
from connector_proxy_aws.settings import CONFIG_SCHEMA as AWS_CONFIG_SCHEMA
from connector_proxy_http import CONFIG_SCHEMA
from connector_proxy_openapi import config_schema as openapi_config_schema
from connector_proxy_os import errors as os_errors
from connector_proxy_os.settings import CONFIG_SCHEMA as OS_CONFIG_SCHEMA

import connector_proxy.sdk
import connector_proxy.sdk.testing
from connector_proxy.config import SECTIONS, Settings, factory_names
from connector_proxy.host.error_codes import DAEMON_ERRORS
from connector_proxy.models import validate
from connector_proxy.sdk.destinations import DESTINATIONS_SCHEMA
from connector_proxy.sdk.http import errors as http_errors
from connector_proxy.telemetry import logs, metrics

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
CONFIGURATION = (DOCS / "configuration.md").read_text()
HTTP_API = (DOCS / "http-api.md").read_text()
OPERATING = (DOCS / "operating.md").read_text()
SPIFFWORKFLOW = (DOCS / "spiffworkflow.md").read_text()
HTTP_README = (ROOT / "connectors" / "http" / "README.md").read_text()
AWS_README = (ROOT / "connectors" / "aws" / "README.md").read_text()
OS_README = (ROOT / "connectors" / "os" / "README.md").read_text()
OPENAPI = (DOCS / "openapi.md").read_text()


@pytest.mark.parametrize("code", [e.code for e in DAEMON_ERRORS + http_errors.ALL])
def test_every_error_code_is_documented(code: str) -> None:
    assert f"| `{code}` |" in HTTP_API


@pytest.mark.parametrize("code", [e.code for e in http_errors.ALL])
def test_the_http_readme_lists_its_codes(code: str) -> None:
    assert f"| `{code}` |" in HTTP_README


@pytest.mark.parametrize(
    "key",
    [f"{section}.{field.name}" for section, cls in SECTIONS.items() for field in dataclasses.fields(cls)]
    + [key for key in CONFIG_SCHEMA["properties"] if key != "destinations"]
    + [f"destinations.{key}" for key in DESTINATIONS_SCHEMA["properties"]],
)
def test_every_config_key_is_documented(key: str) -> None:
    assert f"| `{key}` |" in CONFIGURATION


def test_ci_runs_the_readme_test_command() -> None:
    match = re.search(r"## Test it\n\n```sh\n(.+)\n```", README)
    assert match is not None
    assert match.group(1) in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("code", [e.code for e in http_errors.ALL])
def test_the_openapi_page_lists_the_codes_of_its_calls(code: str) -> None:
    assert f"`{code}`" in OPENAPI


@pytest.mark.parametrize("key", list(openapi_config_schema(None, {})["properties"]))
def test_the_openapi_page_lists_its_settings(key: str) -> None:
    assert f"| `{key}` |" in OPENAPI


@pytest.mark.parametrize("factory", sorted(factory_names()))
def test_every_factory_key_is_documented(factory: str) -> None:
    assert f"`connectors.<name>.{factory}`" in CONFIGURATION


@pytest.mark.parametrize("code", [e.code for e in aws_errors.ALL])
def test_the_aws_readme_lists_its_codes(code: str) -> None:
    assert f"| `{code}` |" in AWS_README


@pytest.mark.parametrize("key", [key for key in AWS_CONFIG_SCHEMA["properties"] if key != "allow"])
def test_the_aws_readme_lists_its_settings(key: str) -> None:
    assert f"| `{key}` |" in AWS_README


@pytest.mark.parametrize("command", sorted(__import__("connector_proxy_aws").connector.commands))
def test_the_aws_readme_shows_every_command(command: str) -> None:
    assert f"`{command}`" in AWS_README


@pytest.mark.parametrize("code", [e.code for e in os_errors.ALL])
def test_the_os_readme_lists_its_codes(code: str) -> None:
    assert f"| `{code}` |" in OS_README


@pytest.mark.parametrize("key", list(OS_CONFIG_SCHEMA["properties"]))
def test_the_os_readme_lists_its_settings(key: str) -> None:
    assert f"| `{key}` |" in OS_README


@pytest.mark.parametrize("command", sorted(__import__("connector_proxy_os").connector.commands))
def test_the_os_readme_shows_every_command(command: str) -> None:
    assert f"`{command}`" in OS_README


@pytest.mark.parametrize("name", [*connector_proxy.sdk.__all__, *connector_proxy.sdk.testing.__all__])
def test_the_guide_names_every_public_sdk_name(name: str) -> None:
    assert re.search(rf"\b{name}\b", (ROOT / "docs" / "writing-a-connector.md").read_text())


@pytest.mark.parametrize("name", metrics.exposed_names())
def test_every_metric_is_documented(name: str) -> None:
    assert f"| `{name}` |" in OPERATING


@pytest.mark.parametrize("field", [*logs.BASE_FIELDS, *logs.ID_FIELDS, *logs.HTTP_FIELDS])
def test_every_log_field_is_documented(field: str) -> None:
    assert f"| `{field}` |" in OPERATING


def _routes() -> list[str]:
    from connector_proxy.web.app import create_app

    app = create_app(Settings())
    found = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule)
        found += [f"{method} {path}" for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})]
    return found


@pytest.mark.parametrize("route", _routes())
def test_every_endpoint_is_documented(route: str) -> None:
    assert f"`{route}" in HTTP_API


@pytest.mark.parametrize("kind", validate.KINDS)
def test_every_model_finding_is_documented(kind: str) -> None:
    assert f"| `{kind}` |" in SPIFFWORKFLOW


def test_the_readme_is_a_few_screens() -> None:
    assert len(README.splitlines()) <= 200


PAGES = [
    "README.md",
    *(f"docs/{p.name}" for p in sorted(DOCS.glob("*.md"))),
    "connectors/http/README.md",
    "connectors/aws/README.md",
    "connectors/os/README.md",
    "connectors/openapi/README.md",
]


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_leads_somewhere(page: str) -> None:
    text = (ROOT / page).read_text()
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)
    missing = [t for t in targets if not (ROOT / page).parent.joinpath(t).exists()]
    assert missing == []


@pytest.mark.parametrize("page", PAGES)
def test_no_table_is_split_by_a_blank_line(page: str) -> None:
    """A blank line inside a table ends it: the rows after it render as a paragraph of pipes."""
    lines = (ROOT / page).read_text().splitlines()
    split = [
        n + 1
        for n in range(1, len(lines) - 1)
        if not lines[n]
        and lines[n - 1].startswith("| ")
        and lines[n + 1].startswith("| ")
        and not lines[n + 2].startswith("|---")
    ]
    assert split == []


def test_the_scale_out_commands_are_the_ones_ci_runs() -> None:
    assert "## Scale out" in README and "readme_smoke.py" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize(
    "module",
    sorted(
        str(path.relative_to(ROOT / "connector_proxy"))
        for path in (ROOT / "connector_proxy").rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    ),
)
def test_the_architecture_map_names_every_module(module: str) -> None:
    assert re.search(rf"^ +{re.escape(Path(module).name)} ", (DOCS / "architecture.md").read_text(), re.M)


def test_operating_lists_what_is_not_trusted_and_each_limit_on_another_proxy() -> None:
    from connector_proxy.config import ProxySettings

    section = OPERATING.split("## What is not trusted", 1)[1].split("\n## ", 1)[0]
    bounds = [f.name for f in dataclasses.fields(ProxySettings) if f.name.startswith("max_")]
    assert bounds and all(f"`{name}`" in section or f"{name}`" in section for name in bounds), bounds
    for surface in (
        "another proxy's catalog",
        "`pattern`",
        "secret provider",
        "tracing collector",
        "url_path",
    ):
        assert surface in section, surface
    # the states a remote's catalog can be in are the ones GET /v1/proxies documents
    assert "`too_large`" in HTTP_API
