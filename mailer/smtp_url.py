"""R2P_SMTP_URL: where mail goes and how it is protected, checked when settings load.

``smtps://user:pass@host:465`` (TLS from the start) or ``smtp://user:pass@host:587?starttls=true``
(STARTTLS required: a server, or a man in the middle, that does not offer it gets no
password and no mail). Credentials are refused on plain ``smtp://`` unless the URL says
both ``starttls=false`` and ``allow_plaintext_auth=true`` (a relay on a trusted network).
Without credentials and without ``starttls``, STARTTLS is used when the server offers it.
No message here ever quotes the URL: it holds the password.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from mailer.errors import ConfigError

SHAPE = "must look like smtp://user:pass@host:587?starttls=true or smtps://user:pass@host:465"
PARAMETERS = ("starttls", "allow_plaintext_auth")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True)
class SMTPTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    # True: STARTTLS or fail; False: never; None: if offered (only without credentials).
    start_tls: bool | None
    timeout: float

    def __str__(self) -> str:  # never shows the password
        return f"{'smtps' if self.use_tls else 'smtp'}://{self.host}:{self.port}"


class _Problem(Exception):
    pass


def _flag(query: dict[str, list[str]], name: str) -> bool | None:
    if name not in query:
        return None
    values = query[name]
    if len(values) != 1 or values[0].lower() not in _BOOLEANS:
        raise _Problem(f"{name} must be true or false")
    return _BOOLEANS[values[0].lower()]


def _parse(url: str, timeout: float) -> SMTPTarget:
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise _Problem(SHAPE)
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise _Problem("the port is not a number") from None
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - set(PARAMETERS))
    if unknown:
        raise _Problem(f"unknown parameter {unknown[0]!r} (known: {', '.join(PARAMETERS)})")
    starttls = _flag(query, "starttls")
    plaintext_auth = _flag(query, "allow_plaintext_auth")
    implicit_tls = parts.scheme == "smtps"
    if implicit_tls and starttls:
        raise _Problem("smtps:// is TLS from the start: drop starttls=true")
    credentials = parts.username is not None or parts.password is not None
    if credentials and not implicit_tls:
        if starttls is None:
            raise _Problem(
                "credentials need TLS: add ?starttls=true (port 587) or use smtps:// (port 465)"
            )
        if starttls is False and not plaintext_auth:
            raise _Problem(
                "starttls=false would send the password unencrypted: use starttls=true or "
                "smtps://, or add allow_plaintext_auth=true for a relay on a trusted network"
            )
    return SMTPTarget(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=implicit_tls,
        start_tls=False if implicit_tls else starttls,
        timeout=timeout,
    )


def smtp_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` (without quoting it), or None."""
    try:
        _parse(url, 30.0)
    except _Problem as problem:
        return str(problem)
    return None


def parse_smtp_url(url: str, timeout: float = 30.0) -> SMTPTarget:
    """The target of an R2P_SMTP_URL; ConfigError naming the variable if it is not valid."""
    try:
        return _parse(url, timeout)
    except _Problem as problem:
        raise ConfigError(f"R2P_SMTP_URL: {problem}") from None
