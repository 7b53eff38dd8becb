"""Optional DKIM signing (dkimpy), on when R2P_DKIM_KEY_FILE, _SELECTOR and _DOMAIN are set.

relaxed/relaxed canonicalisation, so a relay that re-folds a header or adds a trailing
space to a line does not break the signature. The signature covers the unsubscribe
headers, and the headers that decide how a message is judged (From, Subject, Reply-To,
List-Unsubscribe, List-Unsubscribe-Post, Feedback-ID) are signed once more than they
occur ("oversigned"): a second one added in transit makes the signature fail.

The key is loaded and tried when the program starts (``DkimSigner.from_settings``, called
by the command line, the web app and the worker): a bad key is a clear error naming the
setting then, not a traceback at the first message.
"""

from __future__ import annotations

from dataclasses import dataclass

import dkim
from dkim.crypto import parse_pem_private_key

from mailer.config import Settings
from mailer.errors import ConfigError

SIGNED_HEADERS = [
    b"from",
    b"reply-to",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"feedback-id",
    b"precedence",
    b"auto-submitted",
]
# Signed one time more than they occur (an absent one too): nobody can add one.
OVERSIGNED = [
    b"from",
    b"reply-to",
    b"subject",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"feedback-id",
]
CANONICALIZE = (b"relaxed", b"relaxed")
MIN_KEY_BITS = 1024  # receivers ignore signatures by shorter keys (RFC 8301)
_PROBE = b"From: probe@example.org\r\nSubject: probe\r\n\r\nprobe\r\n"


@dataclass(frozen=True)
class DkimSigner:
    selector: bytes
    domain: bytes
    private_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimSigner | None:
        """The signer, or None when DKIM is off; raises ConfigError naming the setting
        when the key cannot be read or used."""
        if settings.dkim_key_file is None:
            return None
        if not settings.dkim_selector or not settings.dkim_domain:
            raise ConfigError(
                "R2P_DKIM_KEY_FILE is set: R2P_DKIM_SELECTOR and R2P_DKIM_DOMAIN are needed too"
            )
        try:
            key = settings.dkim_key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"R2P_DKIM_KEY_FILE: cannot read the key: {exc}") from None
        signer = cls(settings.dkim_selector.encode(), settings.dkim_domain.encode(), key)
        signer.check()
        return signer

    def check(self) -> None:
        """Raise ConfigError unless the key is a usable RSA private key (one signature is
        made with it)."""
        try:
            bits = parse_pem_private_key(self.private_key)["modulus"].bit_length()
        except Exception as exc:
            raise ConfigError(
                "R2P_DKIM_KEY_FILE: not an RSA private key in PEM form "
                f"({type(exc).__name__}); make one with `openssl genrsa -out dkim.pem 2048`"
            ) from None
        if bits < MIN_KEY_BITS:
            raise ConfigError(
                f"R2P_DKIM_KEY_FILE: the key has {bits} bits; receivers ignore DKIM keys "
                f"under {MIN_KEY_BITS} bits (use 2048)"
            )
        try:
            self.sign(_PROBE)
        except Exception as exc:
            raise ConfigError(
                f"R2P_DKIM_KEY_FILE: signing with the key fails: {type(exc).__name__}: {exc}"
            ) from None

    def sign(self, message: bytes) -> bytes:
        """``message`` with a DKIM-Signature header on top."""
        head = b"\r\n" + message.split(b"\r\n\r\n", 1)[0].lower()
        present = [h for h in SIGNED_HEADERS for _ in range(head.count(b"\r\n" + h + b":"))]
        signature = dkim.sign(
            message,
            self.selector,
            self.domain,
            self.private_key,
            canonicalize=CANONICALIZE,
            include_headers=present + OVERSIGNED,
        )
        return bytes(signature) + message


def strip_signature(message: bytes) -> bytes:
    """``message`` without the DKIM-Signature that ``DkimSigner.sign`` put on top (to sign
    it again once changed); a message without one is returned as it is."""
    if not message[:15].lower().startswith(b"dkim-signature:"):
        return message
    end = message.find(b"\r\n")
    while end != -1 and message[end + 2 : end + 3] in (b" ", b"\t"):
        end = message.find(b"\r\n", end + 2)
    return message if end == -1 else message[end + 2 :]
