"""The reviewed weekly digest end to end in Debian's Chromium: the scheduler prepares a
draft and tells the admins; an editor removes a story, reorders two, writes a note with a
link, sends a test (it arrives on a real SMTP server on loopback) and approves; at the
slot every reader gets the edited issue once. The next week's draft, left in review, is
held at its slot and the admins are told. The app runs with its scheduler and worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI

from jobs.runtime import Runtime, install
from jobs.schedule import DAYS, prepare_digest_job, weekly_digest_job
from service.app import create_app
from tests.conftest import Db
from tests.support.browser import Site, chromium_page, require_chromium, serve, text_of
from tests.support.factories import AMINA, PASSWORD, add_admins, add_item, add_readers, add_source
from tests.support.smtpserver import Received, SMTPServer
from tests.support.waiting import wait_until

if TYPE_CHECKING:  # playwright may be missing: the tests then skip (or fail in CI)
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

FASHER = "Killings reported in El Fasher"
TAWILA = "Aid convoys blocked near Tawila"
GAZA = "Famine spreads in Gaza"
CHAD = "Displacement grows in eastern Chad"
STORIES = [(FASHER, "sudan"), (TAWILA, "sudan"), (GAZA, "palestine"), (CHAD, "chad")]
READERS = {
    "everything@example.org": [],
    "sudan@example.org": ["sudan"],
    "chad@example.org": ["chad"],
}
NOTE = "Read [our statement on Sudan](https://example.org/statement) first."
# The weekly slot, three days ahead: the app's own scheduler leaves this week alone (its
# prepare time is a day away), and the test runs the jobs at the times it names.
SLOT = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)


def add_stories(db: Db, stories: list[tuple[str, str]], hours_ago: int) -> None:
    source = add_source(db, f"un-news-{hours_ago}")
    for n, (title, country) in enumerate(stories):
        published = datetime.now(UTC) - timedelta(hours=hours_ago + n)
        tags = {"crimes": ["genocide"], "countries": [country], "r2p": True}
        add_item(db, source, title, published_at=published, fetched_at=published, tags=tags)


@pytest.fixture
def site(db: Db, smtp_server: SMTPServer) -> Iterator[Site]:
    require_chromium()
    for address, topics in READERS.items():
        add_readers(db, [address], topics=topics)
    add_admins(db, AMINA)
    add_stories(db, STORIES, hours_ago=3)

    def make_app(url: str) -> FastAPI:
        settings = db.settings(
            base_url=url,
            smtp_url=smtp_server.url,
            poll_every="1h",
            digest_day=DAYS[SLOT.weekday()],
            digest_time=SLOT.strftime("%H:%M"),
            digest_timezone="UTC",
        )
        return create_app(settings, with_services=True)

    with serve(make_app) as server:
        app = server.app
        install(Runtime(app.state.settings, app.state.factory, app.state.wake_worker))
        yield Site(server, app.state.settings, app.state.factory)


@pytest.fixture
def page(site: Site) -> Iterator[Page]:
    with chromium_page(site.url) as page:
        yield page


def run_job(job: Callable[[datetime], None], at: datetime) -> None:
    """Run a scheduler job as its thread pool does: outside Playwright's event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(job, at).result()


def log_in(page: Page) -> None:
    page.goto("/admin")
    page.get_by_label("Email address").fill(AMINA)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()


def mail_to(smtp_server: SMTPServer, address: str, subject_start: str = "") -> list[Received]:
    return [
        r
        for r in smtp_server.handler.to(address)
        if str(r.message["Subject"]).startswith(subject_start)
    ]


def html_of(received: Received) -> str:
    part = received.message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def edit_and_approve(page: Page, smtp_server: SMTPServer) -> None:
    """On the draft's page: remove Gaza, move Tawila above El Fasher, write the note,
    send a test, approve."""
    page.get_by_role("button", name=f"Remove: {GAZA}").click()
    page.get_by_text("Saved.").wait_for()
    page.get_by_role("button", name=f"Move up: {TAWILA}").click()
    page.get_by_text("Saved.").wait_for()
    page.get_by_label("Note at the top of the issue").fill(NOTE)
    page.get_by_role("button", name="Save the note").click()
    page.get_by_text("Saved.").wait_for()
    preview = page.frame_locator("iframe.email-frame")
    preview.get_by_role("link", name="our statement on Sudan").wait_for()
    assert preview.get_by_role("link", name=GAZA).count() == 0

    page.get_by_role("button", name="Send a test to me").click()
    page.get_by_text("A test is on its way to you.").wait_for()
    [test] = mail_to(smtp_server, AMINA, "[TEST] ")
    assert GAZA not in text_of(test.message)
    assert not any(smtp_server.handler.to(address) for address in READERS)

    page.get_by_role("button", name="Approve", exact=True).click()
    page.get_by_text("Approved: the issue goes out at its scheduled time.").wait_for()


def test_an_editor_shapes_tests_and_approves_the_issue_and_an_unreviewed_one_is_held(
    site: Site, page: Page, smtp_server: SMTPServer, db: Db
) -> None:
    run_job(prepare_digest_job, datetime.now(UTC))  # R2P_DIGEST_PREPARE_AT before the slot
    wait_until(lambda: mail_to(smtp_server, AMINA, "Digest for review"), 10, message="notice")
    log_in(page)
    assert page.locator(".next-issue", has_text="In review").is_visible()
    page.get_by_role("link", name="Review the draft").click()
    edit_and_approve(page, smtp_server)

    run_job(weekly_digest_job, SLOT + timedelta(minutes=1))  # the slot
    run_job(weekly_digest_job, SLOT + timedelta(minutes=2))  # run again (the catch-up): nothing new

    def everyone_has_it() -> bool:
        return all(len(smtp_server.handler.to(a)) == 1 for a in READERS)

    wait_until(everyone_has_it, 30, message="every reader's issue")
    everything = text_of(smtp_server.handler.to("everything@example.org")[0].message)
    assert GAZA not in everything
    assert everything.index(TAWILA) < everything.index(FASHER)
    for address in READERS:
        [received] = smtp_server.handler.to(address)
        assert NOTE in text_of(received.message)
        assert 'href="https://example.org/statement"' in html_of(received)
    assert CHAD not in text_of(smtp_server.handler.to("sudan@example.org")[0].message)

    # Next week: a draft nobody reviews is held at its slot, and the admins are told.
    add_stories(db, [("Mass graves found near Kadugli", "sudan")], hours_ago=0)
    run_job(prepare_digest_job, SLOT + timedelta(days=5))
    run_job(weekly_digest_job, SLOT + timedelta(days=7, minutes=1))
    run_job(weekly_digest_job, SLOT + timedelta(days=7, minutes=2))
    wait_until(lambda: mail_to(smtp_server, AMINA, "Digest held"), 10, message="held notice")
    assert len(mail_to(smtp_server, AMINA, "Digest held")) == 1
    page.goto("/admin")
    assert page.locator(".next-issue", has_text="Held").is_visible()
    assert all(len(smtp_server.handler.to(a)) == 1 for a in READERS)


@pytest.mark.parametrize("width", [375, 800])
def test_the_draft_editor_fits_the_screen_and_labels_every_field(
    site: Site, page: Page, width: int
) -> None:
    run_job(prepare_digest_job, datetime.now(UTC))
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page)
    page.goto("/admin/digest/review")
    page.get_by_role("heading", name="Stories").wait_for()
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow == 0
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
           .filter(e => !(e.labels && e.labels.length))
           .map(e => e.name)"""
    )
    assert unlabelled == []
