"""The aws connector against moto's server on 127.0.0.1, over HTTP: boto3's real wire path.

The daemon's app runs in-process (Flask's test client) for most tests, and
for real under gunicorn for the end-to-end one; moto is a separate process.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from flask.testing import FlaskClient

from connector_proxy.sdk.testing import completed, free_port, succeeded
from connector_proxy.testing import MessageHost, RunningDaemon, app_client, moto_server

KEYS = {
    "AWS_TEST_KEY_ID": "AKIDTESTKEY",
    "AWS_TEST_SECRET": "s3cret-aws-secret-value",
}


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as url:
        yield url


def aws_config(endpoint: str, allow: str = "", max_object_bytes: int = 1024 * 1024) -> str:
    return f"""
[connectors.aws.config]
region = "us-east-1"
endpoint_url = "{endpoint}"
access_key_id = "env:AWS_TEST_KEY_ID"
secret_access_key = "env:AWS_TEST_SECRET"
max_object_bytes = {max_object_bytes}
{allow}
"""


@pytest.fixture
def aws(moto: str) -> Any:
    requests.post(f"{moto}/moto-api/reset", timeout=5)
    session = boto3.session.Session("AKIDTESTKEY", "s3cret-aws-secret-value", region_name="us-east-1")
    return lambda service: session.client(service, endpoint_url=moto)


@pytest.fixture
def client(tmp_path: Path, moto: str) -> FlaskClient:
    return app_client(tmp_path, aws_config(moto), KEYS)


def do(client: FlaskClient, command: str, **parameters: Any) -> dict[str, Any]:
    return completed(client, f"aws/{command}", **parameters)


def body(client: FlaskClient, command: str, **parameters: Any) -> Any:
    return succeeded(client, f"aws/{command}", **parameters)


def test_s3_round_trips_text_binary_and_data_urls(client: FlaskClient, aws: Any) -> None:
    aws("s3").create_bucket(Bucket="forms")
    binary = bytes(range(256))
    data_url = "data:application/pdf;name=report.pdf;base64," + base64.b64encode(b"%PDF-1.4 hello").decode()

    body(client, "UploadObject", bucket="forms", key="a.txt", content="héllo")
    body(
        client,
        "UploadObject",
        bucket="forms",
        key="b.bin",
        content=base64.b64encode(binary).decode(),
        encoding="base64",
    )
    uploaded = body(
        client, "UploadObject", bucket="forms", key="c.pdf", content=data_url, encoding="data_url"
    )

    assert uploaded["content_type"] == "application/pdf" and uploaded["size"] == 14
    assert body(client, "DownloadObject", bucket="forms", key="a.txt")["content"] == "héllo"
    downloaded = body(client, "DownloadObject", bucket="forms", key="b.bin")  # asked as text: not UTF-8
    assert downloaded["encoding"] == "base64" and base64.b64decode(downloaded["content"]) == binary
    assert aws("s3").get_object(Bucket="forms", Key="c.pdf")["Body"].read() == b"%PDF-1.4 hello"
    assert body(client, "UploadFileData", file_data=data_url, bucket="forms", object_name="d.pdf") == {
        "result": "success"
    }


def test_s3_lists_by_pages_deletes_and_presigns(client: FlaskClient, aws: Any) -> None:
    aws("s3").create_bucket(Bucket="pages")
    for n in range(5):
        aws("s3").put_object(Bucket="pages", Key=f"in/{n}", Body=b"x")
    aws("s3").put_object(Bucket="pages", Key="out/9", Body=b"x")

    first = body(client, "ListObjects", bucket="pages", prefix="in/", limit=3)
    second = body(
        client, "ListObjects", bucket="pages", prefix="in/", limit=3, continuation_token=first["next_token"]
    )
    body(client, "DeleteObject", bucket="pages", key="in/0")
    url = body(client, "PresignUrl", bucket="pages", key="in/1", expires_in=60)["url"]

    assert [o["key"] for o in first["objects"] + second["objects"]] == [f"in/{n}" for n in range(5)]
    assert second["next_token"] is None
    assert "in/0" not in [o["Key"] for o in aws("s3").list_objects_v2(Bucket="pages")["Contents"]]
    assert requests.get(url, timeout=5).content == b"x"


def test_aws_errors_carry_aws_code_and_status(client: FlaskClient, aws: Any) -> None:
    missing = do(client, "DownloadObject", bucket="nowhere", key="k")
    aws("s3").create_bucket(Bucket="bbb")
    no_key = do(client, "DownloadObject", bucket="bbb", key="missing")

    assert (missing["error"]["error_code"], missing["command_response"]["http_status"]) == (
        "NoSuchBucket",
        404,
    )
    assert (no_key["error"]["error_code"], no_key["command_response"]["http_status"]) == ("NoSuchKey", 404)
    assert "nowhere" in missing["error"]["message"]


def test_too_large_and_bad_content_are_refused(tmp_path: Path, moto: str, aws: Any) -> None:
    client = app_client(tmp_path, aws_config(moto, max_object_bytes=10), KEYS)
    aws("s3").create_bucket(Bucket="small")
    aws("s3").put_object(Bucket="small", Key="big", Body=b"x" * 11)

    assert (
        do(client, "UploadObject", bucket="small", key="k", content="x" * 11)["error"]["error_code"]
        == "ObjectTooLarge"
    )
    assert do(client, "DownloadObject", bucket="small", key="big")["error"]["error_code"] == "ObjectTooLarge"
    bad = do(client, "UploadObject", bucket="small", key="k", content="%%%", encoding="base64")
    assert bad["error"]["error_code"] == "InvalidContent"


def test_allowlists_refuse_everything_else(tmp_path: Path, moto: str, aws: Any) -> None:
    allow = '[connectors.aws.config.allow]\nbuckets = ["public"]\ntables = ["Movies"]\nfunctions = ["ok"]'
    client = app_client(tmp_path, aws_config(moto, allow), KEYS)
    aws("s3").create_bucket(Bucket="private")

    refused = do(client, "UploadObject", bucket="private", key="k", content="x")
    other = do(client, "Scan", table="Secrets")
    function = do(
        client, "InvokeFunction", function_name="arn:aws:lambda:us-east-1:123456789012:function:evil"
    )

    assert refused["error"]["error_code"] == "AwsResourceNotAllowed"
    assert refused["command_response"]["http_status"] == 403
    assert other["error"]["error_code"] == function["error"]["error_code"] == "AwsResourceNotAllowed"
    assert aws("s3").list_objects_v2(Bucket="private").get("KeyCount") == 0  # nothing ran


def make_movies(aws: Any) -> None:
    aws("dynamodb").create_table(
        TableName="Movies",
        KeySchema=[
            {"AttributeName": "year", "KeyType": "HASH"},
            {"AttributeName": "title", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "year", "AttributeType": "N"},
            {"AttributeName": "title", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def test_dynamodb_items_and_numbers_round_trip(client: FlaskClient, aws: Any) -> None:
    make_movies(aws)
    movie = {
        "year": 1982,
        "title": "Blade Runner",
        "rating": 8.1,
        "tags": ["noir", "sci-fi"],
        "meta": {"min": 117},
    }

    body(client, "PutItem", table="Movies", item=movie)
    got = body(client, "GetItem", table="Movies", key={"year": 1982, "title": "Blade Runner"})["item"]
    updated = body(
        client,
        "UpdateItem",
        table="Movies",
        key={"year": 1982, "title": "Blade Runner"},
        update_expression="SET rating = :r ADD #v :one",
        expression_values={":r": 9.5, ":one": 1},
        expression_names={"#v": "views"},
    )
    refused = do(
        client,
        "PutItem",
        table="Movies",
        item=movie,
        condition_expression="attribute_not_exists(title)",
    )
    deleted = body(client, "DeleteItem", table="Movies", key={"year": 1982, "title": "Blade Runner"})

    assert got == movie
    assert (updated["item"]["rating"], updated["item"]["views"]) == (9.5, 1)
    assert refused["error"]["error_code"] == "ConditionalCheckFailedException"
    assert refused["command_response"]["http_status"] == 400
    assert deleted["deleted"]["title"] == "Blade Runner"
    assert body(client, "GetItem", table="Movies", key={"year": 1982, "title": "Blade Runner"}) == {
        "item": None
    }


def test_dynamodb_query_and_scan_page_with_tokens(client: FlaskClient, aws: Any) -> None:
    make_movies(aws)
    for n in range(7):
        body(client, "PutItem", table="Movies", item={"year": 2000, "title": f"Film {n}"})
    body(client, "PutItem", table="Movies", item={"year": 1999, "title": "Other"})

    pages, token = [], None
    while True:
        page = body(
            client,
            "Query",
            table="Movies",
            partition_key="year",
            partition_value=2000,
            sort_key="title",
            sort_operator="begins_with",
            sort_value="Film",
            limit=3,
            continuation_token=token,
        )
        pages.append([item["title"] for item in page["items"]])
        token = page["next_token"]
        if token is None:
            break
    scanned = body(client, "Scan", table="Movies", limit=100)
    bad_token = do(client, "Scan", table="Movies", continuation_token="not-ours")

    assert [title for page in pages for title in page] == [f"Film {n}" for n in range(7)]
    assert len(pages) >= 3
    assert scanned["count"] == 8
    assert bad_token["error"]["error_code"] == "InvalidContent"


def test_spiffworkflow_command_ids_keep_working(client: FlaskClient, aws: Any) -> None:
    make_movies(aws)

    added = body(
        client, "AddDynamoItem", table_name="Movies", item_data={"year": 1982, "title": "Blade Runner"}
    )
    body(client, "AddDynamoItem", table_name="Movies", item_data='{"year": 1964, "title": "Dr. Strangelove"}')
    queried = body(client, "QueryDynamoTable", table_name="Movies", partition_key=1982)
    scanned = body(client, "ScanDynamoTable", table_name="Movies")

    assert added == {}
    assert queried == {"Items": [{"year": 1982, "title": "Blade Runner"}], "Count": 1, "ScannedCount": 1}
    assert scanned["Count"] == 2


def test_sqs_sns_and_lambda(client: FlaskClient, aws: Any) -> None:
    queue = aws("sqs").create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    topic = aws("sns").create_topic(Name="alerts")["TopicArn"]
    role = aws("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    aws("lambda").create_function(
        FunctionName="echo", Runtime="python3.11", Role=role, Handler="h.h", Code={"ZipFile": b"PK"}
    )

    sent = body(
        client,
        "SendMessage",
        queue="orders.fifo",
        message={"order": 7},
        attributes={"kind": "new", "n": 3},
        message_group_id="g",
        deduplication_id="d-1",
    )
    published = body(client, "Publish", topic_arn=topic, message="disk full", subject="alert")
    invoked = do(client, "InvokeFunction", function_name="echo", payload={"ping": 1})
    queued = do(client, "InvokeFunction", function_name="echo", payload={}, invocation_type="Event")

    received = aws("sqs").receive_message(QueueUrl=queue, MessageAttributeNames=["All"])["Messages"][0]
    assert sent["message_id"] == received["MessageId"] and received["Body"] == '{"order": 7}'
    assert received["MessageAttributes"]["n"] == {"StringValue": "3", "DataType": "Number"}
    assert published["message_id"]
    assert invoked["command_response"]["body"] == {"ping": 1}  # moto's Lambda without Docker echoes its event
    assert queued["command_response"] == {
        "body": {"queued": True},
        "mimetype": "application/json",
        "http_status": 202,
    }


def test_missing_credentials_have_their_own_code(
    tmp_path: Path, moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    config = (
        aws_config(moto)
        .replace('access_key_id = "env:AWS_TEST_KEY_ID"\n', "")
        .replace('secret_access_key = "env:AWS_TEST_SECRET"\n', "")
    )

    answer = do(app_client(tmp_path, config, KEYS), "ListObjects", bucket="any")

    assert answer["error"]["error_code"] == "AwsCredentialsMissing"


def test_through_the_daemon_with_no_secret_in_its_log(tmp_path: Path, moto: str, aws: Any) -> None:
    aws("s3").create_bucket(Bucket="e2e")
    config = tmp_path / "plugins.toml"
    config.write_text(aws_config(moto))
    log = tmp_path / "daemon.log"
    daemon = RunningDaemon(config, KEYS, output=log.open("wb"))
    try:
        daemon.wait_ready()
        catalog = [entry["id"] for entry in requests.get(f"{daemon.url}/v1/commands", timeout=5).json()]
        stored = requests.post(
            f"{daemon.url}/v1/do/aws/UploadObject",
            timeout=30,
            json={"bucket": "e2e", "key": "k", "content": "hi", "spiff__task_data": {}},
        ).json()
        shown = {c["name"]: c for c in requests.get(f"{daemon.url}/v1/connectors", timeout=5).json()}["aws"]
        suggested = requests.get(f"{daemon.url}/v1/typeahead/aws/buckets?prefix=e2&limit=5", timeout=5)
        checked = requests.post(f"{daemon.url}/v1/connectors/aws/check", timeout=30).json()
    finally:
        daemon.stop()

    assert checked["state"] == "ok"  # moto's STS answers GetCallerIdentity for any key
    assert checked["message"].startswith("signed in as arn:aws:") and "(account " in checked["message"]

    assert suggested.status_code == 404  # no category is served without the key until it is opened
    assert suggested.json()["error"]["error_code"] == "TypeaheadNotFound"

    assert {"aws/UploadObject", "aws/AddDynamoItem", "aws/InvokeFunction"} <= set(catalog)
    assert stored["error"] is None and stored["command_response"]["body"]["size"] == 2
    assert shown["config"]["secret_access_key"] != "s3cret-aws-secret-value"
    assert "s3cret-aws-secret-value" not in log.read_text()


def test_typeahead_suggests_buckets_and_tables_within_the_allowlists(
    tmp_path: Path, moto: str, aws: Any
) -> None:
    for bucket in ("invoices-2025", "invoices-2026", "images"):
        aws("s3").create_bucket(Bucket=bucket)
    for table in ("orders", "orders-archive", "people"):
        aws("dynamodb").create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    opened = '\n[connectors.aws.typeahead]\nbuckets = "aws.buckets"\ntables = "aws.tables"\n'
    open_client = app_client(tmp_path, aws_config(moto) + opened, KEYS)
    allow = 'allow = { buckets = ["invoices-2026"] }'
    guarded = app_client(tmp_path, aws_config(moto, allow=allow) + opened, KEYS)

    assert open_client.get("/v1/typeahead/aws/buckets?prefix=inv").get_json() == [
        {"name": "invoices-2025"},
        {"name": "invoices-2026"},
    ]
    assert open_client.get("/v1/typeahead/aws/buckets?prefix=inv&limit=1").get_json() == [
        {"name": "invoices-2025"}
    ]
    assert guarded.get("/v1/typeahead/aws/buckets?prefix=").get_json() == [{"name": "invoices-2026"}]
    assert open_client.get("/v1/typeahead/aws/tables?prefix=orders").get_json() == [
        {"name": "orders"},
        {"name": "orders-archive"},
    ]


def test_new_objects_and_queue_messages_become_messages_once_each(
    tmp_path: Path, moto: str, aws: Any
) -> None:
    """The two pollers under the real daemon: S3 objects created under a prefix, SQS messages
    received and deleted once stored; each reaches the host once."""
    aws("s3").create_bucket(Bucket="scans")
    queue = aws("sqs").create_queue(QueueName="orders")["QueueUrl"]
    aws("s3").put_object(Bucket="scans", Key="inbox/a.pdf", Body=b"%PDF a")
    aws("s3").put_object(Bucket="scans", Key="elsewhere/x.pdf", Body=b"%PDF x")  # outside the prefix
    for number in (1, 2, 3):
        aws("sqs").send_message(QueueUrl=queue, MessageBody=f'{{"order": {number}}}')
    subscriptions = """
