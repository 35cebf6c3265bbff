"""What upgrading a connector package breaks in deployed models: two versions of a connector, built here,
each exported with ``connector-proxy catalog export``, then ``validate --diff`` and ``--against`` on a
model using them; every kind of breakage reported, and nothing for a compatible upgrade."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from connector_proxy.models.upgrade import UPGRADE_KINDS
from tests.support import CLI, TEST_ENV, client_from

HEAD = """
from typing import Annotated, TypedDict
from connector_proxy.sdk import Connector, ErrorCode


class Pong(TypedDict):
    pong: bool
    at: str


class Pong2(TypedDict):
    pong: bool

OUT_OF_STOCK = ErrorCode("OutOfStock", "Nothing left.", 409)
shop = Connector("shop", version="{version}")
"""
V1 = """
@shop.command("Order", errors=[OUT_OF_STOCK])
def order(
    ctx,
    item: Annotated[str | None, {"deprecated": True, "replaced_by": "sku"}] = None,
    sku: str | None = None,
    quantity: int | str = 1,
    colour: str = "red",
) -> dict:
    return {}

@shop.command("Refund")
def refund(ctx, order_id: str) -> dict:
    return {}

@shop.command("Ping")
def ping(ctx) -> Pong:
    return {"pong": True, "at": "now"}
"""
V2 = """
@shop.command("Order")  # OutOfStock is no longer raised
def order(ctx, address: str, sku: str | None = None, quantity: int = 1) -> dict:
    return {}

@shop.command("Ping", deprecated="it tells nothing", replaced_by="shop/Health", since="1.0.0")
def ping(ctx) -> Pong2:
    return {"pong": True}

@shop.command("Health", since="2.0.0")
def health(ctx) -> dict:
    return {}
"""
COMPATIBLE = V1.replace('colour: str = "red",', 'colour: str = "red",\n    gift: bool = False,').replace(
    '@shop.command("Order", errors=[OUT_OF_STOCK])',
    '@shop.command("Order", errors=[OUT_OF_STOCK, ErrorCode("Closed", "Shut.", 409)])',
)
MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_shop">
  <bpmn:error id="Error_stock" errorCode="OutOfStock" />
  <bpmn:process id="Process_shop" isExecutable="true">
    <bpmn:serviceTask id="Task_order" name="Order">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="shop/Order" resultVariable="ordered">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="item" type="str" value="&#34;book&#34;" />
            <spiffworkflow:parameter id="quantity" type="any" value="&#34;two&#34;" />
            <spiffworkflow:parameter id="colour" type="str" value="&#34;blue&#34;" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:boundaryEvent id="Caught_stock" attachedToRef="Task_order">
      <bpmn:errorEventDefinition errorRef="Error_stock" />
    </bpmn:boundaryEvent>
    <bpmn:serviceTask id="Task_refund" name="Refund">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="shop/Refund" resultVariable="refunded">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="order_id" type="str" value="order.id" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:serviceTask id="Task_ping" name="Ping">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="shop/Ping" resultVariable="pong" />
      </bpmn:extensionElements>
    </bpmn:serviceTask>
  </bpmn:process>
</bpmn:definitions>
"""
ONLY_SHOP = "[discovery]\nenable_unlisted = false\nspiffworkflow_packages = false\n[connectors.shop]\n"


def built(folder: Path, version: str, body: str) -> Path:
    """The connector package at one version, as a site folder (its module and its dist-info)."""
    site = folder / f"site-{version}"
    info = site / f"shop_connector-{version}.dist-info"
    info.mkdir(parents=True)
    (site / "shop_connector.py").write_text(textwrap.dedent(HEAD.format(version=version)) + body)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: shop-connector\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[connector_proxy.connectors]\nshop = shop_connector:shop\n")
    return site


def run(site: Path, config: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **TEST_ENV, "PYTHONPATH": str(site)}
    command = [*CLI, *arguments[:1], "--config", str(config), *arguments[1:]]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def exported(tmp_path: Path, version: str, body: str) -> tuple[Path, Path]:
    site, config = built(tmp_path, version, body), tmp_path / "plugins.toml"
    config.write_text(ONLY_SHOP)
    answer = run(site, config, "catalog", "export")
    assert answer.returncode == 0, answer.stderr
    path = tmp_path / f"catalog-{version}.json"
    path.write_text(answer.stdout)
    return site, path


