"""Building messages: rendered once, filled per reader, optionally DKIM-signed."""

from __future__ import annotations

import base64
import email
import email.policy
import re
import subprocess
from pathlib import Path

import dkim
import pytest

from mailer.email.compose import build_template
from mailer.email.dkim import DkimSigner
from mailer.email.render import RenderedEmail, render_email, slot, wrap_html, wrap_text
from tests.conftest import make_settings

VALUES = {
    "address": "reader@example.org",
    "message_id": "7.abc@r2p.example.org",
    "date": "Wed, 02 Dec 2026 12:00:00 GMT",
    "unsubscribe_url": "https://r2p.example.org/unsubscribe/TOKEN",
    "preferences_url": "https://r2p.example.org/preferences/TOKEN2",
}


def alert() -> RenderedEmail:
    return render_email(
        "alert",
        {
            "subject": "Imminent risk <b>in</b> El Fasher",
            "base_url": "https://r2p.example.org",
            "body": "First paragraph & more.\n\nSecond <script>x</script>.",
            "link": "",
        },
    )


def test_render_email_escapes_html_and_keeps_text_plain() -> None:
    rendered = alert()
    assert rendered.subject == "Urgent: Imminent risk <b>in</b> El Fasher"
    assert "Imminent risk &lt;b&gt;in&lt;/b&gt; El Fasher" in rendered.html
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "Second <script>x</script>." in rendered.text
    assert slot("unsubscribe_url") in rendered.html and slot("unsubscribe_url") in rendered.text
    assert 'style="' in rendered.html  # CSS inlined


def test_a_filled_template_is_a_valid_multipart_message_for_that_reader() -> None:
    template = build_template(
        alert(),
        mail_from="R2P <news@r2p.example.org>",
        list_id="R2P <news.r2p.example.org>",
        bulk=True,
    )
    raw = template.fill(VALUES)
    assert b"R2PSLOT" not in raw
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"] == "reader@example.org"
    assert message["Message-ID"] == "<7.abc@r2p.example.org>"
    assert message["List-Unsubscribe"] == "<https://r2p.example.org/unsubscribe/TOKEN>"
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "https://r2p.example.org/preferences/TOKEN2" in html
    assert "reader@example.org" in html


def test_wrapping_keeps_urls_whole_and_lines_short() -> None:
    url = "https://example.org/" + "a" * 120
    text = wrap_text("word " * 40 + url + " end")
    assert url in text and max(len(line) for line in text.splitlines()) <= len(url)
    html = wrap_html("<p>" + "<span>x</span>" * 200 + "</p>")
    assert max(len(line) for line in html.splitlines()) <= 800


@pytest.fixture
def dkim_key(tmp_path: Path) -> tuple[Path, bytes]:
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return key, base64.b64encode(public)


def test_dkim_signs_the_unsubscribe_headers_and_verifies(
    tmp_path: Path, dkim_key: tuple[Path, bytes]
) -> None:
    key, public = dkim_key
    settings = make_settings(
        tmp_path, dkim_key_file=key, dkim_selector="r2p", dkim_domain="r2p.example.org"
    )
    signer = DkimSigner.from_settings(settings)
    assert signer is not None
    raw = build_template(
        alert(),
        mail_from="R2P <news@r2p.example.org>",
        list_id="R2P <news.r2p.example.org>",
        bulk=True,
    ).fill(VALUES)
    signed = signer.sign(raw)
    header = signed.split(b"\r\n\r\n", 1)[0].decode()
    signed_headers = re.search(r"h=([^;]+);", header.replace("\r\n", "").replace(" ", ""))
    assert signed_headers is not None
    assert "list-unsubscribe:list-unsubscribe-post" in signed_headers.group(1)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"r2p._domainkey.r2p.example.org."
        return b"v=DKIM1; k=rsa; p=" + public

    assert dkim.verify(signed, dnsfunc=dns)
    tampered = signed.replace(b"/unsubscribe/TOKEN", b"/unsubscribe/EVIL")
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_text_that_looks_like_a_slot_stays_text() -> None:
    rendered = render_email(
        "alert",
        {
            "subject": "R2PSLOT_preferences_url_R2PEND",
            "base_url": "https://r2p.example.org",
            "body": "See R2PSLOT_address_R2PEND and R2PSLOT_x_R2PEND.",
            "link": "",
        },
    )
    template = build_template(
        rendered,
        mail_from="R2P <news@r2p.example.org>",
        list_id="R2P <news.r2p.example.org>",
        bulk=True,
    )
    raw = template.fill(VALUES)
    assert b"See R2PSLOT_address_R2PEND and R2PSLOT_x_R2PEND." in raw
    assert raw.count(b"reader@example.org") == template.slots.count("address")
