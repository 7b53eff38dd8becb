"""The one exception tree: every message tells the operator what to check."""

from __future__ import annotations


class MailerError(Exception):
    """Base of every error r2p-mailer raises on purpose."""


class ConfigError(MailerError):
    """A setting is missing or has a bad value; the message names the variable."""


class MessageError(MailerError):
    """A message cannot be built safely: a header value or an address would break a line."""


class NoDatabaseError(MailerError):
    """The SQLite file does not exist and this command does not create one (only init does)."""


class SourceError(MailerError):
    """A feed source cannot be added or changed as asked."""


class ItemError(MailerError):
    """A stored item cannot be found or changed as asked."""


class FetchError(MailerError):
    """A feed could not be fetched; the message says why in operator terms."""


class UnsafeURLError(FetchError):
    """A feed URL points somewhere the poller refuses to go."""


class FeedTooLargeError(FetchError):
    """A feed body (after decompression) is larger than R2P_FEED_MAX_BYTES."""


class FeedParseError(MailerError):
    """A fetched body is not a feed we can read, or is a hostile XML document."""
