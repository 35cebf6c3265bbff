"""The SNS trigger through the daemon under gunicorn: it subscribes its URL to a topic (moto's server
on 127.0.0.1) and unsubscribes it when the subscription goes; messages are verified by signature.

moto confirms HTTP subscriptions itself and cannot sign, so the test plays SNS's sending side: it
makes a CA and a signing certificate, serves the certificate (and a SubscribeURL that counts its
calls) from a server of its own on 127.0.0.1, and posts messages it signed as SNS does.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from connector_proxy_aws.notifications import notification_received
from connector_proxy_aws.settings import setup
from connector_proxy_aws.signed import canonical, default_origins
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from connector_proxy.sdk import CommandError, InboundRequest
from connector_proxy.sdk.testing import fake_context, free_port, wait_until
from connector_proxy.testing import MessageHost, RunningDaemon, moto_server, processes

KEYS = {"AWS_TEST_KEY_ID": "AKIDTESTKEY", "AWS_TEST_SECRET": "s3cret-aws-secret-value"}
API_KEY = "proxy-api-key-0123456789"
HEADERS = {"Spiff-Connector-Proxy-Api-Key": API_KEY}


def _certificate(subject: str, key: rsa.RSAPrivateKey, issuer: str, signer: rsa.RSAPrivateKey) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    made = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(signer, hashes.SHA256())
    )
    return made.public_bytes(serialization.Encoding.PEM)


def sns_time(at: float) -> str:
    """A time as SNS writes its Timestamp: ``2026-12-07T12:00:00.000Z``."""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class FakeSns:
    """SNS's sending side: a test CA's signing certificate at ``/cert.pem`` (``/moved`` redirects
    there), ``/confirm`` standing for a SubscribeURL; every path asked is kept in ``asked``."""

    def __init__(self) -> None:
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = _certificate("sns.test", self.key, "test CA", ca_key)
        self.asked: list[str] = []
        self.stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.asked.append(self.path)
                if self.path == "/unavailable.pem":  # the certificate's host has a bad moment
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/drip.pem":  # a certificate's host that answers a byte at a time, slowly
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(fake.pem)))
                    self.end_headers()
                    for index in range(len(fake.pem)):
                        if fake.stop.wait(0.5):  # a pace, not an event: ends when the test does
                            return
                        self.wfile.write(fake.pem[index : index + 1])
                        self.wfile.flush()
                    return
                if self.path == "/huge.pem":  # a "certificate" far over what any certificate is
                    body = fake.pem * 64
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", "/cert.pem")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = fake.pem if self.path == "/cert.pem" else b"<ConfirmSubscriptionResponse/>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def signed(self, message: dict[str, Any], version: str = "1", cert: str | None = None) -> dict[str, Any]:
        message = {
            "MessageId": str(uuid.uuid4()),
            "Timestamp": sns_time(time.time()),
            **message,
            "SignatureVersion": version,
            "SigningCertURL": cert or f"{self.url}/cert.pem",
        }
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # SNS's version 1 is SHA-1
        signature = self.key.sign(canonical(message), padding.PKCS1v15(), algorithm)
        return {**message, "Signature": base64.b64encode(signature).decode()}

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeSns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def sns() -> Iterator[FakeSns]:
    fake = FakeSns()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as url:
        yield url


def config(moto: str, sns: FakeSns, host: str, port: int, store: Path, topic: str | None) -> str:
    text = f"""
[server]
workers = 2
[auth]
api_keys = ["{API_KEY}"]
[jobs]
sqlite_path = "{store}"
[connectors.aws.config]
region = "us-east-1"
endpoint_url = "{moto}"
access_key_id = "env:AWS_TEST_KEY_ID"
secret_access_key = "env:AWS_TEST_SECRET"
sns_origins = ["{sns.url}"]
[connectors.aws.config.destinations]
allow_loopback = true
[events]
host_url = "{host}"
public_url = "http://127.0.0.1:{port}"
"""
    if topic:
        text += f"""
