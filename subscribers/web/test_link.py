"""Where the reader links of a test email lead: a page saying the mail was a test and what
the link does in the mail readers get, instead of "This link is not valid".

A test email (``mailer.email.compose.test_copy``) carries a signed, expiring token that
names no reader, so these pages change nothing. A mailbox provider's RFC 8058 one-click
POST to the test's List-Unsubscribe address is answered the same way.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from mailer.email.compose import TEST_LINK_PAGES
from mailer.i18n import N_
from mailer.tokens import TEST_LINK_MAX_AGE, TokenError, TokenExpiredError, read_test_token
from mailer.web.pages import SECURITY_HEADERS, settings_of
from subscribers.web.forms import render_with_choices

router = APIRouter()

# What each link does in the mail readers get (translated on the page).
DOES = {
    "preferences": N_(
        "opens the reader's own page to change what they receive "
        "(digest, alerts, topics, language) or to delete their data"
    ),
    "unsubscribe": N_("opens a page where the reader unsubscribes with one button"),
    "confirm": N_("confirms the reader's subscription"),
    "data": N_("downloads a copy of the data we hold about the reader"),
}


def _problem(request: Request, exc: TokenError) -> Response:
    problem, status = ("expired", 410) if isinstance(exc, TokenExpiredError) else ("invalid", 400)
    return render_with_choices(
        request, "link_problem.html", {"problem": problem, "email": ""}, status=status
    )


@router.get("/test-link/{page}/{token}")
def test_link(request: Request, page: str, token: str) -> Response:
    if page not in TEST_LINK_PAGES:
        return _problem(request, TokenError("no such page"))
    try:
        read_test_token(settings_of(request), token)
    except TokenError as exc:
        return _problem(request, exc)
    context = {"page": page, "does": DOES[page], "days": TEST_LINK_MAX_AGE.days}
    response = render_with_choices(request, "test_link.html", context)
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@router.post("/test-link/{page}/{token}")
def test_link_post(request: Request, page: str, token: str) -> Response:
    """The one-click unsubscribe of a test email: nothing to change, said plainly."""
    try:
        if page not in TEST_LINK_PAGES:
            raise TokenError("no such page")
        read_test_token(settings_of(request), token)
    except TokenError as exc:
        return PlainTextResponse(f"{exc}\n", status_code=400, headers=SECURITY_HEADERS)
    return PlainTextResponse(
        "This was a test email: nothing was changed.\n", headers=SECURITY_HEADERS
    )
