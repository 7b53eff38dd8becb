"""The relays' webhooks, posted in-process to the app: a signed Mailgun or Postmark event
lands on its delivery (found by VERP address or signed Message-ID) with the right
decision; an unsigned, forged, stale or replayed post is refused and records nothing;
a route whose secret is unset is off (404)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mailer.models import Delivery
from service.app import create_app
from subscribers.web.webhooks import REFUSALS_LIMIT
from tests.conftest import Db
from tests.support.bounces import (
    assert_landed,
    first_delivery,
    for_delivery,
    mail_reports,
    reader_status,
)

DOMAIN = "bounces.example.org"
MAILGUN_KEY = "key-mailgun-signing-for-the-tests-0123"
POSTMARK_AUTH = "postmark:hook-password-for-the-tests"


@pytest.fixture
def client(db: Db) -> Iterator[TestClient]:
    settings = db.settings(
        bounce_domain=DOMAIN,
        mailgun_signing_key=MAILGUN_KEY,
        postmark_webhook_auth=POSTMARK_AUTH,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _event(db: Db, name: str, delivery: Delivery) -> dict[str, Any]:
    data = for_delivery(
        name,
        db.settings(bounce_domain=DOMAIN),
        delivery_id=delivery.id,
        campaign_id=delivery.campaign_id,
        subscriber_id=delivery.subscriber_id,
        recipient="reader0@example.net",
    )
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def _sign(
    payload: dict[str, Any], *, token: str, at: int | None = None, key: str = MAILGUN_KEY
) -> bytes:
    timestamp = str(int(time.time()) if at is None else at)
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    payload["signature"] = {"timestamp": timestamp, "token": token, "signature": signature}
    return json.dumps(payload).encode()


def _post_mailgun(client: TestClient, body: bytes) -> int:
    response = client.post(
        "/webhooks/mailgun", content=body, headers={"Content-Type": "application/json"}
    )
    return response.status_code


def _basic(credentials: str) -> dict[str, str]:
    encoded = base64.b64encode(credentials.encode()).decode()
    return {"Authorization": f"Basic {encoded}", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("name", "kind", "decision", "status_code", "reader_after"),
    [
        ("mailgun-failed-5.1.1.json", "bounce", "hard", "5.1.1", "bounced"),
        ("mailgun-failed-5.7.1-blocklist.json", "bounce", "policy", "5.7.1", "active"),
        ("mailgun-complained.json", "complaint", "complaint", "", "complained"),
    ],
)
def test_a_signed_mailgun_event_lands_on_its_delivery(
    db: Db,
    client: TestClient,
    name: str,
    kind: str,
    decision: str,
    status_code: str,
    reader_after: str,
) -> None:
    delivery = first_delivery(db)
    body = _sign(_event(db, name, delivery), token="a" * 50)
    assert _post_mailgun(client, body) == 200
    expected = (kind, decision, status_code, reader_after)
    assert_landed(db, delivery, "webhook:mailgun", expected)


def test_mailgun_finds_the_delivery_by_the_signed_message_id_alone(
    db: Db, client: TestClient
) -> None:
    delivery = first_delivery(db)
    payload = _event(db, "mailgun-failed-5.1.1.json", delivery)
    payload["event-data"]["envelope"]["sender"] = "bounce@mg.example.org"  # rewritten
    assert _post_mailgun(client, _sign(payload, token="b" * 50)) == 200
    [report] = mail_reports(db)
    assert (report.delivery_id, report.decision) == (delivery.id, "hard")


def test_mailgun_never_finds_a_reader_by_the_recipient_address(db: Db, client: TestClient) -> None:
    delivery = first_delivery(db)
    payload = _event(db, "mailgun-failed-5.1.1.json", delivery)
    payload["event-data"]["envelope"]["sender"] = "bounce@mg.example.org"
    payload["event-data"]["message"]["headers"]["message-id"] = "1.forged@example.org"
    assert _post_mailgun(client, _sign(payload, token="c" * 50)) == 200
    [report] = mail_reports(db)
    assert (report.delivery_id, report.decision) == (None, "ignored")
    assert reader_status(db, delivery.subscriber_id) == "active"


def test_mailgun_events_we_do_not_act_on_record_nothing(db: Db, client: TestClient) -> None:
    delivery = first_delivery(db)
    body = _sign(_event(db, "mailgun-delivered.json", delivery), token="d" * 50)
    assert _post_mailgun(client, body) == 200
    assert mail_reports(db) == []


def test_unsigned_forged_stale_or_replayed_mailgun_posts_are_refused(
    db: Db, client: TestClient
) -> None:
    delivery = first_delivery(db)
    payload = _event(db, "mailgun-failed-5.1.1.json", delivery)
    unsigned = dict(payload)
    del unsigned["signature"]
    assert _post_mailgun(client, json.dumps(unsigned).encode()) == 403
    assert _post_mailgun(client, _sign(payload, token="e" * 50, key="another key")) == 403
    assert _post_mailgun(client, b"not json") == 403
    stale = _sign(payload, token="f" * 50, at=int(time.time()) - 6 * 60)
    assert _post_mailgun(client, stale) == 403
    future = _sign(payload, token="f" * 50, at=int(time.time()) + 6 * 60)
    assert _post_mailgun(client, future) == 403
    signed = _sign(payload, token="g" * 50)
    # Mailgun signs the timestamp and token only (not the body): a changed signature or
    # token fails; the token being good once is what stops a copied post.
    forged = json.loads(signed)
    last = forged["signature"]["signature"][-1]
    forged["signature"]["signature"] = forged["signature"]["signature"][:-1] + (
        "0" if last != "0" else "1"
    )
    assert _post_mailgun(client, json.dumps(forged).encode()) == 403
    other_token = json.loads(signed)
    other_token["signature"]["token"] = "x" * 50
    assert _post_mailgun(client, json.dumps(other_token).encode()) == 403
    assert mail_reports(db) == []
    assert reader_status(db, delivery.subscriber_id) == "active"
    assert _post_mailgun(client, signed) == 200
    assert _post_mailgun(client, signed) == 403  # the same token again: a replay
    assert len(mail_reports(db)) == 1


def test_a_retried_mailgun_event_counts_once(db: Db, client: TestClient) -> None:
    delivery = first_delivery(db)
    payload = _event(db, "mailgun-failed-5.7.1-blocklist.json", delivery)
    assert _post_mailgun(client, _sign(payload, token="h" * 50)) == 200
    assert _post_mailgun(client, _sign(payload, token="i" * 50)) == 200  # new token
    assert len(mail_reports(db)) == 1


def test_a_network_sending_refused_posts_is_slowed_down(db: Db, client: TestClient) -> None:
    for _ in range(REFUSALS_LIMIT):
        assert _post_mailgun(client, b"{}") == 403
    assert _post_mailgun(client, b"{}") == 429
    response = client.post("/webhooks/postmark", content=b"{}", headers=_basic(POSTMARK_AUTH))
    assert response.status_code == 429


@pytest.mark.parametrize(
    ("name", "kind", "decision", "status_code", "reader_after"),
    [
        ("postmark-hardbounce.json", "bounce", "hard", "5.1.1", "bounced"),
        ("postmark-spamcomplaint.json", "complaint", "complaint", "", "complained"),
    ],
)
def test_an_authenticated_postmark_event_lands_on_its_delivery(
    db: Db,
    client: TestClient,
    name: str,
    kind: str,
    decision: str,
    status_code: str,
    reader_after: str,
) -> None:
    delivery = first_delivery(db)
    body = json.dumps(_event(db, name, delivery)).encode()
    response = client.post("/webhooks/postmark", content=body, headers=_basic(POSTMARK_AUTH))
    assert response.status_code == 200
    expected = (kind, decision, status_code, reader_after)
    assert_landed(db, delivery, "webhook:postmark", expected)
    again = client.post("/webhooks/postmark", content=body, headers=_basic(POSTMARK_AUTH))
    assert again.status_code == 200 and len(mail_reports(db)) == 1  # a retry counts once


def test_postmark_posts_without_the_credentials_are_refused(db: Db, client: TestClient) -> None:
    delivery = first_delivery(db)
    body = json.dumps(_event(db, "postmark-hardbounce.json", delivery)).encode()
    user = POSTMARK_AUTH.split(":")[0]
    for headers in (
        {"Content-Type": "application/json"},
        _basic(f"{user}:wrong"),
        _basic(POSTMARK_AUTH + "x"),
        {"Authorization": "Basic !!!", "Content-Type": "application/json"},
        {"Authorization": f"Bearer {POSTMARK_AUTH}", "Content-Type": "application/json"},
    ):
        response = client.post("/webhooks/postmark", content=body, headers=headers)
        assert response.status_code == 403, headers
    assert mail_reports(db) == []
    assert reader_status(db, delivery.subscriber_id) == "active"


def test_webhooks_are_off_without_their_secrets(db: Db) -> None:
    with TestClient(create_app(db.settings(bounce_domain=DOMAIN))) as client:
        assert client.post("/webhooks/mailgun", content=b"{}").status_code == 404
        response = client.post("/webhooks/postmark", content=b"{}", headers=_basic("a:b"))
        assert response.status_code == 404


def test_a_body_over_the_limit_is_refused(db: Db, client: TestClient) -> None:
    response = client.post(
        "/webhooks/postmark", content=b"x" * 70_000, headers=_basic(POSTMARK_AUTH)
    )
    assert response.status_code == 413
