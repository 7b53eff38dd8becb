"""What the app serves that is not a page of the readers' or the staff's: ``install(app)``
adds the error pages, ``/static`` and ``/favicon.ico``, and the access-log redaction;
``add_routes`` puts a module's router on the app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from mailer.web import errors
from mailer.web.pages import STATIC_DIR
from mailer.web.redact import redact_access_log


def install(app: FastAPI) -> None:
    errors.install(app)
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


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes on the app, as they were built when their module was imported:
    what ``app.include_router(router)`` with no options serves, without the inclusion's
    lazy copy of every route, which FastAPI builds again (dependencies, body models) for
    each app on its first request (~0.1 s a process with one app; every test builds an
    app of its own). A router's prefix, tags and dependencies are already in its routes."""
    app.router.routes.extend(router.routes)
