"""DynamoDB: items in and out as plain JSON; numbers round-trip; query and scan page by token.

Also SpiffWorkflow's AddDynamoItem, QueryDynamoTable and ScanDynamoTable,
with their parameters and answers, for existing models.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from decimal import Decimal, DecimalException
from typing import TYPE_CHECKING, Annotated, Any, Literal

from connector_proxy.sdk import CommandError, CommandGroup, Context
from connector_proxy_aws import errors
from connector_proxy_aws.answers import (
    Item,
    ItemDeleted,
    ItemFound,
    ItemPut,
    ItemUpdated,
    LegacyPage,
    Nothing,
    Page,
)
from connector_proxy_aws.calling import allowed, call

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

commands = CommandGroup()

Limit = Annotated[int, {"minimum": 1, "maximum": 1000}]


@functools.cache
def _converters() -> tuple[TypeSerializer, TypeDeserializer]:
    """boto3's converters, made when DynamoDB is first used: importing boto3 costs a worker ~30 MiB
    and ~0.3 s, which a daemon whose calls never reach AWS should not pay."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


SortOperator = Literal["=", "<", "<=", ">", ">=", "begins_with", "between"]


@commands.command("PutItem")
def put_item(
    ctx: Context,
    table: str,
    item: Item,
    condition_expression: str | None = None,
    expression_values: Item | None = None,
) -> ItemPut:
    """Create or replace an item.

    Args:
        table: The table.
        item: The item, as JSON (floats are stored as exact numbers).
        condition_expression: Only if this holds (else ConditionalCheckFailedException).
        expression_values: Values for the condition's :placeholders.
    """
    allowed(ctx, "tables", table)
    extra = _condition(condition_expression, expression_values, None)
    call(ctx, "dynamodb", "put_item", TableName=table, Item=to_dynamo(item), **extra)
    return {"table": table, "stored": True}


@commands.command("GetItem")
def get_item(ctx: Context, table: str, key: Item, consistent_read: bool = False) -> ItemFound:
    """Read one item by its key.

    Args:
        table: The table.
        key: The key attributes, e.g. {"year": 1982, "title": "Blade Runner"}.
        consistent_read: Read the latest write.
    """
    allowed(ctx, "tables", table)
    answer = call(
        ctx, "dynamodb", "get_item", TableName=table, Key=to_dynamo(key), ConsistentRead=consistent_read
    )
    return {"item": from_dynamo(answer["Item"]) if "Item" in answer else None}


@commands.command("UpdateItem")
def update_item(
    ctx: Context,
    table: str,
    key: Item,
    update_expression: str,
    expression_values: Item | None = None,
    expression_names: dict[str, str] | None = None,
    condition_expression: str | None = None,
) -> ItemUpdated:
    """Change attributes of an item; answers the item as it is afterwards.

    Args:
        table: The table.
        key: The key attributes.
        update_expression: e.g. "SET #s = :s ADD visits :one".
        expression_values: Values for :placeholders.
        expression_names: Names for #placeholders.
        condition_expression: Only if this holds.
    """
    allowed(ctx, "tables", table)
    extra = _condition(condition_expression, expression_values, expression_names)
    answer = call(
        ctx,
        "dynamodb",
        "update_item",
        TableName=table,
        Key=to_dynamo(key),
        UpdateExpression=update_expression,
        ReturnValues="ALL_NEW",
        **extra,
    )
    return {"item": from_dynamo(answer.get("Attributes", {}))}


@commands.command("DeleteItem")
def delete_item(
    ctx: Context,
    table: str,
    key: Item,
    condition_expression: str | None = None,
    expression_values: Item | None = None,
) -> ItemDeleted:
    """Delete an item; answers what it held (null if there was none).

    Args:
        table: The table.
        key: The key attributes.
        condition_expression: Only if this holds.
        expression_values: Values for the condition's :placeholders.
    """
    allowed(ctx, "tables", table)
    extra = _condition(condition_expression, expression_values, None)
    answer = call(
        ctx,
        "dynamodb",
        "delete_item",
        TableName=table,
        Key=to_dynamo(key),
        ReturnValues="ALL_OLD",
        **extra,
    )
    return {"deleted": from_dynamo(answer["Attributes"]) if "Attributes" in answer else None}


@commands.command("Query")
def query(
    ctx: Context,
    table: str,
    partition_key: str,
    partition_value: Any,
    sort_key: str | None = None,
    sort_operator: SortOperator = "=",
    sort_value: Any = None,
    sort_value_to: Any = None,
    index_name: str | None = None,
    limit: Limit = 100,
    continuation_token: str | None = None,
    descending: bool = False,
) -> Page:
    """Items with one partition key, optionally narrowed by the sort key, a page at a time.

    Args:
        table: The table.
        partition_key: The partition key's attribute name.
        partition_value: Its value.
        sort_key: The sort key's attribute name, to narrow by it.
        sort_operator: =, <, <=, >, >=, begins_with or between.
        sort_value: The sort key value compared with.
        sort_value_to: The upper bound, for between.
        index_name: A secondary index to query instead of the table.
        limit: Items per page (at most 1000).
        continuation_token: The next_token of the previous page.
        descending: Highest sort key first.
    """
    allowed(ctx, "tables", table)
    condition, names, values = "#pk = :pk", {"#pk": partition_key}, {":pk": partition_value}
    if sort_key is not None:
        names["#sk"] = sort_key
        values[":sk"] = sort_value
        if sort_operator == "between":
            condition += " AND #sk BETWEEN :sk AND :sk2"
            values[":sk2"] = sort_value_to
        elif sort_operator == "begins_with":
            condition += " AND begins_with(#sk, :sk)"
        else:
            condition += f" AND #sk {sort_operator} :sk"
    arguments: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": to_dynamo(values),
        "Limit": limit,
        "ScanIndexForward": not descending,
    }
    if index_name:
        arguments["IndexName"] = index_name
    return _page(call(ctx, "dynamodb", "query", **arguments, **_start(continuation_token)))


