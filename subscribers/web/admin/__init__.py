"""The admin console (/admin: login, dashboard, alerts, campaigns, digest preview,
Maildir, audit log, subscribers) and the JSON admin API (/api/).

``include(app)`` adds both to the app that ``subscribers.web.include`` sets up; the API's
token is checked by a middleware, before any request body is read.
"""

from __future__ import annotations

from fastapi import FastAPI

from subscribers.web.admin import (
    alert_compose,
    alert_pages,
    api,
    api_docs,
    audit_pages,
    dashboard,
    digest_preview,
    login,
    mail_pages,
    subscriber_pages,
)
from subscribers.web.admin.api.auth import ApiAuthentication
from subscribers.web.admin.auth import LoginRequiredError, login_required_handler


def include(app: FastAPI) -> None:
    login.install(app)
    app.add_middleware(ApiAuthentication)
    app.add_exception_handler(LoginRequiredError, login_required_handler)
    for module in (
        login,
        dashboard,
        alert_compose,
        alert_pages,
        digest_preview,
        mail_pages,
        audit_pages,
        subscriber_pages,
        api_docs,
    ):
        app.include_router(module.router)
    app.include_router(api.router)
