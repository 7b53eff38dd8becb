"""Pages reached from links in emails: confirm, preferences, unsubscribe, data and deletion.

Each link carries a signed token for one purpose (``mailer.tokens``). A GET never changes
anything: mail scanners follow links, so confirming needs the confirmation page's button
and unsubscribing the unsubscribe page's (POSTs with a CSRF token), or the RFC 8058
one-click POST a mailbox provider sends, which is authenticated by the token in the URL
alone. The data download is not on the preferences page (its link is in every digest and
may be forwarded): the page emails the reader a one-hour ``/data/`` link instead.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.orm import Session

from mailer import i18n
from mailer.db import session_scope
from mailer.i18n import N_
from mailer.models import Subscriber
from mailer.outbox.status import SubscriberStatus
from mailer.tokens import Purpose, make_token
from mailer.web.pages import (
    SECURITY_HEADERS,
    csrf_ok,
    factory_of,
    page_language,
    settings_of,
    wake_worker,
)
from subscribers.choices import ChoiceError, Described, vocabulary
from subscribers.consent import FORM_SENTENCE, Consent, open_request
from subscribers.gdpr import erase, export_data
from subscribers.lookup import LinkError, LinkExpiredError, LinkGoneError, subscriber_for_link
from subscribers.mails import choices_of, queue_data_link
from subscribers.preferences import awaits_confirmation, confirm, save_choices, unsubscribe
from subscribers.signup import request_signup
from subscribers.web.forms import CHECKED, ChoiceFields, render_with_choices
from subscribers.web.signup import EXPIRED_FORM

log = logging.getLogger(__name__)
router = APIRouter()

ONE_CLICK = "One-Click"


def _link_problem(request: Request, exc: LinkError) -> Response:
    if isinstance(exc, LinkExpiredError):
        problem, status = "expired", 410
    elif isinstance(exc, LinkGoneError):
        problem, status = "gone", 404
    else:
        problem, status = "invalid", 400
    return render_with_choices(
        request, "link_problem.html", {"problem": problem, "email": ""}, status=status
    )


def _preferences_page(
    request: Request,
    subscriber: Subscriber,
    *,
    fields: ChoiceFields | None = None,
    notice: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    settings = settings_of(request)
    context: dict[str, Any] = {
        "email": subscriber.email,
        "status": subscriber.status,
        "fields": fields or ChoiceFields.of(subscriber),
        "receives": Described(choices_of(subscriber), vocabulary(settings.relevance_file)),
        "reader_language": subscriber.language,
        "manage_token": make_token(settings, Purpose.MANAGE, subscriber.link_secret),
        "unsubscribe_token": make_token(settings, Purpose.UNSUBSCRIBE, subscriber.link_secret),
        "consent_text": FORM_SENTENCE,
        "notice": notice,
        "errors": errors or {},
    }
    return render_with_choices(request, "preferences.html", context, status=status)


def _shown_sentence(request: Request, reader_language: str) -> str:
    """The consent sentence as the page showed it, in the page's language."""
    with i18n.use_language(page_language(request, reader_language)):
        return i18n.gettext(FORM_SENTENCE)


