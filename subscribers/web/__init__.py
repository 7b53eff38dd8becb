"""The reader's web pages: signup form, confirmation, preferences, unsubscribe, GDPR,
the public digest archive, and the relay services' bounce webhooks.

``include(app)`` adds them to the app built by ``service.app.create_app``, which provides
``app.state.settings``, ``app.state.factory`` and ``app.state.wake_worker`` and installs
the shared plumbing (``mailer.web.site.install``).
"""

from __future__ import annotations

from fastapi import FastAPI

from mailer.bounces.relays import REFUSALS_WINDOW, TOKEN_WINDOW
from mailer.bounces.sns import MESSAGE_WINDOW, Certificates
from mailer.web.ratelimit import RateLimiter
from mailer.web.site import add_routes
from subscribers.web import archive, manage, signup, test_link, webhooks


def include(app: FastAPI) -> None:
    settings = app.state.settings
    app.state.signup_limiter = RateLimiter(
        "signup",
        settings.signup_rate_limit,
        settings.signup_rate_window,
        factory=app.state.factory,
        secret=settings.signing_key,
    )
    # The relays' webhooks: refused posts per network; Mailgun's tokens, SendGrid's
    # signatures and SNS's message ids, each once; SNS's signing certificates.
    app.state.webhook_refusals = RateLimiter(
        "webhook-refused",
        webhooks.REFUSALS_LIMIT,
        REFUSALS_WINDOW,
        factory=app.state.factory,
        secret=settings.signing_key,
    )
    app.state.webhook_seen = {
        provider: RateLimiter(
            key,
            1,
            MESSAGE_WINDOW if provider == "ses" else TOKEN_WINDOW,
            factory=app.state.factory,
            secret=settings.signing_key,
        )
        for provider, key in webhooks.SEEN_KEYS.items()
    }
    app.state.sns_certificates = Certificates()
    add_routes(app, signup.router)
    add_routes(app, manage.router)
    add_routes(app, archive.router)
    add_routes(app, test_link.router)
    add_routes(app, webhooks.router)
