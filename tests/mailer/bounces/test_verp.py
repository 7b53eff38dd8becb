"""VERP addresses: short, signed, bound to their delivery; forged or stale ones match
nothing."""

from __future__ import annotations

from pathlib import Path

from mailer.bounces.verp import bounce_address, delivery_named, read_token, token_for
from mailer.email.compose import message_id_for
from tests.conftest import Db, make_settings
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import deliveries


def test_without_a_bounce_domain_the_envelope_sender_is_mail_from(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mail_from="R2P news <news@example.org>")
    assert bounce_address(settings, 1, 2, 3) == "news@example.org"


def test_the_address_is_short_lower_case_and_reads_back(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, bounce_domain="Bounces.Example.org.")
    address = bounce_address(settings, 2**62, 2**31, 2**31)
    local, _, domain = address.partition("@")
    assert domain == "bounces.example.org" and local.startswith("bounces+")
    assert len(local) <= 64 and address == address.lower()
    token = read_token(address.upper(), "bounces.example.org")
    assert token is not None and token.delivery_id == 2**62
    assert read_token(address, "other.example.org") is None
    assert read_token("bounces@bounces.example.org", "bounces.example.org") is None
    assert read_token("bounces+zz@bounces.example.org", "bounces.example.org") is None


def test_only_a_genuine_token_or_message_id_names_a_delivery(db: Db, tmp_path: Path) -> None:
    settings = db.settings(bounce_domain="bounces.example.org")
    campaign = alert_campaign(db, add_readers(db, ["a@example.net", "b@example.net"]))
    first, second = deliveries(db, campaign)
    genuine = bounce_address(settings, first.id, first.campaign_id, first.subscriber_id)
    # The right id with the MAC of another delivery, and a token under another key.
    swapped = f"bounces+{token_for(settings.signing_key, first.id, campaign, second.subscriber_id)}"
    other_key = f"bounces+{token_for('another key', first.id, campaign, first.subscriber_id)}"
    message_id = message_id_for(
        settings.signing_key, settings.mail_domain, second.id, campaign, second.subscriber_id
    )
    with db.session() as session:

        def named(addresses: list[str], mid: str = "") -> int | None:
            found = delivery_named(addresses, mid, settings=settings, session=session)
            return found.id if found else None

        assert named([genuine]) == first.id
        assert named([genuine.upper()]) == first.id
        assert named([f"{swapped}@bounces.example.org"]) is None
        assert named([f"{other_key}@bounces.example.org"]) is None
        assert named(["news@example.org"], f"<{message_id}>") == second.id
        assert named([], f"<{second.id}.0000000000000000@{settings.mail_domain}>") is None
        assert named([f"{swapped}@bounces.example.org", genuine]) == first.id
