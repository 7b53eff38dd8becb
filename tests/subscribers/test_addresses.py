"""Address normalisation: one stored form per mailbox; tricky and hostile input refused."""

from __future__ import annotations

import pytest

from subscribers.addresses import InvalidAddressError, normalise_address


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("anna@example.org", "anna@example.org"),
        ("Anna.Smith@Example.ORG", "anna.smith@example.org"),
        ("  anna@example.org  ", "anna@example.org"),
        ("anna+news@example.org", "anna+news@example.org"),
        ("anna@bücher.example", "anna@xn--bcher-kva.example"),
        ("anna@XN--BCHER-KVA.example", "anna@xn--bcher-kva.example"),
        ("x@例え.jp", "x@xn--r8jz45g.jp"),
    ],
)
def test_it_stores_one_normalised_form(raw: str, stored: str) -> None:
    assert normalise_address(raw) == stored


def test_it_gives_the_same_form_to_a_unicode_domain_and_its_ascii_spelling() -> None:
    assert normalise_address("anna@bücher.example") == normalise_address(
        "ANNA@xn--bcher-kva.example"
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "enter your email"),
        ("   ", "enter your email"),
        ("anna", "@-sign"),
        ("anna@", "after the @-sign"),
        ('"anna smith"@example.org', "Quoting"),
        ('"anna"@example.org', "Quoting"),
        ("anna@example.org.", "period"),
        ("anna.@example.org", "period"),
        (".anna@example.org", "period"),
        ("anna..smith@example.org", "period"),
        ("anna@localhost", "period"),
        ("anna@[127.0.0.1]", "bracketed"),
        ("Anna <anna@example.org>", "display name"),
        ("anna@example.org, bob@example.org", "invalid characters"),
        ("ånna@example.org", "Internationalized"),
        ("anna@example.test", "special-use"),
        ("a" * 290 + "@example.org", "longer than 254"),
        ("a" * 65 + "@example.org", "too long"),
    ],
)
def test_it_refuses_invalid_and_tricky_addresses(raw: str, reason: str) -> None:
    with pytest.raises(InvalidAddressError, match=reason):
        normalise_address(raw)


def test_it_refuses_300_characters() -> None:
    raw = "reader." * 41 + "@example.org"
    assert len(raw) > 290
    with pytest.raises(InvalidAddressError, match="longer than 254"):
        normalise_address(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "anna@example.org\r\nBcc: victim@example.org",
        "anna@example.org\n",
        "\r\nanna@example.org",
        "anna\r@example.org",
        "anna@exam\x00ple.org",
        "anna@example.org\x7f",
    ],
)
def test_it_refuses_line_breaks_and_control_characters_anywhere(raw: str) -> None:
    # Stripping them instead could let a header injection through in another form.
    with pytest.raises(InvalidAddressError, match="line break or control"):
        normalise_address(raw)
