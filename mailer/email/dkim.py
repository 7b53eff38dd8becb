"""Optional DKIM signing (dkimpy), on when R2P_DKIM_KEY_FILE, _SELECTOR and _DOMAIN are set.

The signature covers the unsubscribe headers, so a relay cannot strip or alter them.
"""

from __future__ import annotations

from dataclasses import dataclass

import dkim

from mailer.config import Settings
from mailer.errors import ConfigError

SIGNED_HEADERS = [
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
]


@dataclass(frozen=True)
class DkimSigner:
    selector: bytes
    domain: bytes
    private_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimSigner | None:
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
        return cls(settings.dkim_selector.encode(), settings.dkim_domain.encode(), key)

    def sign(self, message: bytes) -> bytes:
        head = message.split(b"\r\n\r\n", 1)[0].lower()
        present = [h for h in SIGNED_HEADERS if b"\r\n" + h + b":" in b"\r\n" + head]
        signature = dkim.sign(
            message, self.selector, self.domain, self.private_key, include_headers=present
        )
        return bytes(signature) + message
