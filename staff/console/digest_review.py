"""The draft digest issue under review (/admin/digest/review): the issue as a chosen
reader will get it (a framed preview and its plain text), every story with its buttons
(remove or restore, move up or down, make it the lead, reword it for this issue), the
editor's note, a test to oneself, approval for the slot, and sending it now. Every
button is a POST form with its CSRF field (the console runs no script) and one audited
action (``staff.actions.digest``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from jobs.schedule import last_digest_slot, next_digest_slot
from mailer import i18n
from mailer.config import Settings
from mailer.db import session_scope
from mailer.digest import iso_period
from mailer.digest_draft import editor_sections, latest_draft, preview_issue, review_state
from mailer.digest_review import Edits
from mailer.email.render import RenderedEmail, preview_values
from mailer.errors import MailerError
from mailer.models import Campaign
from mailer.outbox.campaigns import CampaignStateError
from mailer.web.pages import factory_of, settings_of, wake_worker
from staff.actions import digest
from staff.actions.actor import Actor
from staff.actions.digest import Editing
from staff.console.auth import admin_csrf_ok, require_admin
from staff.console.session import AdminIdentity
from staff.console.views import EXPIRED_FORM, client_ip, email_html, page, problem, see_other
from subscribers.choices import vocabulary

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]
Csrf = Annotated[str, Form()]

PATH = "/admin/digest/review"
NO_DRAFT = "No digest issue is waiting for review: the scheduler prepares the next one."
NOTHING_FOR_PROFILE = "Nothing in this issue is for such a reader: they get no digest."
DONE = {
    "edited": "Saved. The preview shows the issue as edited.",
    "tested": "A test is on its way to you.",
    "approved": "Approved: the issue goes out at its scheduled time.",
    "sent": "The issue is going out now.",
}
STORY_ACTIONS = ("remove", "restore", "up", "down", "lead")
MOVES = {"up": -1, "down": 1}


def issue_slot(campaign: Campaign, settings: Settings, now: datetime) -> datetime:
    """When the issue is (or was) due: the slot of its ISO week."""
    last = last_digest_slot(settings, now)
    if iso_period(last, settings.digest_timezone) == campaign.context["period"]:
        return last
    return next_digest_slot(settings, now)


def profiles(campaign: Campaign, settings: Settings) -> list[tuple[str, str]]:
    """(value, label) of the readers an editor can preview as: everything, then one per
    topic of the vocabulary."""
    known = vocabulary(settings.relevance_file)
    topics = [(t.tag, t.label) for t in (*known.themes, *known.countries)]
    return [("", "A reader who follows everything"), *topics]


def _topics(profile: str) -> list[str]:
    return [profile] if profile else []


def preview_language(lang: str) -> str:
    """The language a preview is in: one of the six (``?lang=fr``), else English."""
    return i18n.supported(lang) or i18n.DEFAULT


def _draft_view(
    campaign: Campaign,
    profile: str,
    admin: str,
    *,
    settings: Settings,
    session: Session,
    language: str = i18n.DEFAULT,
) -> dict[str, Any]:
    rendered = preview_issue(
        campaign, _topics(profile), settings=settings, session=session, language=language
    )
    if rendered is not None:
        rendered = rendered.with_slots(preview_values(settings, admin))
    edits = Edits.of(campaign.context)
    return {
        "campaign": campaign,
        "state": review_state(campaign),
        "slot": issue_slot(campaign, settings, datetime.now(UTC)),
        "sections": editor_sections(campaign, settings=settings, session=session),
        "edits": edits,
        "email": rendered,
        "profiles": profiles(campaign, settings),
        "profile": profile,
        "languages": i18n.LANGUAGE_NAMES,
        "language": language,
        "nothing_for_profile": NOTHING_FOR_PROFILE,
    }


def _review_page(
    request: Request,
    admin: AdminIdentity,
    *,
    profile: str = "",
    notice: str = "",
    error: str = "",
    status: int = 200,
    language: str = i18n.DEFAULT,
) -> Response:
    settings = settings_of(request)
    with session_scope(factory_of(request)) as session:
        campaign = latest_draft(session=session)
        if campaign is None:
            return page(
                request,
                "message.html",
                {"title": "Digest review", "message": NO_DRAFT},
                admin=admin,
                section="dashboard",
            )
        context = _draft_view(
            campaign, profile, admin.email, settings=settings, session=session, language=language
        )
    context |= {"notice": notice, "errors": {"form": error} if error else {}}
    return page(
        request, "digest_review.html", context, admin=admin, section="dashboard", status=status
    )


@router.get(PATH)
def show(
    request: Request, admin: Admin, profile: str = "", done: str = "", lang: str = ""
) -> Response:
    return _review_page(
        request,
        admin,
        profile=profile,
        notice=DONE.get(done, ""),
        language=preview_language(lang),
    )


@router.get(f"{PATH}/preview.html")
def preview_html(request: Request, admin: Admin, profile: str = "", lang: str = "") -> Response:
    """The draft's HTML as the chosen reader gets it (their links stand in), for the frame."""
    settings = settings_of(request)
    with session_scope(factory_of(request)) as session:
        campaign = latest_draft(session=session)
        rendered: RenderedEmail | None = None
        if campaign is not None:
            rendered = preview_issue(
                campaign,
                _topics(profile),
                settings=settings,
                session=session,
                language=preview_language(lang),
            )
    if rendered is None:
        return problem(request, admin, "Nothing to preview", NOTHING_FOR_PROFILE, 404)
    return email_html(rendered.with_slots(preview_values(settings, admin.email)).html)