[subscriptions.orders]
trigger = "aws/notification_received"
message = "order_placed"
settings = {{ topic = "{topic}" }}
payload = {{ order = "/message/order", subject = "/subject" }}
"""
    return text


def registration(url: str) -> dict[str, Any]:
    listed = requests.get(f"{url}/v1/subscriptions", headers=HEADERS, timeout=5).json()["subscriptions"]
    found = [s for s in listed if s["name"] == "orders"]
    return (found[0]["registration"] or {}) if found else {}


def test_sns_subscribes_its_endpoint_confirms_only_what_sns_signed_and_unsubscribes(
    tmp_path: Path, moto: str, sns: FakeSns, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests.post(f"{moto}/moto-api/reset", timeout=5)
    aws = boto3.session.Session("AKIDTESTKEY", "s3cret-aws-secret-value", region_name="us-east-1")
    client = aws.client("sns", endpoint_url=moto)
    topic = client.create_topic(Name="orders")["TopicArn"]
    port = free_port()
    monkeypatch.setattr(processes, "free_port", lambda: port)  # public_url must name the daemon's port
    path, log = tmp_path / "plugins.toml", tmp_path / "daemon.log"
    with MessageHost() as host:
        path.write_text(config(moto, sns, host.url, port, tmp_path / "jobs.sqlite3", topic))
        with RunningDaemon(path, KEYS, output=log.open("wb")) as daemon:
            endpoint = f"{daemon.url}/v1/inbound/aws/notification_received/orders"
            wait_until(lambda: registration(daemon.url).get("state") == "registered")
            [subscribed] = client.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
            assert (subscribed["Endpoint"], subscribed["Protocol"]) == (endpoint, "http")

            def post(message: dict[str, Any]) -> tuple[int, str | None]:
                answer = requests.post(endpoint, data=json.dumps(message), timeout=10)
                body = answer.json()
                return answer.status_code, (body.get("error_code") or body.get("error", {}).get("error_code"))

            def confirmation(subscribe_url: str | None = None) -> dict[str, Any]:
                return {
                    "Type": "SubscriptionConfirmation",
                    "TopicArn": topic,
                    "Token": "token-1",
                    "Message": "You have chosen to subscribe to the topic.",
                    "SubscribeURL": subscribe_url or f"{sns.url}/confirm?Token=token-1",
                }

            tampered = sns.signed(confirmation()) | {"Message": "changed after signing"}
            assert post(tampered) == (401, "InvalidSignature")
            redirected = sns.signed(confirmation(f"{sns.url}/confirm?via=moved"), cert=f"{sns.url}/moved")
            assert post(redirected) == (401, "UntrustedSnsUrl")  # the certificate's URL redirects
            unavailable = sns.signed(confirmation(), cert=f"{sns.url}/unavailable.pem")
            assert post(unavailable) == (502, "SnsCertificateUnavailable")  # SNS delivers it again
            with FakeSns() as elsewhere:  # a certificate from a host that is not allowed
                foreign = elsewhere.signed(confirmation(f"{sns.url}/confirm?via=foreign"))
                assert post(foreign) == (401, "UntrustedSnsUrl") and elsewhere.asked == []
            unsigned = sns.signed(confirmation()) | {"SubscribeURL": f"{sns.url}/confirm?via=unsigned"}
            assert post(unsigned) == (401, "InvalidSignature")
            assert post(sns.signed(confirmation("http://localhost:1/confirm"))) == (401, "UntrustedSnsUrl")
            other_topic = sns.signed(confirmation() | {"TopicArn": topic + "-other"})
            assert post(other_topic) == (401, "InvalidSignature")
            assert not [p for p in sns.asked if p.startswith("/confirm")]  # nothing unverified followed

            assert post(sns.signed(confirmation())) == (202, None)
            assert [p for p in sns.asked if p.startswith("/confirm")] == ["/confirm?Token=token-1"]
            assert sns.asked.count("/moved") == 1 and "/cert.pem" in sns.asked

            notification = sns.signed(
                {
                    "Type": "Notification",
                    "TopicArn": topic,
                    "Subject": "new order",
                    "Message": json.dumps({"order": 42}),
                },
                version="2",
            )
            assert post(notification) == (202, None)
            assert post(notification) == (202, None)  # SNS retried it: the same MessageId, one event
            [message] = host.wait_for(1)
            assert message.name == "order_placed" and message.payload == {"order": 42, "subject": "new order"}
            forged = notification | {"Message": json.dumps({"order": 666}), "MessageId": "m-forged"}
            assert post(forged) == (401, "InvalidSignature")

            path.write_text(config(moto, sns, host.url, port, tmp_path / "jobs.sqlite3", None))
            os.kill(daemon.process.pid, signal.SIGHUP)  # removed: unsubscribed from the topic
            wait_until(lambda: registration(daemon.url).get("state") == "removed")
            assert client.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert len(host.messages) == 1
    assert "s3cret-aws-secret-value" not in log.read_text()


def test_the_default_sns_origin_is_the_topics_region() -> None:
    assert default_origins("arn:aws:sns:eu-west-1:123456789012:orders") == (
        "https://sns.eu-west-1.amazonaws.com",
    )
    assert default_origins("arn:aws-cn:sns:cn-north-1:123456789012:t") == (
        "https://sns.cn-north-1.amazonaws.com.cn",
    )
    assert default_origins("not-an-arn") == ()


def test_sns_refuses_reshaped_forged_and_malformed_messages_in_the_documented_envelope(
    tmp_path: Path, moto: str, sns: FakeSns, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attacker who holds one genuine notification, or none: each refusal is the host's envelope
    with a documented error_code, nothing is stored twice, and no certificate fetch outlives its deadline."""
    requests.post(f"{moto}/moto-api/reset", timeout=5)
    aws = boto3.session.Session("AKIDTESTKEY", "s3cret-aws-secret-value", region_name="us-east-1")
    topic = aws.client("sns", endpoint_url=moto).create_topic(Name="orders")["TopicArn"]
    port = free_port()
    monkeypatch.setattr(processes, "free_port", lambda: port)
    path, log = tmp_path / "plugins.toml", tmp_path / "daemon.log"
    with MessageHost() as host:
        path.write_text(config(moto, sns, host.url, port, tmp_path / "jobs.sqlite3", topic))
        with RunningDaemon(path, KEYS, output=log.open("wb")) as daemon:
            endpoint = f"{daemon.url}/v1/inbound/aws/notification_received/orders"
            wait_until(lambda: registration(daemon.url).get("state") == "registered")

            def post(
                body: bytes | dict[str, Any], content_type: str = "text/plain; charset=UTF-8"
            ) -> tuple[int, Any]:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                answer = requests.post(
                    endpoint, data=data, headers={"Content-Type": content_type}, timeout=30
                )
                document = answer.json()  # never a traceback page: always JSON
                assert "Traceback" not in answer.text and "s3cret" not in answer.text
                error = document.get("error") if isinstance(document.get("error"), dict) else document
                return answer.status_code, error.get("error_code")

            genuine = sns.signed(
                {
                    "Type": "Notification",
                    "TopicArn": topic,
                    "Subject": "C",
                    "Message": json.dumps({"order": 1}),
                }
            )
            assert post(genuine) == (202, None)  # as SNS sends it: text/plain
            # the same signed text, read as other fields: the Subject moved into the MessageId (a new
            # event key), so a captured notification would be delivered again under a fresh id
            reshaped = {k: v for k, v in genuine.items() if k != "Subject"}
            reshaped["MessageId"] = f"{genuine['MessageId']}\nSubject\nC"
            assert canonical(reshaped) == canonical(genuine)
            assert post(reshaped) == (401, "InvalidSignature")

            assert post(b"not json at all") == (401, "InvalidSignature")
            assert post(b"[1, 2]") == (401, "InvalidSignature")
            assert post(b"\xff\xfe garbage") == (401, "InvalidSignature")
            assert post(genuine | {"SignatureVersion": "3"}) == (401, "InvalidSignature")
            assert post(genuine | {"SignatureVersion": 1})[0] == 400  # not a string: the schema's
            assert post(genuine | {"Type": "Foo"})[0] == 400
            assert post(genuine | {"Signature": "!!!"}) == (401, "InvalidSignature")
            assert post(genuine | {"TopicArn": topic.replace("us-east-1", "eu-west-1")}) == (
                401,
                "InvalidSignature",
            )
            assert post({"TopicArn": topic})[0] == 400  # the fields SNS always sends are missing
            huge = json.dumps(genuine | {"Message": "x" * (2 * 1024 * 1024)}).encode()
            assert post(huge)[0] == 413
            # certificate URLs that name the allowed origin but are elsewhere, and certificates that are not
            host_port = sns.url.removeprefix("http://")
            for trick in (f"http://{host_port}@127.0.0.2/cert.pem", f"http://evil\\@{host_port}/cert.pem"):
                tricked = sns.signed({"Type": "Notification", "TopicArn": topic, "Message": "m"}, cert=trick)
                assert post(tricked) == (401, "UntrustedSnsUrl")
            oversized = sns.signed(
                {"Type": "Notification", "TopicArn": topic, "Message": "m"}, cert=f"{sns.url}/huge.pem"
            )
            assert post(oversized) == (401, "UntrustedSnsUrl")
            dripping = sns.signed(
                {"Type": "Notification", "TopicArn": topic, "Message": "m"}, cert=f"{sns.url}/drip.pem"
            )
            started = time.monotonic()
            assert post(dripping) == (502, "SnsCertificateUnavailable")
            assert time.monotonic() - started < 10  # the fetch's own deadline, not the drip's pace

            [message] = host.wait_for(1)
            assert message.payload == {"order": 1, "subject": "C"}
    assert len(host.messages) == 1
    assert "s3cret-aws-secret-value" not in log.read_text()


