"""Typeahead categories: the buckets and tables a form field may name, as the user types."""

from __future__ import annotations

from typing import Any

from connector_proxy.sdk import CommandGroup, Context
from connector_proxy_aws.calling import call, resources

commands = CommandGroup()
MAX_PAGES = 3  # ListTables pages of 100 names read for one suggestion request


@commands.typeahead("buckets")
def buckets(ctx: Context, prefix: str, limit: int) -> list[dict[str, Any]]:
    """S3 buckets whose name starts with the prefix (only those on allow.buckets, if set)."""
    names = [entry["Name"] for entry in call(ctx, "s3", "list_buckets").get("Buckets", [])]
    return [{"name": name} for name in _matching(ctx, "buckets", names, prefix)][:limit]


@commands.typeahead("tables")
def tables(ctx: Context, prefix: str, limit: int) -> list[dict[str, Any]]:
    """DynamoDB tables whose name starts with the prefix (only those on allow.tables, if set), from at
    most three ListTables pages (300 names) per request."""
    found: list[str] = []
    start: dict[str, Any] = {}
    for _ in range(MAX_PAGES):  # a keystroke costs a few calls at most, however many tables there are
        page = call(ctx, "dynamodb", "list_tables", Limit=100, **start)
        names = page.get("TableNames", [])
        found += _matching(ctx, "tables", names, prefix)
        past_prefix = bool(names) and names[-1] > prefix and not names[-1].startswith(prefix)
        if len(found) >= limit or past_prefix or "LastEvaluatedTableName" not in page:
            break  # names come in order: past the prefix, no later page matches
        start = {"ExclusiveStartTableName": page["LastEvaluatedTableName"]}
    return [{"name": name} for name in found[:limit]]


def _matching(ctx: Context, kind: str, names: list[str], prefix: str) -> list[str]:
    allowlist = resources(ctx).allow.get(kind)
    return [n for n in names if n.startswith(prefix) and (allowlist is None or n in allowlist)]
