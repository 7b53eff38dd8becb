"""People: signup, double opt-in, preferences, unsubscribe, export and erasure (issue 3).

Data stages, each taking ``session`` keyword-only and never committing:
``addresses`` (check and normalise), ``choices`` (language, digest/alerts, topics from the
relevance rules), ``consent``, ``signup``, ``mails`` (confirmation and "manage" emails
through the outbox), ``lookup`` (signed links to subscribers), ``preferences`` (confirm,
change, unsubscribe), ``gdpr`` (export, erase), ``purge``, ``importer``.
Front ends: ``web`` (the reader's pages; ``csrf`` and ``ratelimit`` guard them) and
``cli`` (``r2p-mailer subscribers ...``).
"""
