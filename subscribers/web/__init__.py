"""The reader's web pages: signup form, confirmation, preferences, unsubscribe, GDPR,
and the public digest archive.

``include(app)`` adds them to the app built by ``mailer.app.create_app``, which provides
``app.state.settings``, ``app.state.factory`` and ``app.state.wake_worker``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from subscribers.ratelimit import RateLimiter
from subscribers.web import admin, archive, errors, manage, signup
from subscribers.web.pages import STATIC_DIR
from subscribers.web.redact import redact_access_log


def include(app: FastAPI) -> None:
    settings = app.state.settings
    app.state.signup_limiter = RateLimiter(
        "signup",
        settings.signup_rate_limit,
        settings.signup_rate_window,
        factory=app.state.factory,
        secret=settings.signing_key,
    )
    errors.install(app)
    app.include_router(signup.router)
    app.include_router(manage.router)
    app.include_router(archive.router)
    admin.include(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        """Where browsers look first (pages also name the SVG version)."""
        return FileResponse(
            STATIC_DIR / "favicon.ico",
            media_type="image/x-icon",
            headers={"Cache-Control": "public, max-age=604800"},
        )

    redact_access_log()
