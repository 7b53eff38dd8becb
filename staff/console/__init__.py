"""The staff console (/admin: login, dashboard, alerts, campaigns, digest preview and review,
Maildir, audit log, subscribers, feeds and items, campaign reports, staff accounts) and the
JSON admin API (/api/, ``staff.api``).

``include(app)`` adds both to the app ``service.app.create_app`` builds; the API's token
is checked by a middleware, before any request body is read.
"""

from __future__ import annotations

from fastapi import FastAPI

from mailer.web.site import add_routes
from staff import api
from staff.actions.actor import NotAllowedError
from staff.api.auth import ApiAuthentication
from staff.console import (
    account_pages,
    alert_compose,
    alert_confirm,
    alert_edit,
    alert_pages,
    alert_review,
    alert_translations,
    api_docs,
    audit_pages,
    dashboard,
    digest_preview,
    digest_review,
    feed_pages,
    import_pages,
    item_pages,
    login,
    login_code,
    mail_pages,
    password_pages,
    reader_pages,
    report_pages,
    subscriber_pages,
    twofactor_pages,
)
from staff.console.auth import (
    EnrolmentRequiredError,
    LoginRequiredError,
    enrolment_required_handler,
    login_required_handler,
)
from staff.console.views import not_allowed_handler


def include(app: FastAPI) -> None:
    login.install(app)
    app.add_middleware(ApiAuthentication)
    app.add_exception_handler(LoginRequiredError, login_required_handler)
    app.add_exception_handler(EnrolmentRequiredError, enrolment_required_handler)
    app.add_exception_handler(NotAllowedError, not_allowed_handler)
    for module in (
        login,
        login_code,
        password_pages,
        twofactor_pages,
        account_pages,
        dashboard,
        alert_compose,
        alert_pages,
        alert_edit,
        alert_confirm,
        alert_review,
        alert_translations,
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
        add_routes(app, module.router)
    add_routes(app, api.router)
