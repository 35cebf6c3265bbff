"""S3: upload, download, list, delete, presign; and SpiffWorkflow's UploadFileData."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from botocore.exceptions import ParamValidationError

from connector_proxy.sdk import CommandError, CommandGroup, Context
from connector_proxy_aws import errors
from connector_proxy_aws.answers import (
    Downloaded,
    ObjectDeleted,
    ObjectList,
    Presigned,
    Stored,
    UploadedFileData,
)
from connector_proxy_aws.calling import allowed, call, invalid_parameter, resources
from connector_proxy_aws.content import Encoding, from_bytes, to_bytes

commands = CommandGroup()

Key = Annotated[str, {"minLength": 1, "maxLength": 1024}]


@commands.command("UploadObject")
def upload_object(
    ctx: Context,
    bucket: str,
    key: Key,
    content: str,
    encoding: Encoding = "text",
    content_type: str | None = None,
) -> Stored:
    """Store content as an object.

    Args:
        bucket: The bucket.
        key: The object's key.
        content: The content: text, base64, or a data: URL as browsers send file fields.
        encoding: How content is given: text, base64 or data_url.
        content_type: The object's Content-Type (a data: URL's own type otherwise, else by encoding).
    """
    raw, carried = to_bytes(content, encoding)
    return _put(ctx, bucket, key, raw, content_type or carried or _default_type(encoding))


@commands.command("DownloadObject")
def download_object(
    ctx: Context, bucket: str, key: Key, output: Literal["text", "base64"] = "text"
) -> Downloaded:
    """Read an object (up to max_object_bytes).

    Args:
        bucket: The bucket.
        key: The object's key.
        output: text (base64 anyway if the object is not UTF-8) or base64.
    """
    allowed(ctx, "buckets", bucket)
    limit = resources(ctx).max_object_bytes
    answer = call(ctx, "s3", "get_object", Bucket=bucket, Key=key)
    body = answer["Body"]
    try:
        if int(answer.get("ContentLength") or 0) > limit:
            raise CommandError(errors.OBJECT_TOO_LARGE, f"s3://{bucket}/{key} is over {limit} bytes")
        raw = body.read(limit + 1)
    finally:
        body.close()
    if len(raw) > limit:
        raise CommandError(errors.OBJECT_TOO_LARGE, f"s3://{bucket}/{key} is over {limit} bytes")
    content, encoding = from_bytes(raw, output)
    return {
        "bucket": bucket,
        "key": key,
        "content": content,
        "encoding": encoding,
        "content_type": answer.get("ContentType"),
        "size": len(raw),
        "etag": str(answer.get("ETag", "")).strip('"'),
    }


@commands.command("ListObjects")
def list_objects(
    ctx: Context,
    bucket: str,
    prefix: str = "",
    limit: Annotated[int, {"minimum": 1, "maximum": 1000}] = 100,
    continuation_token: str | None = None,
) -> ObjectList:
    """List objects, a page at a time.

    Args:
        bucket: The bucket.
        prefix: Only keys starting with this.
        limit: Objects per page (at most 1000).
        continuation_token: The next_token of the previous page.
    """
    allowed(ctx, "buckets", bucket)
    arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": limit}
    if continuation_token:
        arguments["ContinuationToken"] = continuation_token
    answer = call(ctx, "s3", "list_objects_v2", **arguments)
    return {
        "objects": [
            {
                "key": item["Key"],
                "size": item["Size"],
                "last_modified": item["LastModified"].isoformat(),
                "etag": str(item.get("ETag", "")).strip('"'),
            }
            for item in answer.get("Contents", [])
        ],
        "next_token": answer.get("NextContinuationToken"),
    }


@commands.command("DeleteObject")
def delete_object(ctx: Context, bucket: str, key: Key) -> ObjectDeleted:
    """Delete an object (deleting one that does not exist succeeds, as in S3).

    Args:
        bucket: The bucket.
        key: The object's key.
    """
    allowed(ctx, "buckets", bucket)
    call(ctx, "s3", "delete_object", Bucket=bucket, Key=key)
    return {"bucket": bucket, "key": key, "deleted": True}


@commands.command("PresignUrl")
def presign_url(
    ctx: Context,
    bucket: str,
    key: Key,
    method: Literal["get", "put"] = "get",
    expires_in: Annotated[int, {"minimum": 1, "maximum": 604800}] = 3600,
    content_type: str | None = None,
) -> Presigned:
    """A URL that lets its holder get or put the object without credentials, for a while.

    Args:
        bucket: The bucket.
        key: The object's key.
        method: get (download) or put (upload).
        expires_in: Seconds the URL works (at most a week).
        content_type: For put: the Content-Type the uploader must send.
    """
    allowed(ctx, "buckets", bucket)
    parameters: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if method == "put" and content_type:
        parameters["ContentType"] = content_type
    client = resources(ctx).client("s3")
    try:
        url = client.generate_presigned_url(f"{method}_object", Params=parameters, ExpiresIn=expires_in)
    except ParamValidationError as error:
        raise invalid_parameter(error, f"s3.{method}_object") from None
    return {"url": url, "method": method.upper(), "expires_in": expires_in}


@commands.command("UploadFileData")
def upload_file_data(ctx: Context, file_data: str, bucket: str, object_name: str) -> UploadedFileData:
    """SpiffWorkflow's upload of a file field (a data: URL), kept for existing models.

    Args:
        file_data: The data: URL a file field holds.
        bucket: The bucket.
        object_name: The object's key.
    """
    raw, carried = to_bytes(file_data, "data_url")
    _put(ctx, bucket, object_name, raw, carried or "application/octet-stream")
    return {"result": "success"}


def _put(ctx: Context, bucket: str, key: str, raw: bytes, content_type: str) -> Stored:
    allowed(ctx, "buckets", bucket)
    limit = resources(ctx).max_object_bytes
    if len(raw) > limit:
        raise CommandError(errors.OBJECT_TOO_LARGE, f"the content is {len(raw)} bytes, over {limit}")
    answer = call(ctx, "s3", "put_object", Bucket=bucket, Key=key, Body=raw, ContentType=content_type)
    return {
        "bucket": bucket,
        "key": key,
        "size": len(raw),
        "content_type": content_type,
        "etag": str(answer.get("ETag", "")).strip('"'),
        "version_id": answer.get("VersionId"),
    }


def _default_type(encoding: str) -> str:
    return "text/plain; charset=utf-8" if encoding == "text" else "application/octet-stream"