@commands.command("Scan")
def scan(
    ctx: Context,
    table: str,
    limit: Limit = 100,
    continuation_token: str | None = None,
    index_name: str | None = None,
) -> Page:
    """Every item of a table, a page at a time.

    Args:
        table: The table.
        limit: Items read per page (at most 1000).
        continuation_token: The next_token of the previous page.
        index_name: A secondary index to scan instead of the table.
    """
    allowed(ctx, "tables", table)
    arguments: dict[str, Any] = {"TableName": table, "Limit": limit}
    if index_name:
        arguments["IndexName"] = index_name
    return _page(call(ctx, "dynamodb", "scan", **arguments, **_start(continuation_token)))


@commands.command("AddDynamoItem")
def add_dynamo_item(ctx: Context, table_name: str, item_data: Item | str) -> Nothing:
    """SpiffWorkflow's put of an item, kept for existing models.

    Args:
        table_name: The table.
        item_data: The item, as JSON or as a JSON string.
    """
    item = json.loads(item_data) if isinstance(item_data, str) else item_data
    allowed(ctx, "tables", table_name)
    call(ctx, "dynamodb", "put_item", TableName=table_name, Item=to_dynamo(item))
    return {}


@commands.command("QueryDynamoTable")
def query_dynamo_table(ctx: Context, table_name: str, partition_key: Any, sort_key: Any = None) -> LegacyPage:
    """SpiffWorkflow's query by key values (attribute names read from the table), for existing models.

    Args:
        table_name: The table.
        partition_key: The partition key's value.
        sort_key: The sort key's value, to match it too.
    """
    allowed(ctx, "tables", table_name)
    schema = call(ctx, "dynamodb", "describe_table", TableName=table_name)["Table"]["KeySchema"]
    names = {entry["KeyType"]: entry["AttributeName"] for entry in schema}
    condition, values = "#pk = :pk", {":pk": partition_key}
    attribute_names = {"#pk": names["HASH"]}
    if sort_key is not None and "RANGE" in names:
        condition += " AND #sk = :sk"
        values[":sk"] = sort_key
        attribute_names["#sk"] = names["RANGE"]
    answer = call(
        ctx,
        "dynamodb",
        "query",
        TableName=table_name,
        KeyConditionExpression=condition,
        ExpressionAttributeNames=attribute_names,
        ExpressionAttributeValues=to_dynamo(values),
    )
    return _legacy(answer)


@commands.command("ScanDynamoTable")
def scan_dynamo_table(ctx: Context, table_name: str) -> LegacyPage:
    """SpiffWorkflow's scan of a whole table (one page), kept for existing models.

    Args:
        table_name: The table.
    """
    allowed(ctx, "tables", table_name)
    return _legacy(call(ctx, "dynamodb", "scan", TableName=table_name))


def to_dynamo(item: Item) -> dict[str, Any]:
    """JSON to DynamoDB's typed form; floats become exact Decimals, as DynamoDB requires."""
    exact = json.loads(json.dumps(item), parse_float=Decimal)
    return {name: _typed(name, value) for name, value in exact.items()}


def _typed(name: str, value: Any) -> Any:
    try:
        return _converters()[0].serialize(value)
    except DecimalException:  # boto3's context traps a number DynamoDB cannot hold exactly
        raise CommandError(
            errors.INVALID_AWS_PARAMETER,
            f"attribute {name!r}: a number over DynamoDB's 38 digits",
        ) from None


def from_dynamo(item: dict[str, Any]) -> Item:
    """DynamoDB's typed form to JSON; a whole number comes back an int, others floats."""
    deserializer = _converters()[1]
    return {name: _plain(deserializer.deserialize(value)) for name, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set, frozenset)):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if hasattr(value, "value") and isinstance(value.value, (bytes, bytearray)):  # boto3's Binary
        return base64.b64encode(bytes(value.value)).decode()
    return value


def _condition(condition: str | None, values: Item | None, names: dict[str, str] | None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if condition:
        extra["ConditionExpression"] = condition
    if values:
        extra["ExpressionAttributeValues"] = to_dynamo(values)
    if names:
        extra["ExpressionAttributeNames"] = names
    return extra


def _page(answer: dict[str, Any]) -> Page:
    last = answer.get("LastEvaluatedKey")
    token = base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None
    return {
        "items": [from_dynamo(item) for item in answer.get("Items", [])],
        "count": answer.get("Count", 0),
        "next_token": token,
    }


def _start(token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return {"ExclusiveStartKey": json.loads(base64.urlsafe_b64decode(token.encode()))}
    except (binascii.Error, ValueError):
        raise CommandError(
            errors.INVALID_CONTENT, "continuation_token is not one this connector gave"
        ) from None


def _legacy(answer: dict[str, Any]) -> LegacyPage:
    return {
        "Items": [from_dynamo(item) for item in answer.get("Items", [])],
        "Count": answer.get("Count", 0),
        "ScannedCount": answer.get("ScannedCount", 0),
    }
