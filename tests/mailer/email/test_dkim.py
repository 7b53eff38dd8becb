"""DKIM signing: relaxed/relaxed, the headers that matter oversigned, the key checked when
it is loaded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dkim
import pytest

from mailer.email.compose import build_template
from mailer.email.dkim import DkimSigner, strip_signature
from mailer.email.render import RenderedEmail
from mailer.errors import ConfigError
from tests.conftest import make_settings
from tests.support.dkimkeys import DOMAIN, SELECTOR, make_key

VALUES = {
    "address": "reader@example.org",
    "message_id": "7.abc@r2p.example.org",
    "date": "Wed, 02 Dec 2026 12:00:00 GMT",
    "unsubscribe_url": "https://r2p.example.org/unsubscribe/TOKEN",
}


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Callable[..., bytes]]:
    return make_key(tmp_path_factory.mktemp("dkim"))


def signer_for(tmp_path: Path, key_file: Path) -> DkimSigner:
    settings = make_settings(
        tmp_path, dkim_key_file=key_file, dkim_selector=SELECTOR, dkim_domain=DOMAIN
    )
    signer = DkimSigner.from_settings(settings)
    assert signer is not None
    return signer


def signed_message(tmp_path: Path, key_file: Path) -> bytes:
    rendered = RenderedEmail(
        "Réunion d'urgence sur El Fasher", "Civilians are at risk.\n", "<p>Civilians</p>\n"
    )
    template = build_template(
        rendered,
        mail_from=f"R2P <news@{DOMAIN}>",
        list_id=f"R2P <news.{DOMAIN}>",
        bulk=True,
        reply_to=f"Help <help@{DOMAIN}>",
        extra_headers={"Feedback-ID": "7:alert:r2pmailer"},
    )
    return signer_for(tmp_path, key_file).sign(template.fill(VALUES))


def add_header(message: bytes, line: bytes) -> bytes:
    """``line`` added below the signature, as a relay in transit might."""
    signature_end = message.index(b"\r\nDate:") + 2
    return message[:signature_end] + line + b"\r\n" + message[signature_end:]


def test_a_signed_message_verifies_with_relaxed_canonicalisation(
    tmp_path: Path, key: tuple[Path, Callable[..., bytes]]
) -> None:
    key_file, dns = key
    signed = signed_message(tmp_path, key_file)
    assert b"c=relaxed/relaxed" in signed.split(b"\r\n\r\n", 1)[0]
    assert dkim.verify(signed, dnsfunc=dns)
    # A relay that adds a trailing space to a body line, or re-folds a header, does not
    # break it (simple body canonicalisation did).
    head, body = signed.split(b"\r\n\r\n", 1)
    assert dkim.verify(head + b"\r\n\r\n" + body.replace(b"at risk.", b"at risk. ", 1), dnsfunc=dns)
    refolded = signed.replace(b"\r\nList-Id: R2P", b"\r\nList-Id:\r\n  R2P", 1)
    assert refolded != signed and dkim.verify(refolded, dnsfunc=dns)


@pytest.mark.parametrize(
    "added",
    [
        b"Subject: Claim your prize",
        b"From: Someone Else <ceo@evil.example>",
        b"List-Unsubscribe: <https://evil.example/track>",
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        b"Reply-To: ops@evil.example",
        b"Feedback-ID: 1:x:evil",
    ],
)
def test_a_second_oversigned_header_added_in_transit_fails(
    tmp_path: Path, key: tuple[Path, Callable[..., bytes]], added: bytes
) -> None:
    key_file, dns = key
    signed = signed_message(tmp_path, key_file)
    assert dkim.verify(signed, dnsfunc=dns)
    assert not dkim.verify(add_header(signed, added), dnsfunc=dns)


def test_an_unsigned_header_may_still_be_added(
    tmp_path: Path, key: tuple[Path, Callable[..., bytes]]
) -> None:
    """The control: what relays add (Received, X- headers) leaves the signature valid."""
    key_file, dns = key
    signed = signed_message(tmp_path, key_file)
    assert dkim.verify(add_header(signed, b"X-Relay-Scanned: yes"), dnsfunc=dns)


def test_strip_signature_gives_back_the_message_as_it_was(
    tmp_path: Path, key: tuple[Path, Callable[..., bytes]]
) -> None:
    key_file, _dns = key
    message = b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"
    assert strip_signature(signer_for(tmp_path, key_file).sign(message)) == message
    assert strip_signature(message) == message


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"not a key at all\n", "not an RSA private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not an RSA"),
        (None, "cannot read the key"),
    ],
)
def test_a_bad_key_is_an_error_naming_the_setting_when_loaded(
    tmp_path: Path, content: bytes | None, said: str
) -> None:
    key_file = tmp_path / "dkim.pem"
    if content is not None:
        key_file.write_bytes(content)
    with pytest.raises(ConfigError, match="R2P_DKIM_KEY_FILE") as raised:
        signer_for(tmp_path, key_file)
    assert said in str(raised.value)


def test_a_key_too_short_for_receivers_is_refused(tmp_path: Path) -> None:
    key_file, _dns = make_key(tmp_path, bits=768)
    with pytest.raises(ConfigError, match="R2P_DKIM_KEY_FILE: the key has 768 bits"):
        signer_for(tmp_path, key_file)
