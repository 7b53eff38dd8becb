"""The ASGI app factory (a composition root): web routes plus, for `r2p-mailer run`, the
scheduler tied to the app's lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import func, select, text

from jobs.schedule import schedule_jobs
from mailer import __version__
from mailer.config import Settings
from mailer.db import make_engine, make_sessionmaker
from mailer.models import Source


def create_app(settings: Settings, *, with_scheduler: bool = False) -> FastAPI:
    engine = make_engine(settings.database)
    factory = make_sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        scheduler = AsyncIOScheduler(timezone="UTC")
        if with_scheduler:
            schedule_jobs(scheduler, settings, factory)
            scheduler.start()
        try:
            yield
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            engine.dispose()

    app = FastAPI(title="r2p-mailer", version=__version__, lifespan=lifespan)
    # What route handlers need: read through request.app.state.
    app.state.settings = settings
    app.state.factory = factory
    # Called after a request queued mail; `run` points it at its in-process worker.
    app.state.wake_worker = lambda: None

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """Database reachable, and the health of each feed source."""
        body: dict[str, Any] = {"version": __version__}
        try:
            with factory() as session:
                session.execute(text("SELECT 1"))
                failing = session.scalar(
                    select(func.count()).where(Source.enabled, Source.consecutive_failures > 0)
                )
                enabled = session.scalar(select(func.count()).where(Source.enabled))
        except Exception as exc:
            body.update(status="error", database=f"unreachable: {exc.__class__.__name__}")
            return JSONResponse(body, status_code=503)
        body.update(status="ok", database="ok", feeds={"enabled": enabled, "failing": failing})
        return JSONResponse(body)

    return app
