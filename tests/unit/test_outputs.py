"""A command's output schema: derived from its return hint (or given), carried to the catalog and the
OpenAPI document, and held to by the test kit."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

import pytest

from connector_proxy.sdk import Connector, Context, Result
from connector_proxy.sdk.parameters import derive_output
from connector_proxy.sdk.testing import succeeded
from tests.support import client_from


class Parcel(TypedDict):
    number: str
    state: Literal["sent", "delivered"]
    signed_by: str | None
    note: NotRequired[str]


def parcel(ctx: Context) -> Parcel:
    return {"number": "A1", "state": "sent", "signed_by": None}


def parcels(ctx: Context) -> list[Parcel] | None: ...


def untold(ctx: Context) -> Result:
    return Result({})


def anything(ctx: Context) -> Any: ...


def no_hint(ctx: Context): ...  # type: ignore[no-untyped-def]


def test_a_typed_dict_says_what_the_answer_holds_null_included() -> None:
    assert derive_output(parcel) == {
        "type": "object",
        "properties": {
            "number": {"type": "string"},
            "state": {"enum": ["sent", "delivered"]},
            "signed_by": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "note": {"type": "string"},
        },
        "required": ["number", "signed_by", "state"],
    }
    listed = derive_output(parcels)
    assert listed is not None and listed["anyOf"][1] == {"type": "null"}
    assert listed["anyOf"][0]["items"]["required"] == ["number", "signed_by", "state"]


@pytest.mark.parametrize("function", [untold, anything, no_hint])
def test_a_hint_that_tells_nothing_declares_nothing(function: Any) -> None:
    assert derive_output(function) is None


def test_given_output_wins_and_the_kit_fails_an_answer_outside_it(tmp_path: Path) -> None:
    shop = Connector("shop")

    @shop.command("Track", output={"type": "object", "required": ["number"]})
    def track(ctx: Context, number: str) -> Any:
        return {"number": number} if number != "lost" else {"where": "nobody knows"}

    assert shop.commands["Track"].output == {"type": "object", "required": ["number"]}
    import sys
    import types

    module = types.ModuleType("shop_for_outputs")
    module.shop = shop  # type: ignore[attr-defined]
    sys.modules["shop_for_outputs"] = module
    site = tmp_path / "site"
    info = site / "shop_for_outputs-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shop-for-outputs\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[connector_proxy.connectors]\nshop = shop_for_outputs:shop\n")
    sys.path.insert(0, str(site))
    try:
        client = client_from(tmp_path, "[discovery]\nenable_unlisted = false\n[connectors.shop]\n")
        assert succeeded(client, "shop/Track", number="A1") == {"number": "A1"}
        with pytest.raises(AssertionError, match="shop/Track answered outside its output schema: 'number'"):
            succeeded(client, "shop/Track", number="lost")
        entry = client.get("/v1/commands/shop/Track").get_json()
        assert entry["output_schema"] == {"type": "object", "required": ["number"]}
        operation = client.get("/v1/openapi.json").get_json()["paths"]["/v1/do/shop/Track"]["post"]
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["anyOf"][0]["allOf"][
            1
        ]
        assert answer["properties"]["command_response"]["properties"]["body"] == entry["output_schema"]
    finally:
        sys.path.remove(str(site))
        del sys.modules["shop_for_outputs"]


def test_the_built_ins_declare_what_they_answer(tmp_path: Path) -> None:
    client = client_from(tmp_path, "[discovery]\nspiffworkflow_packages = false\n")
    catalog = {e["id"]: e for e in client.get("/v1/commands").get_json()}
    built_in = {i: e for i, e in catalog.items() if i.split("/")[0] in ("http", "aws", "os")}
    assert len(built_in) > 20
    assert [i for i, e in built_in.items() if not e["output_schema"]] == []
    assert catalog["aws/GetItem"]["output_schema"]["properties"]["item"]["anyOf"][1] == {"type": "null"}
    assert catalog["os/RunCommand"]["output_schema"]["required"] == sorted(
        ["exit_code", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "duration_ms"]
    )