def _confirm_page(
    request: Request,
    subscriber: Subscriber,
    token: str,
    *,
    session: Session,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    waiting = open_request(subscriber.id, session=session)
    choices = choices_of(waiting) if waiting is not None else choices_of(subscriber)
    context = {
        "email": subscriber.email,
        "receives": Described(choices, vocabulary(settings_of(request).relevance_file)),
        "reader_language": choices.language,
        "token": token,
        "errors": errors or {},
    }
    return render_with_choices(request, "confirm.html", context, status=status)


@router.get("/confirm/{token}")
def confirm_link(request: Request, token: str) -> Response:
    """The page with the confirmation button; opening it changes nothing."""
    with session_scope(factory_of(request)) as session:
        try:
            subscriber = subscriber_for_link(
                settings_of(request), Purpose.CONFIRM, token, session=session
            )
        except LinkError as exc:
            return _link_problem(request, exc)
        if awaits_confirmation(subscriber, session=session):
            return _confirm_page(request, subscriber, token, session=session)
    notice = (
        N_("Your subscription was already confirmed.")
        if subscriber.status == SubscriberStatus.ACTIVE
        else ""
    )
    return _preferences_page(request, subscriber, notice=notice)


@router.post("/confirm/{token}")
def confirm_post(request: Request, token: str, csrf_token: Annotated[str, Form()] = "") -> Response:
    with session_scope(factory_of(request)) as session:
        try:
            subscriber = subscriber_for_link(
                settings_of(request), Purpose.CONFIRM, token, session=session, lock=True
            )
        except LinkError as exc:
            return _link_problem(request, exc)
        if not csrf_ok(request, csrf_token):
            errors = {"form": EXPIRED_FORM}
            return _confirm_page(
                request, subscriber, token, session=session, errors=errors, status=400
            )
        confirmed = confirm(subscriber, now=datetime.now(UTC), session=session)
    if confirmed:
        log.info("subscriber %d confirmed", subscriber.id)
        notice = N_("Thank you: your subscription is confirmed.")
    elif subscriber.status == SubscriberStatus.ACTIVE:
        notice = N_("Your subscription was already confirmed.")
    else:
        notice = ""
    return _preferences_page(request, subscriber, notice=notice)


@router.get("/preferences/{token}")
def preferences(request: Request, token: str) -> Response:
    with session_scope(factory_of(request)) as session:
        try:
            subscriber = subscriber_for_link(
                settings_of(request), Purpose.MANAGE, token, session=session
            )
        except LinkError as exc:
            return _link_problem(request, exc)
    return _preferences_page(request, subscriber)


@router.post("/preferences/{token}")
def save_preferences(
    request: Request,
    token: str,
    language: Annotated[str, Form()] = "en",
    digest: Annotated[str, Form()] = "",
    alerts: Annotated[str, Form()] = "",
    topics_mode: Annotated[str, Form()] = "all",
    topics: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    english: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    settings = settings_of(request)
    fields = ChoiceFields.submitted(
        language=language,
        digest=digest,
        alerts=alerts,
        topics_mode=topics_mode,
        topics=topics,
        english=english,
    )
    now = datetime.now(UTC)
    with session_scope(factory_of(request)) as session:
        try:
            subscriber = subscriber_for_link(
                settings, Purpose.MANAGE, token, session=session, lock=True
            )
        except LinkError as exc:
            return _link_problem(request, exc)
        if not csrf_ok(request, csrf_token):
            errors = {"form": EXPIRED_FORM}
            return _preferences_page(request, subscriber, fields=fields, errors=errors, status=400)
        try:
            choices = fields.choices(vocabulary(settings.relevance_file))
        except ChoiceError as exc:
            errors = {exc.field: str(exc)}
            return _preferences_page(request, subscriber, fields=fields, errors=errors, status=400)
        if subscriber.status == SubscriberStatus.ACTIVE:
            save_choices(subscriber, choices, session=session)
            return _preferences_page(request, subscriber, notice=N_("Your choices are saved."))
        # The link is in every old digest and may have been forwarded: coming back after an
        # opt-out is a signup request, confirmed from the mailbox itself.
        consent = Consent(
            at=now,
            form=f"{settings.consent_form_version}/preferences",
            text=_shown_sentence(request, subscriber.language),
            ip=request.client.host if request.client else "",
            user_agent=request.headers.get("user-agent", ""),
        )
        signup = request_signup(
            subscriber.email, choices, consent, settings=settings, now=now, session=session
        )
    if signup.mailed:
        wake_worker(request)
    notice = (
        "We sent you an email: press the button in it and your subscription starts again "
        "with these choices."
    )
    return _preferences_page(request, subscriber, notice=notice)


@router.post("/preferences/{token}/export")
def email_my_data(
    request: Request, token: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Send the reader a short-lived link to download their data (never the data here)."""
    settings = settings_of(request)
    with session_scope(factory_of(request)) as session:
        try:
            subscriber = subscriber_for_link(settings, Purpose.MANAGE, token, session=session)
        except LinkError as exc:
            return _link_problem(request, exc)
        if not csrf_ok(request, csrf_token):
            return _preferences_page(request, subscriber, errors={"data": EXPIRED_FORM}, status=400)
        mailed = queue_data_link(
            subscriber, settings=settings, now=datetime.now(UTC), session=session
        )
    if mailed:
        wake_worker(request)
    notice = N_("We sent you an email with a link to download your data. It works for one hour.")
    return _preferences_page(request, subscriber, notice=notice)


@router.get("/data/{token}")
def data_page(request: Request, token: str) -> Response:
    with session_scope(factory_of(request)) as session:
        try:
            subscriber = subscriber_for_link(
                settings_of(request), Purpose.DATA, token, session=session
            )
        except LinkError as exc:
            return _link_problem(request, exc)
    context = {"email": subscriber.email, "token": token, "reader_language": subscriber.language}
    return render_with_choices(request, "data.html", context)


@router.post("/data/{token}")
def download_data(
    request: Request, token: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    with session_scope(factory_of(request)) as session:
        try:
            subscriber = subscriber_for_link(
                settings_of(request), Purpose.DATA, token, session=session
            )
        except LinkError as exc:
            return _link_problem(request, exc)
        if not csrf_ok(request, csrf_token):
            context = {
                "email": subscriber.email,
                "token": token,
                "errors": {"form": EXPIRED_FORM},
                "reader_language": subscriber.language,
            }
            return render_with_choices(request, "data.html", context, status=400)
        data = export_data(subscriber, session=session)
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": 'attachment; filename="r2p-news-my-data.json"',
    }
    return JSONResponse(data, headers=headers)


@router.post("/preferences/{token}/delete")
def delete_me(
    request: Request,
    token: str,
    confirm_delete: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    with session_scope(factory_of(request)) as session:
        try:
            subscriber = subscriber_for_link(
                settings_of(request), Purpose.MANAGE, token, session=session, lock=True
            )
        except LinkError as exc:
            return _link_problem(request, exc)
        if not csrf_ok(request, csrf_token):
            return _preferences_page(
                request, subscriber, errors={"delete": EXPIRED_FORM}, status=400
            )
        if confirm_delete != CHECKED:
            errors = {"delete": N_("Tick the box to confirm that you want your data deleted.")}
            return _preferences_page(request, subscriber, errors=errors, status=400)
        language = subscriber.language
        erase(subscriber, now=datetime.now(UTC), session=session)
    log.info("a subscriber erased their data")
    return render_with_choices(request, "deleted.html", {"reader_language": language})


@router.get("/unsubscribe/{token}")
def unsubscribe_page(request: Request, token: str) -> Response:
    with session_scope(factory_of(request)) as session:
        try:
            subscriber = subscriber_for_link(
                settings_of(request), Purpose.UNSUBSCRIBE, token, session=session
            )
        except LinkError as exc:
            return _link_problem(request, exc)
    return render_with_choices(
        request,
        "unsubscribe.html",
        {
            "email": subscriber.email,
            "status": subscriber.status,
            "token": token,
            "reader_language": subscriber.language,
        },
    )


@router.post("/unsubscribe/{token}")
def unsubscribe_post(
    request: Request,
    token: str,
    list_unsubscribe: Annotated[str, Form(alias="List-Unsubscribe")] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """The page's button (CSRF-checked) and the RFC 8058 one-click POST (token only)."""
    one_click = list_unsubscribe == ONE_CLICK
    settings = settings_of(request)
    with session_scope(factory_of(request)) as session:
        try:
            subscriber = subscriber_for_link(
                settings, Purpose.UNSUBSCRIBE, token, session=session, lock=True
            )
        except LinkGoneError as exc:
            if one_click:  # nobody left to mail: the request is already satisfied
                return PlainTextResponse("This address is not subscribed.", 200)
            return _link_problem(request, exc)
        except LinkError as exc:
            if one_click:
                return PlainTextResponse(f"Not unsubscribed: {exc}.", 400)
            return _link_problem(request, exc)
        if not one_click and not csrf_ok(request, csrf_token):
            return render_with_choices(
                request,
                "unsubscribe.html",
                {
                    "email": subscriber.email,
                    "status": subscriber.status,
                    "token": token,
                    "errors": {"form": EXPIRED_FORM},
                    "reader_language": subscriber.language,
                },
                status=400,
            )
        unsubscribe(
            subscriber,
            now=datetime.now(UTC),
            session=session,
            how="one-click" if one_click else "unsubscribe",
        )
    log.info("subscriber %d unsubscribed%s", subscriber.id, " (one-click)" if one_click else "")
    if one_click:
        return PlainTextResponse("You are unsubscribed.", 200, headers=SECURITY_HEADERS)
    manage = make_token(settings, Purpose.MANAGE, subscriber.link_secret)
    context = {"manage_token": manage, "reader_language": subscriber.language}
    return render_with_choices(request, "unsubscribed.html", context)