def _act(
    request: Request,
    admin: AdminIdentity,
    campaign_id: int,
    csrf_token: str,
    action: Callable[[Campaign, Editing], Any],
    *,
    profile: str = "",
) -> Response | None:
    """Run one button's action on the draft in its own transaction; the page with the
    reason when the form is stale, the issue is gone or was sent already."""
    if not admin_csrf_ok(request, csrf_token):
        return _review_page(request, admin, profile=profile, error=EXPIRED_FORM, status=400)
    actor = Actor.web(admin.email, client_ip(request))
    with session_scope(factory_of(request)) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.kind != "digest":
            return problem(
                request, admin, "No such issue", f"There is no issue {campaign_id}.", 404
            )
        try:
            action(campaign, Editing(actor, settings_of(request), datetime.now(UTC), session))
        except CampaignStateError as exc:
            session.rollback()
            return _review_page(
                request, admin, profile=profile, error=f"Not done: {exc}.", status=409
            )
    return None


def _edited(
    request: Request,
    admin: AdminIdentity,
    campaign_id: int,
    csrf_token: str,
    change: Callable[[Campaign, Editing], None],
    profile: str,
) -> Response:
    """An edit's button: back to the page (as the same reader) once it is saved."""
    failed = _act(request, admin, campaign_id, csrf_token, change, profile=profile)
    return failed or _back(profile, "edited")


def _back(profile: str, done: str) -> Response:
    query = {"done": done, **({"profile": profile} if profile else {})}
    return see_other(f"{PATH}?{urlencode(query)}")


@router.post(f"{PATH}/{{campaign_id}}/stories/{{story}}")
def story_action(
    request: Request,
    admin: Admin,
    campaign_id: int,
    story: int,
    action: Annotated[str, Form()] = "",
    profile: Annotated[str, Form()] = "",
    csrf_token: Csrf = "",
) -> Response:
    """Remove, restore, move up, move down, or make the lead story."""
    if action not in STORY_ACTIONS:
        return problem(request, admin, "Unknown action", f"No such action: {action[:40]}", 400)

    def change(campaign: Campaign, by: Editing) -> None:
        if action in MOVES:
            digest.move_story(campaign, story, MOVES[action], by=by)
        elif action == "lead":
            digest.lead_story(campaign, story, by=by)
        else:
            digest.remove_story(campaign, story, removed=action == "remove", by=by)

    return _edited(request, admin, campaign_id, csrf_token, change, profile)