def findings(output: str) -> set[tuple[str, str, str | None]]:
    """(task, kind, parameter) of each finding line: ``<file>: task <id> (<name>)[: parameter p]: kind: …``"""
    found = set()
    for line in output.splitlines():
        if ": task " not in line:
            continue
        task = line.split(": task ", 1)[1].split(" ", 1)[0]
        parameter = line.split(": parameter ", 1)[1].split(":", 1)[0] if ": parameter " in line else None
        kind = next(kind for kind in UPGRADE_KINDS if f": {kind}: " in line)
        found.add((task, kind, parameter))
    return found


BREAKAGES = {
    ("Task_order", "renamed_parameter", "item"),
    ("Task_order", "removed_parameter", "colour"),
    ("Task_order", "narrowed_type", "quantity"),
    ("Task_order", "new_required_parameter", "address"),
    ("Task_order", "dropped_code", None),
    ("Task_refund", "removed_command", None),
    ("Task_ping", "deprecated_command", None),
    ("Task_ping", "answer_changed", None),
}


def test_each_kind_of_breakage_is_reported_and_a_compatible_upgrade_reports_nothing(tmp_path: Path) -> None:
    model = tmp_path / "shop.bpmn"
    model.write_text(MODEL)
    _, old = exported(tmp_path, "1.0.0", V1)
    new_site, new = exported(tmp_path, "2.0.0", V2)
    compatible_site, _ = exported(tmp_path, "1.1.0", COMPATIBLE)
    exported_v2 = json.loads(new.read_text())
    assert exported_v2["format"] == 1 and exported_v2["left_out"] == {}
    assert exported_v2["packages"] == {"shop": {"distribution": "shop-connector", "version": "2.0.0"}}
    ping = next(c for c in exported_v2["commands"] if c["id"] == "shop/Ping")
    assert (ping["deprecated"], ping["replaced_by"], ping["since"]) == (
        "it tells nothing",
        "shop/Health",
        "1.0.0",
    )

    diff = run(new_site, tmp_path / "plugins.toml", "validate", str(model), "--diff", str(old), str(new))
    assert diff.returncode == 1, diff.stderr
    assert findings(diff.stdout) == BREAKAGES, diff.stdout
    assert "use shop/Health" in diff.stdout and "6 problem(s)" in diff.stdout  # the deprecation is a note
    # --against: from the exported catalog to the one this configuration serves now
    against = run(new_site, tmp_path / "plugins.toml", "validate", str(model), "--against", str(old))
    assert (against.returncode, findings(against.stdout)) == (1, BREAKAGES)

    fine = run(compatible_site, tmp_path / "plugins.toml", "validate", str(model), "--against", str(old))
    assert (fine.returncode, findings(fine.stdout)) == (0, set()), fine.stdout
    assert "0 problem(s)" in fine.stdout


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return client_from(
        tmp_path,
        '[discovery]\nenable_unlisted = false\n[connectors.sample.config]\ntoken = "env:SAMPLE_TOKEN"\n',
    )


def test_post_validate_takes_the_catalog_an_upgrade_starts_from(client: FlaskClient) -> None:
    ours: list[dict[str, Any]] = client.get("/v1/commands").get_json()
    before = [*ours, {"id": "sample/Retired", "parameters": [], "replaced_by": "sample/Greet"}]
    model = MODEL.replace("shop/Refund", "sample/Retired")
    answer = client.post(
        "/v1/validate",
        data={"files": (_file(model), "m.bpmn"), "against": (_file(json.dumps(before)), "old.json")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200
    kinds = {(f["task_id"], f["kind"]) for f in answer.get_json()["findings"]}
    assert kinds == {
        ("Task_refund", "removed_command")
    }  # shop/* were unknown before as after: not this check's
    assert "use sample/Greet" in answer.get_json()["findings"][0]["message"]
    refused = client.post(
        "/v1/validate",
        data={"files": (_file(model), "m.bpmn"), "against": (_file("[1, 2]"), "old.json")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400 and refused.get_json()["error"]["error_code"] == "InvalidModel"


def _file(text: str) -> Any:
    import io

    return io.BytesIO(text.encode())
