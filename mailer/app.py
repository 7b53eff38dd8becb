"""The ASGI app factory (a composition root): the web routes, and for `r2p-mailer run` the
scheduler and a delivery worker tied to the app's lifespan, in one process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from jobs.deliver import DeliveryWorker
from jobs.runtime import Runtime
from jobs.scheduler import SchedulerHost
from mailer import __version__
from mailer.config import Settings
from mailer.db import make_engine, make_sessionmaker
from mailer.observe import health, metrics_text
from mailer.sending import make_sender
from subscribers.web import include as include_subscriber_pages

log = logging.getLogger(__name__)
SHUTDOWN_SECONDS = 30.0


def create_app(settings: Settings, *, with_services: bool = False) -> FastAPI:
    """The web app; ``with_services`` also runs the scheduler and a delivery worker."""
    engine = make_engine(settings.database)
    factory = make_sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks: list[asyncio.Task[Any]] = []
        worker: DeliveryWorker | None = None
        if with_services:
            worker = DeliveryWorker(settings, factory, make_sender(settings))
            app.state.wake_worker = worker.wake
            host = SchedulerHost(Runtime(settings, factory, worker.wake))
            tasks = [
                asyncio.create_task(worker.run(), name="delivery-worker"),
                asyncio.create_task(host.run(stop), name="scheduler"),
            ]
            app.state.services = tasks
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                worker.stop()
            if tasks:
                # Let the batch in flight finish and settle; give up after a bound.
                done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_SECONDS)
                for task in pending:
                    log.warning(
                        "%s did not stop in %ss; cancelling", task.get_name(), SHUTDOWN_SECONDS
                    )
                    task.cancel()
                for task in done:
                    if not task.cancelled() and task.exception() is not None:
                        log.error("%s failed: %r", task.get_name(), task.exception())
            engine.dispose()

    # No public /docs, /redoc or /openapi.json: the admin API's reference is at /admin/api
    # for logged-in admins (subscribers/web/admin/api_docs.py).
    app = FastAPI(
        title="r2p-mailer",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    # What route handlers need: read through request.app.state.
    app.state.settings = settings
    app.state.factory = factory
    # Called after a request queued mail; `run` points it at its in-process worker.
    app.state.wake_worker = lambda: None
    # The in-process worker and scheduler tasks (`run`), watched by /healthz.
    app.state.services = []

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """Database reachable, scheduler alive, queue depth and feed health."""
        try:
            with factory() as session:
                body = health(now=datetime.now(UTC), session=session)
        except Exception as exc:
            return JSONResponse(
                {
                    "version": __version__,
                    "status": "error",
                    "database": f"unreachable: {exc.__class__.__name__}",
                },
                status_code=503,
            )
        stopped = [t.get_name() for t in app.state.services if t.done()]
        if stopped:
            body.update(status="error", stopped=stopped)
            return JSONResponse({"version": __version__, **body}, status_code=503)
        return JSONResponse({"version": __version__, **body})

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        """Prometheus metrics: items ingested, deliveries by status, send rate, feeds."""
        with factory() as session:
            return PlainTextResponse(
                metrics_text(now=datetime.now(UTC), session=session),
                media_type="text/plain; version=0.0.4",
            )

    include_subscriber_pages(app)
    return app
