"""Typeahead categories: the buckets and tables a form field may name, as the user types."""

from __future__ import annotations

from typing import Any

from connector_proxy.sdk import CommandGroup, Context
from connector_proxy_aws.calling import call, resources

commands = CommandGroup()


@commands.typeahead("buckets")
def buckets(ctx: Context, prefix: str, limit: int) -> list[dict[str, Any]]:
    """S3 buckets whose name starts with the prefix (only those on allow.buckets, if set)."""
    names = [entry["Name"] for entry in call(ctx, "s3", "list_buckets").get("Buckets", [])]
    return [{"name": name} for name in _matching(ctx, "buckets", names, prefix)][:limit]


@commands.typeahead("tables")
def tables(ctx: Context, prefix: str, limit: int) -> list[dict[str, Any]]:
    """DynamoDB tables whose name starts with the prefix (only those on allow.tables, if set)."""
    found: list[str] = []
    start: dict[str, Any] = {}
    while len(found) < limit:
        page = call(ctx, "dynamodb", "list_tables", Limit=100, **start)
        found += _matching(ctx, "tables", page.get("TableNames", []), prefix)
        if "LastEvaluatedTableName" not in page:
            break
        start = {"ExclusiveStartTableName": page["LastEvaluatedTableName"]}
    return [{"name": name} for name in found[:limit]]


def _matching(ctx: Context, kind: str, names: list[str], prefix: str) -> list[str]:
    allowlist = resources(ctx).allow.get(kind)
    return [n for n in names if n.startswith(prefix) and (allowlist is None or n in allowlist)]
