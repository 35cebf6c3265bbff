"""What each aws command answers (its ``command_response.body``): the catalog's output schemas.

Written as TypedDicts, so the SDK derives each schema from the command's return hint and mypy holds
the code to it. An item of DynamoDB is a JSON object as stored (numbers as numbers, sets as lists).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Item = dict[str, Any]


# a function answers what it likes: its payload as JSON (else its text), or nothing yet when queued
INVOKED: dict[str, Any] = {
    "description": "The function's payload parsed as JSON, else {raw_response: text};"
    " {queued: true} for an Event (asynchronous) invocation.",
}


class Sent(TypedDict):
    message_id: str
    sequence_number: str | None  # FIFO queues only


class Published(TypedDict):
    message_id: str


class Stored(TypedDict):
    """UploadObject's answer."""

    bucket: str
    key: str
    size: int
    content_type: str
    etag: str
    version_id: str | None  # versioned buckets only


class Downloaded(TypedDict):
    bucket: str
    key: str
    content: str
    encoding: Literal["text", "base64"]
    content_type: str | None
    size: int
    etag: str


class ListedObject(TypedDict):
    key: str
    size: int
    last_modified: str  # ISO 8601
    etag: str


class ObjectList(TypedDict):
    objects: list[ListedObject]
    next_token: str | None  # give it back as continuation_token for the next page


class ObjectDeleted(TypedDict):
    bucket: str
    key: str
    deleted: bool


class Presigned(TypedDict):
    url: str
    method: str
    expires_in: int


class UploadedFileData(TypedDict):
    """SpiffWorkflow's UploadFileData answer, kept for existing models."""

    result: Literal["success"]


class ItemPut(TypedDict):
    table: str
    stored: bool


class ItemFound(TypedDict):
    item: Item | None  # None: no item has that key


class ItemUpdated(TypedDict):
    item: Item  # the attributes the update's return_values asked for


class ItemDeleted(TypedDict):
    deleted: Item | None  # the item as it was, when return_values asked for it


class Page(TypedDict):
    items: list[Item]
    count: int
    next_token: str | None  # give it back as continuation_token for the next page


class LegacyPage(TypedDict):
    """SpiffWorkflow's QueryDynamoTable and ScanDynamoTable answer, kept for existing models."""

    Items: list[Item]
    Count: int
    ScannedCount: int


class Nothing(TypedDict):
    """SpiffWorkflow's AddDynamoItem answers an empty object."""