def _trigger_call(sns: FakeSns, topic: str, message: dict[str, Any], **more: Any) -> list[Any]:
    """The trigger's function as the daemon calls it, after the schema: no daemon, no mock."""
    config = {"region": "us-east-1", "allow": {}, "max_object_bytes": 1024, "sns_origins": [sns.url]} | more
    resources = setup(config | {"destinations": {"allow_loopback": True}})
    ctx = fake_context(config, resources, settings={"topic": topic})
    body = json.dumps(message).encode()
    return list(notification_received(ctx, InboundRequest(body, {}, json.loads(body))))


TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"


def test_a_notification_older_than_the_replay_window_is_refused(sns: FakeSns) -> None:
    """Once its event is pruned (events.keep_delivered, a week), a captured notification posted again
    would be a new event: its signed Timestamp refuses it first."""
    old = sns.signed(
        {"Type": "Notification", "TopicArn": TOPIC, "Message": "m", "Timestamp": "2020-01-01T00:00:00.000Z"}
    )
    with pytest.raises(CommandError) as refused:
        _trigger_call(sns, TOPIC, old)
    assert refused.value.error_code == "StaleSnsMessage" and refused.value.http_status == 401
    assert "sns_max_age_seconds" in refused.value.message


def test_the_window_is_the_connectors_setting_and_a_message_from_the_future_is_refused(sns: FakeSns) -> None:
    hour_old = sns.signed(
        {"Type": "Notification", "TopicArn": TOPIC, "Message": "m", "Timestamp": sns_time(time.time() - 3600)}
    )
    [event] = _trigger_call(sns, TOPIC, hour_old)  # the default window is a week
    assert event.data["message"] == "m"
    with pytest.raises(CommandError) as refused:
        _trigger_call(sns, TOPIC, hour_old, sns_max_age_seconds=600)
    assert refused.value.error_code == "StaleSnsMessage"

    ahead = sns.signed(
        {"Type": "Notification", "TopicArn": TOPIC, "Message": "m", "Timestamp": sns_time(time.time() + 3600)}
    )
    with pytest.raises(CommandError) as refused:
        _trigger_call(sns, TOPIC, ahead)
    assert refused.value.error_code == "StaleSnsMessage" and "ahead" in refused.value.message
    unreadable = sns.signed({"Type": "Notification", "TopicArn": TOPIC, "Message": "m", "Timestamp": "soon"})
    with pytest.raises(CommandError) as refused:
        _trigger_call(sns, TOPIC, unreadable)
    assert refused.value.error_code == "StaleSnsMessage"
    forged = hour_old | {"Timestamp": sns_time(time.time())}  # the Timestamp is signed: not movable
    with pytest.raises(CommandError) as refused:
        _trigger_call(sns, TOPIC, forged)
    assert refused.value.error_code == "InvalidSignature"


def test_attributes_no_signature_covers_never_reach_the_event(sns: FakeSns) -> None:
    """MessageAttributes are outside SNS's signed text: whoever holds one genuine notification (any
    other subscriber of the topic gets the same) could post it first with attributes of its own."""
    genuine = sns.signed({"Type": "Notification", "TopicArn": TOPIC, "Message": "m"})
    forged = genuine | {"MessageAttributes": {"approved": {"Type": "String", "Value": "yes"}}}
    [event] = _trigger_call(sns, TOPIC, forged)
    assert "yes" not in json.dumps(event.data) and "attributes" not in event.data
    assert event.data["message"] == "m"
