"""The SendGrid and Amazon SES (through SNS) webhooks, posted in-process to the app, with
keys made here: an ECDSA P-256 key signs SendGrid's posts; an RSA key and its X.509
certificate, served over https on loopback by a throwaway CA (trustme), sign SNS's. A
signed event lands on its delivery with the same decision as by mail; an unsigned,
forged, stale or replayed post is refused and records nothing; a subscription is
confirmed only for an allowed topic; the certificate host rule of production admits
Amazon SNS https hosts only."""

from __future__ import annotations

import base64
import json
import re
import ssl
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from mailer.bounces.relays import RefusedError
from mailer.bounces.sns import Certificates
from mailer.models import Delivery
from service.app import create_app
from tests.conftest import Db
from tests.support.bounces import (
    assert_landed,
    first_delivery,
    for_delivery,
    mail_reports,
    reader_status,
)
from tests.support.feedserver import FeedServer

DOMAIN = "bounces.example.org"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:r2p-ses-feedback"
OTHER_TOPIC = "arn:aws:sns:eu-west-1:210987654321:someone-elses"
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC_PUBLIC = base64.b64encode(
    EC_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _signing_certificate() -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(RSA_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(RSA_KEY, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def sns_host(ca: trustme.CA) -> Iterator[FeedServer]:
    """The "SNS host": the signing certificate, an oversized one, and a SubscribeURL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = FeedServer(tls=context).start()
    server.serve_bytes("/cert.pem", _signing_certificate(), validators=False)
    big = _signing_certificate() + b"\n" + b"A" * 20_000
    server.serve_bytes("/big.pem", big, validators=False)
    server.serve_bytes("/confirm", b"<ConfirmSubscriptionResponse/>", validators=False)
    yield server
    server.stop()


def _loopback_certificates(server: FeedServer, ca: trustme.CA) -> Certificates:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    assert server.server is not None
    return Certificates(
        hosts=re.compile(r"127\.0\.0\.1"), port=server.server.server_address[1], verify=context
    )


@pytest.fixture
def client(db: Db, sns_host: FeedServer, ca: trustme.CA) -> Iterator[TestClient]:
    settings = db.settings(
        bounce_domain=DOMAIN, sendgrid_webhook_key=EC_PUBLIC, ses_sns_topics=TOPIC
    )
    with TestClient(create_app(settings)) as client:
        client.app.state.sns_certificates = _loopback_certificates(sns_host, ca)  # type: ignore[attr-defined]
        yield client


def _fixture(db: Db, name: str, delivery: Delivery) -> bytes:
    return for_delivery(
        name,
        db.settings(bounce_domain=DOMAIN),
        delivery_id=delivery.id,
        campaign_id=delivery.campaign_id,
        subscriber_id=delivery.subscriber_id,
        recipient="reader0@example.net",
    )


# --- SendGrid -------------------------------------------------------------------------


def _sendgrid_headers(body: bytes, *, at: int | None = None, key: Any = EC_KEY) -> dict[str, str]:
    timestamp = str(int(time.time()) if at is None else at)
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def _signed_content(headers: dict[str, str], body: bytes) -> bytes:
    return headers["X-Twilio-Email-Event-Webhook-Timestamp"].encode() + body


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _post_sendgrid(client: TestClient, body: bytes, headers: dict[str, str]) -> int:
    return client.post("/webhooks/sendgrid", content=body, headers=headers).status_code


@pytest.mark.parametrize(
    ("name", "kind", "decision", "status_code", "reader_after"),
    [
        ("sendgrid-bounce-5.1.1.json", "bounce", "hard", "5.1.1", "bounced"),
        ("sendgrid-blocked-5.7.1.json", "bounce", "policy", "5.7.1", "active"),
        ("sendgrid-spamreport.json", "complaint", "complaint", "", "complained"),
    ],
)
def test_a_signed_sendgrid_event_lands_on_its_delivery(
    db: Db,
    client: TestClient,
    name: str,
    kind: str,
    decision: str,
    status_code: str,
    reader_after: str,
) -> None:
    delivery = first_delivery(db)
    body = _fixture(db, name, delivery)
    assert _post_sendgrid(client, body, _sendgrid_headers(body)) == 200
    expected = (kind, decision, status_code, reader_after)
    # one report: the "processed" event in the same post records nothing
    assert_landed(db, delivery, "webhook:sendgrid", expected)
    # SendGrid's retry: signed anew at a later time, counted once
    later = _sendgrid_headers(body, at=int(time.time()) + 1)
    assert _post_sendgrid(client, body, later) == 200
    assert len(mail_reports(db)) == 1


@pytest.mark.parametrize(
    ("event", "kind", "decision"),
    [("deferred", "delay", "soft"), ("dropped", "bounce", "unknown")],
)
def test_deferred_and_dropped_sendgrid_events_suppress_nobody(
    db: Db, client: TestClient, event: str, kind: str, decision: str
) -> None:
    delivery = first_delivery(db)
    [_, bounce] = json.loads(_fixture(db, "sendgrid-bounce-5.1.1.json", delivery))
    bounce.update(event=event, reason="Bounced Address", response="451 4.7.1 try later")
    body = json.dumps([bounce]).encode()
    assert _post_sendgrid(client, body, _sendgrid_headers(body)) == 200
    [report] = mail_reports(db)
    assert (report.kind, report.decision, report.delivery_id) == (kind, decision, delivery.id)
    assert reader_status(db, delivery.subscriber_id) == "active"


def test_unsigned_forged_stale_or_replayed_sendgrid_posts_are_refused(
    db: Db, client: TestClient
) -> None:
    delivery = first_delivery(db)
    body = _fixture(db, "sendgrid-bounce-5.1.1.json", delivery)
    good = _sendgrid_headers(body)
    assert _post_sendgrid(client, body, {"Content-Type": "application/json"}) == 403
    other_key = ec.generate_private_key(ec.SECP256R1())
    assert _post_sendgrid(client, body, _sendgrid_headers(body, key=other_key)) == 403
    changed = body.replace(b"5.1.1", b"5.2.2")
    assert _post_sendgrid(client, changed, good) == 403  # the body is signed
    moved = dict(good, **{"X-Twilio-Email-Event-Webhook-Timestamp": str(int(time.time()) + 1)})
    assert _post_sendgrid(client, body, moved) == 403  # so is the timestamp
    garbled = dict(good, **{"X-Twilio-Email-Event-Webhook-Signature": "!!!"})
    assert _post_sendgrid(client, body, garbled) == 403
    stale = _sendgrid_headers(body, at=int(time.time()) - 6 * 60)
    assert _post_sendgrid(client, body, stale) == 403
    assert mail_reports(db) == []
    assert reader_status(db, delivery.subscriber_id) == "active"
    assert _post_sendgrid(client, body, good) == 200
    assert _post_sendgrid(client, body, good) == 403  # the same signed post again
    # The same post with its signature rewritten (s -> n - s), still valid: a replay too.
    r, s = decode_dss_signature(base64.b64decode(good["X-Twilio-Email-Event-Webhook-Signature"]))
    other = encode_dss_signature(r, P256_ORDER - s)
    EC_KEY.public_key().verify(other, _signed_content(good, body), ec.ECDSA(hashes.SHA256()))
    rewritten = dict(good, **{"X-Twilio-Email-Event-Webhook-Signature": _b64(other)})
    assert _post_sendgrid(client, body, rewritten) == 403
    assert len(mail_reports(db)) == 1


# --- Amazon SES through SNS -----------------------------------------------------------


def _sns_sign(message: dict[str, Any], version: str = "1") -> dict[str, Any]:
    """Sign as SNS does: ``Key\\nValue\\n`` over the type's fields, in this order."""
    if message["Type"] == "Notification":
        fields = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        fields = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn"]
        fields.append("Type")
    text = "".join(f"{k}\n{message[k]}\n" for k in fields if k in message).encode()
    # SNS SignatureVersion 1 is SHA1withRSA: what SNS still sends unless told otherwise.
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
    signature = RSA_KEY.sign(text, padding.PKCS1v15(), algorithm)
    message["SignatureVersion"] = version
    message["Signature"] = base64.b64encode(signature).decode()
    return message


def _notification(
    server: FeedServer,
    ses: bytes,
    *,
    topic: str = TOPIC,
    cert: str = "/cert.pem",
    at: datetime | None = None,
) -> dict[str, Any]:
    when = at or datetime.now(UTC)
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": json.dumps(json.loads(ses)),
        "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
        "SigningCertURL": server.url(cert),
        "UnsubscribeURL": server.url("/unsubscribe"),
    }


def _post_ses(client: TestClient, message: dict[str, Any] | bytes) -> int:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    headers = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "x"}
    return client.post("/webhooks/ses", content=body, headers=headers).status_code


@pytest.mark.parametrize(
    ("name", "version", "kind", "decision", "status_code", "reader_after"),
    [
        ("ses-bounce-5.1.1.json", "1", "bounce", "hard", "5.1.1", "bounced"),
        ("ses-bounce-5.7.1-blocklist.json", "2", "bounce", "policy", "5.7.1", "active"),
        ("ses-complaint.json", "2", "complaint", "complaint", "", "complained"),
    ],
)
def test_a_signed_ses_notification_lands_on_its_delivery(
    db: Db,
    client: TestClient,
    sns_host: FeedServer,
    name: str,
    version: str,
    kind: str,
    decision: str,
    status_code: str,
    reader_after: str,
) -> None:
    delivery = first_delivery(db)
    message = _sns_sign(_notification(sns_host, _fixture(db, name, delivery)), version)
    assert _post_ses(client, message) == 200
    expected = (kind, decision, status_code, reader_after)
    assert_landed(db, delivery, "webhook:ses", expected)


def test_ses_finds_the_delivery_by_the_message_id_alone_never_by_address(
    db: Db, client: TestClient, sns_host: FeedServer
) -> None:
    delivery = first_delivery(db)
    ses = json.loads(_fixture(db, "ses-bounce-5.1.1.json", delivery))
    ses["mail"]["source"] = "news@example.org"  # no VERP address
    assert _post_ses(client, _sns_sign(_notification(sns_host, json.dumps(ses).encode()))) == 200
    ses["bounce"]["feedbackId"] = "another"
    for header in ses["mail"]["headers"]:
        if header["name"] == "Message-ID":
            header["value"] = "<1.forged@example.org>"
    assert _post_ses(client, _sns_sign(_notification(sns_host, json.dumps(ses).encode()))) == 200
    found, forged = mail_reports(db)
    assert (found.delivery_id, found.decision) == (delivery.id, "hard")
    assert (forged.delivery_id, forged.decision) == (None, "ignored")


def test_a_delivery_notification_records_nothing(
    db: Db, client: TestClient, sns_host: FeedServer
) -> None:
    delivery = first_delivery(db)
    message = _sns_sign(_notification(sns_host, _fixture(db, "ses-delivery.json", delivery)))
    assert _post_ses(client, message) == 200
    assert mail_reports(db) == []


def test_unsigned_forged_stale_replayed_or_foreign_sns_posts_are_refused(
    db: Db, client: TestClient, sns_host: FeedServer
) -> None:
    delivery = first_delivery(db)
    ses = _fixture(db, "ses-bounce-5.1.1.json", delivery)
    unsigned = _notification(sns_host, ses)
    assert _post_ses(client, unsigned) == 403
    forged = _sns_sign(_notification(sns_host, ses))
    forged["Message"] = forged["Message"].replace("5.1.1", "5.2.2")
    assert _post_ses(client, forged) == 403
    moved = _sns_sign(_notification(sns_host, ses))
    moved["SigningCertURL"] = sns_host.url("/big.pem")  # over the size cap
    assert _post_ses(client, moved) == 403
    unknown = _sns_sign(_notification(sns_host, ses), "3")
    assert _post_ses(client, unknown) == 403
    stale = _sns_sign(_notification(sns_host, ses, at=datetime.now(UTC) - timedelta(hours=2)))
    assert _post_ses(client, stale) == 403
    # Anyone can have SNS sign a notification of their own topic.
    assert _post_ses(client, _sns_sign(_notification(sns_host, ses, topic=OTHER_TOPIC))) == 403
    assert _post_ses(client, b"not json") == 403
    assert mail_reports(db) == []
    assert reader_status(db, delivery.subscriber_id) == "active"
    good = _sns_sign(_notification(sns_host, ses))
    assert _post_ses(client, good) == 200
    assert _post_ses(client, good) == 403  # the same MessageId again: a replay
    assert len(mail_reports(db)) == 1


def _confirmation(server: FeedServer, topic: str, subscribe: str) -> dict[str, Any]:
    message = _notification(server, b"{}", topic=topic)
    message.update(
        Type="SubscriptionConfirmation",
        Token="2336412f37fb687f5d51e6e2425c464de12884c7ab56a92ef5f8ed3e1e0c3f4a",
        SubscribeURL=subscribe,
        Message=f"You have chosen to subscribe to the topic {topic}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message.",
    )
    return _sns_sign(message, "2")


def test_a_subscription_is_confirmed_only_for_an_allowed_topic(
    db: Db, client: TestClient, sns_host: FeedServer
) -> None:
    before = len(sns_host.requests_to("/confirm"))
    confirm = sns_host.url("/confirm")
    assert _post_ses(client, _confirmation(sns_host, OTHER_TOPIC, confirm)) == 403
    assert len(sns_host.requests_to("/confirm")) == before
    elsewhere = confirm.replace("https://", "http://")
    assert _post_ses(client, _confirmation(sns_host, TOPIC, elsewhere)) == 403
    assert len(sns_host.requests_to("/confirm")) == before
    confirmation = _confirmation(sns_host, TOPIC, confirm)
    assert _post_ses(client, confirmation) == 200
    assert len(sns_host.requests_to("/confirm")) == before + 1
    assert _post_ses(client, confirmation) == 403  # replayed: not fetched again
    assert len(sns_host.requests_to("/confirm")) == before + 1
    assert mail_reports(db) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-1.amazonaws.com.example.org/SimpleNotificationService-abc.pem",
        "https://example.org/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-abc.pem",
        "https://user@sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://s3.amazonaws.com/sns/cert.pem",
        "https://127.0.0.1/cert.pem",
    ],
)
def test_production_fetches_certificates_from_amazon_sns_https_hosts_only(url: str) -> None:
    with pytest.raises(RefusedError):
        Certificates().check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
    ],
)
def test_amazon_sns_hosts_pass_the_production_rule(url: str) -> None:
    assert Certificates().check_url(url) == url


def test_an_oversized_certificate_is_refused(sns_host: FeedServer, ca: trustme.CA) -> None:
    certificates = _loopback_certificates(sns_host, ca)
    with pytest.raises(RefusedError, match="size"):
        certificates.public_key(sns_host.url("/big.pem"), datetime.now(UTC))
    assert certificates.public_key(sns_host.url("/cert.pem"), datetime.now(UTC)) is not None


def test_a_host_the_ca_does_not_vouch_for_is_refused(sns_host: FeedServer) -> None:
    assert sns_host.server is not None
    untrusted = Certificates(
        hosts=re.compile(r"127\.0\.0\.1"), port=sns_host.server.server_address[1]
    )
    with pytest.raises(RefusedError, match="could not be read"):
        untrusted.public_key(sns_host.url("/cert.pem"), datetime.now(UTC))


def test_the_new_webhooks_are_off_unless_configured(db: Db) -> None:
    with TestClient(create_app(db.settings(bounce_domain=DOMAIN))) as client:
        assert client.post("/webhooks/sendgrid", content=b"[]").status_code == 404
        assert client.post("/webhooks/ses", content=b"{}").status_code == 404
