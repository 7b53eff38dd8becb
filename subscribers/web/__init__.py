"""The reader's web pages: signup form, confirmation, preferences, unsubscribe, GDPR,
and the public digest archive.

``include(app)`` adds them to the app built by ``service.app.create_app``, which provides
``app.state.settings``, ``app.state.factory`` and ``app.state.wake_worker`` and installs
the shared plumbing (``mailer.web.site.install``).
"""

from __future__ import annotations

from fastapi import FastAPI

from mailer.web.ratelimit import RateLimiter
from subscribers.web import archive, manage, signup, test_link


def include(app: FastAPI) -> None:
    settings = app.state.settings
    app.state.signup_limiter = RateLimiter(
        "signup",
        settings.signup_rate_limit,
        settings.signup_rate_window,
        factory=app.state.factory,
        secret=settings.signing_key,
    )
    app.include_router(signup.router)
    app.include_router(manage.router)
    app.include_router(archive.router)
    app.include_router(test_link.router)
