"""The staff console (/admin: login, dashboard, alerts, campaigns, digest preview and review,
Maildir, audit log, subscribers, feeds and items, campaign reports) and the JSON admin API
(/api/, ``staff.api``).

``include(app)`` adds both to the app ``service.app.create_app`` builds; the API's token
is checked by a middleware, before any request body is read.
"""

from __future__ import annotations

from fastapi import FastAPI

from staff import api
from staff.api.auth import ApiAuthentication
from staff.console import (
    alert_compose,
    alert_confirm,
    alert_edit,
    alert_pages,
    alert_review,
    api_docs,
    audit_pages,
    dashboard,
    digest_preview,
    digest_review,
    feed_pages,
    import_pages,
    item_pages,
    login,
    mail_pages,
    reader_pages,
    report_pages,
    subscriber_pages,
)
from staff.console.auth import LoginRequiredError, login_required_handler


def include(app: FastAPI) -> None:
    login.install(app)
    app.add_middleware(ApiAuthentication)
    app.add_exception_handler(LoginRequiredError, login_required_handler)
    for module in (
        login,
        dashboard,
        alert_compose,
        alert_pages,
        alert_edit,
        alert_confirm,
        alert_review,
        digest_preview,
        digest_review,
        mail_pages,
        audit_pages,
        subscriber_pages,
        import_pages,
        reader_pages,
        report_pages,
        feed_pages,
        item_pages,
        api_docs,
    ):
        app.include_router(module.router)
    app.include_router(api.router)