[events]
host_url = "HOST"
[subscriptions.scans]
trigger = "aws/object_created"
message = "scan_arrived"
interval = 0.3
settings = { bucket = "scans", prefix = "inbox/" }
payload = { key = "/key", size = "/size" }
[subscriptions.orders]
trigger = "aws/message_received"
message = "order_placed"
interval = 0.3
settings = { queue = "orders", wait_seconds = 0 }
payload = { order = "/body/order" }
"""
    with MessageHost() as host:
        config = tmp_path / "plugins.toml"
        config.write_text(aws_config(moto) + subscriptions.replace("HOST", host.url))
        log = tmp_path / "daemon.log"
        with RunningDaemon(config, KEYS, output=log.open("wb")):
            host.wait_for(4)
            aws("s3").put_object(Bucket="scans", Key="inbox/b.pdf", Body=b"%PDF bb")  # while it runs
            host.wait_for(5)
            time.sleep(1.5)  # a duration, not an event: a few more polls' window: nothing reported twice
            left = aws("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]

    by_message = sorted((m.name, sorted(m.payload.items())) for m in host.messages)
    assert by_message == [
        ("order_placed", [("order", 1)]),
        ("order_placed", [("order", 2)]),
        ("order_placed", [("order", 3)]),
        ("scan_arrived", [("key", "inbox/a.pdf"), ("size", 6)]),
        ("scan_arrived", [("key", "inbox/b.pdf"), ("size", 7)]),
    ]
    assert host.attempts == 5
    assert left["ApproximateNumberOfMessages"] == "0" and left["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert "s3cret-aws-secret-value" not in log.read_text()


def test_the_live_check_names_what_failed_never_a_key(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    client = app_client(
        tmp_path,
        aws_config(nowhere).replace(
            "[connectors.aws.config]", "[connectors.aws.config]\nconnect_timeout = 0.5"
        ),
        KEYS,
    )

    checked = client.post("/v1/connectors/aws/check").get_json()

    assert checked["state"] == "failed"
    assert checked["message"] == "sts.get_caller_identity: EndpointConnectionError"
    assert "s3cret-aws-secret-value" not in str(checked)