@router.post(f"{PATH}/{{campaign_id}}/words")
def words(
    request: Request,
    admin: Admin,
    campaign_id: int,
    story: Annotated[int | None, Form()] = None,
    title: Annotated[str, Form()] = "",
    summary: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    profile: Annotated[str, Form()] = "",
    csrf_token: Csrf = "",
) -> Response:
    """The issue's own words: a story's title and summary (with ``story``), else the
    editor's note."""

    def change(campaign: Campaign, by: Editing) -> None:
        if story is not None:
            digest.reword_story(campaign, story, title=title, summary=summary, by=by)
            return
        digest.write_note(campaign, note, by=by)

    return _edited(request, admin, campaign_id, csrf_token, change, profile)


@router.post(f"{PATH}/{{campaign_id}}/test")
def send_test(
    request: Request,
    admin: Admin,
    campaign_id: int,
    profile: Annotated[str, Form()] = "",
    csrf_token: Csrf = "",
) -> Response:
    """Send the issue, as the chosen reader gets it and marked [TEST], to the admin only."""
    outcome: list[str] = []

    def test(campaign: Campaign, by: Editing) -> None:
        result = digest.send_test(campaign, admin.email, _topics(profile), by=by)
        if result is None:
            outcome.append(NOTHING_FOR_PROFILE)
        elif result.verdict != "sent":
            outcome.append(f"The mail server did not accept the test: {result.code} {result.reply}")

    try:
        failed = _act(request, admin, campaign_id, csrf_token, test, profile=profile)
    except (MailerError, OSError) as exc:
        log.warning("digest test could not be sent: %s", exc.__class__.__name__)
        error = f"The test could not be sent: {exc}. Check R2P_SMTP_URL and the mail server."
        return _review_page(request, admin, profile=profile, error=error, status=502)
    if failed is not None:
        return failed
    if outcome:
        return _review_page(request, admin, profile=profile, error=outcome[0], status=502)
    return _back(profile, "tested")


def _release(
    request: Request, admin: AdminIdentity, campaign_id: int, csrf_token: str, *, at_once: bool
) -> Response:
    queued: list[int] = []

    def act(campaign: Campaign, by: Editing) -> None:
        queued.append(digest.release_issue(campaign, at_once=at_once, by=by))

    failed = _act(request, admin, campaign_id, csrf_token, act)
    if failed is not None:
        return failed
    if queued and queued[0]:
        wake_worker(request)  # after the commit, or the worker would find nothing
        return see_other("/admin/campaigns")
    return _back("", "approved")


@router.post(f"{PATH}/{{campaign_id}}/approve")
def approve(request: Request, admin: Admin, campaign_id: int, csrf_token: Csrf = "") -> Response:
    """Approve for the scheduled time (an issue already held goes out now)."""
    return _release(request, admin, campaign_id, csrf_token, at_once=False)


@router.post(f"{PATH}/{{campaign_id}}/send")
def send_now(request: Request, admin: Admin, campaign_id: int, csrf_token: Csrf = "") -> Response:
    return _release(request, admin, campaign_id, csrf_token, at_once=True)


def next_issue(settings: Settings, now: datetime, *, session: Session) -> dict[str, Any]:
    """What the dashboard says of the next issue: when it goes out and where it stands
    (preparing: no draft yet; in review; approved; held)."""
    draft = latest_draft(session=session)
    if draft is None:
        return {"slot": next_digest_slot(settings, now), "state": "preparing", "draft": None}
    return {"slot": issue_slot(draft, settings, now), "state": review_state(draft), "draft": draft}
