"""Screenshots of the reader pages at phone and desktop widths (and a phone in dark mode),
for anyone to look at.

    make screenshots        # or: .venv/bin/python scripts/screenshots.py [--out DIR]

Serves the real app on a throw-away SQLite database and photographs each page with
Debian's Chromium (never a downloaded browser). PNGs land in ./screenshots/ (git-ignored).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailer.config import Settings  # noqa: E402
from mailer.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from mailer.migrate import upgrade_to_head  # noqa: E402
from mailer.tokens import Purpose, make_token  # noqa: E402
from service.app import create_app  # noqa: E402
from subscribers.choices import Choices  # noqa: E402
from subscribers.consent import FORM_SENTENCE, Consent  # noqa: E402
from subscribers.signup import add_by_admin  # noqa: E402
from tests.support.browser import chromium, chromium_missing, serve  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

# name: (width, height, colour scheme)
DEVICES: dict[str, tuple[int, int, Literal["light", "dark"]]] = {
    "phone": (375, 812, "light"),
    "desktop": (1280, 900, "light"),
    "phone-dark": (375, 812, "dark"),
}
CONSENT = Consent(at=datetime.now(UTC), form="screenshots", text=FORM_SENTENCE)


def seed(settings: Settings) -> dict[str, str]:
    """For each width, a reader with chosen topics and a pending one; their links."""
    engine = make_engine(settings.database, create=True)
    upgrade_to_head(engine)
    now = datetime.now(UTC)
    links = {}
    with session_scope(make_sessionmaker(engine)) as session:
        for device in DEVICES:
            active = add_by_admin(
                f"amina.diallo.{device}@example.org",
                Choices(topics=("genocide", "sudan", "myanmar")),
                CONSENT,
                confirmed=True,
                settings=settings,
                now=now,
                session=session,
            )
            pending = add_by_admin(
                f"j.moreno.{device}@example.org",
                Choices(language="es", wants_alerts=False),
                CONSENT,
                confirmed=False,
                settings=settings,
                now=now,
                session=session,
            )
            for name, purpose, reader in (
                ("preferences", Purpose.MANAGE, active),
                ("unsubscribe", Purpose.UNSUBSCRIBE, active),
                ("confirm", Purpose.CONFIRM, pending),
                ("data", Purpose.DATA, active),
            ):
                token = make_token(settings, purpose, reader.link_secret)
                links[f"{name}-{device}"] = f"/{name}/{token}"
    engine.dispose()
    return links


def photograph(page: Page, device: str, links: dict[str, str], out: Path) -> list[Path]:
    """Every reader page, as one reader would go through them."""
    written = []

    def shot(name: str) -> None:
        path = out / f"{name}-{device}.png"
        page.screenshot(path=str(path), full_page=True)
        written.append(path)

    page.goto("/")
    shot("01-signup-form")
    page.get_by_role("radio", name="Only the topics I choose").check()
    page.get_by_role("checkbox", name="Genocide").check()
    page.get_by_role("checkbox", name="Sudan").check()
    shot("02-signup-topics")
    page.goto("/")
    page.get_by_label("Email address").fill("amina@example")
    page.get_by_role("checkbox", name="Weekly digest").uncheck()
    page.get_by_role("checkbox", name="Urgent alerts").uncheck()
    page.get_by_role("button", name="Subscribe").click()
    shot("03-signup-errors")
    page.goto("/subscribe/check-your-inbox")
    shot("04-check-your-inbox")
    page.goto(links[f"confirm-{device}"])
    shot("05-confirm-button")
    # The pending reader chose Spanish: the page (and its button) are in Spanish.
    page.locator("button.button-primary[type=submit]").click()
    shot("05b-confirmed-preferences")
    page.goto(links[f"preferences-{device}"])
    shot("06-preferences")
    page.get_by_role("button", name="Email me my data").click()
    shot("06b-data-link-sent")
    page.goto(links[f"data-{device}"])
    shot("06c-data-download")
    page.goto(links[f"unsubscribe-{device}"])
    shot("07-unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    shot("08-unsubscribed")
    page.goto("/preferences/not-a-valid-token")
    shot("09-link-problem")
    page.goto("/no-such-page")
    shot("10-page-not-found")
    return written


def device_context(
    browser: Browser,
    base_url: str,
    device: tuple[int, int, Literal["light", "dark"]],
    locale: str | None = None,
) -> BrowserContext:
    """A browser context the size of ``device`` (width, height, colour scheme), at twice
    the pixel density on a phone."""
    width, height, scheme = device
    return browser.new_context(
        base_url=base_url,
        viewport={"width": width, "height": height},
        device_scale_factor=2 if width < 600 else 1,
        color_scheme=scheme,
        locale=locale,
    )


# The signup form and the pages after it in French and Arabic (right to left): a phone, a
# small desktop window and a wide one in light mode, and the phone in dark mode.
LANGUAGE_DEVICES: dict[str, tuple[int, int, Literal["light", "dark"]]] = {
    "phone": (375, 812, "light"),
    "desktop": (800, 900, "light"),
    "wide": (1280, 900, "light"),
    "phone-dark": (375, 812, "dark"),
}


def photograph_languages(
    browser: Browser, base_url: str, links: dict[str, str], out: Path
) -> list[Path]:
    written = []
    for language in ("fr", "ar"):
        for device, (width, height, scheme) in LANGUAGE_DEVICES.items():
            context = device_context(browser, base_url, (width, height, scheme), language)
            page = context.new_page()
            for name, path in (
                ("signup-form", f"/?lang={language}"),
                ("check-your-inbox", f"/subscribe/check-your-inbox?lang={language}"),
                ("link-problem", f"/preferences/not-a-valid-token?lang={language}"),
            ):
                page.goto(path)
                shot = out / f"{language}-{name}-{device}.png"
                page.screenshot(path=str(shot), full_page=True)
                written.append(shot)
            context.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    args = parser.parse_args()
    reason = chromium_missing()
    if reason:
        print(f"screenshots: {reason}", file=sys.stderr)
        return 1
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    links: dict[str, str] = {}
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="r2p-screenshots-") as tmp:

        def make_app(base_url: str) -> FastAPI:
            settings = Settings(
                _env_file=None,
                var_dir=Path(tmp),
                database_url=f"sqlite:///{tmp}/screens.sqlite3",
                base_url=base_url,
                secret_key=secrets.token_urlsafe(32),
            )
            links.update(seed(settings))
            links.update(seed_admin(settings))
            return create_app(settings)

        with serve(make_app) as server, chromium() as browser:
            for device, (width, height, scheme) in DEVICES.items():
                context = device_context(browser, server.url, (width, height, scheme))
                written += photograph(context.new_page(), device, links, out)
                context.close()
            written += photograph_languages(browser, server.url, links, out)
            written += photograph_admin(browser, server.url, links, out)
    for path in written:
        print(path)
    return 0


# --- admin console ---------------------------------------------------------------------
ADMIN = ("l.okafor@example.org", "screenshots-password-1")


def seed_admin(settings: Settings) -> dict[str, str]:
    """An admin, feeds in three states of health, urgent-looking items, and an alert that
    went out (delivered to the Maildir, so the mail pages have something to show)."""
    import asyncio
    from datetime import timedelta

    from jobs.deliver import DeliveryWorker
    from mailer.admins import add_admin, audit
    from mailer.alerts import Draft, approve, create_alert
    from mailer.models import Item, Source
    from mailer.sending import make_sender

    engine = make_engine(settings.database)
    factory = make_sessionmaker(engine)
    now = datetime.now(UTC)
    with session_scope(factory) as session:
        add_admin(ADMIN[0], ADMIN[1], session=session)
        un = Source(
            key="un-news",
            url="https://news.un.org/feed/subscribe/en/news/all/rss.xml",
            title="UN News",
            last_success_at=now - timedelta(minutes=12),
        )
        press = Source(
            key="un-press",
            url="https://press.un.org/en/rss.xml",
            title="UN press releases",
            last_success_at=now - timedelta(hours=5),
            consecutive_failures=3,
            last_error_at=now - timedelta(minutes=14),
            last_error="cannot resolve press.un.org: offline, or a wrong URL?",
        )
        gc = Source(
            key="globalr2p",
            url="https://www.globalr2p.org/feed/",
            title="Global Centre for R2P",
            always_relevant=True,
            section="global-centre",
            last_success_at=now - timedelta(minutes=13),
            empty_responses=2,
            last_empty_at=now - timedelta(days=1),
        )
        session.add_all([un, press, gc])
        session.flush()
        stories = [
            (
                gc,
                "Atrocity Alert No. 412: Sudan, Myanmar and the Democratic Republic of the Congo",
                {"crimes": ["war-crimes"], "countries": ["sudan", "myanmar", "dr-congo"]},
            ),
            (
                un,
                "Special Adviser on the Prevention of Genocide alarmed by attacks on El Fasher",
                {"crimes": ["genocide"], "countries": ["sudan"]},
            ),
            (
                un,
                "Imminent risk of mass atrocities in North Kivu, UN experts warn",
                {"crimes": ["crimes-against-humanity"], "countries": ["dr-congo"]},
            ),
            (
                un,
                "Security Council extends mandate of the mission in South Sudan",
                {"crimes": [], "countries": []},
            ),
        ]
        for n, (source, title, tags) in enumerate(stories):
            session.add(
                Item(
                    source_id=source.id,
                    uid=f"s{n}",
                    dedupe_key=f"screens:{n}",
                    url=f"https://example.org/story/{n}",
                    title=title,
                    summary_text=f"{title}. Civilians are at grave risk.",
                    published_at=now - timedelta(hours=3 + 7 * n),
                    fetched_at=now - timedelta(hours=2 + 7 * n),
                    tags={**tags, "r2p": True, "source": source.key},
                    relevance=5,
                    relevant=True,
                )
            )
        alert = create_alert(
            Draft(
                "Imminent risk of atrocity crimes in El Fasher",
                "Civilians in El Fasher are trapped.\n\nThe Security Council must act now.",
            ),
            by=ADMIN[0],
            expires_in=timedelta(hours=12),
            now=now,
            session=session,
        )
        audit(ADMIN[0], "alert.create", target=alert.key, now=now, session=session, ip="127.0.0.1")
        approve(alert, by=ADMIN[0], settings=settings, now=now, session=session)
        audit(ADMIN[0], "alert.approve", target=alert.key, now=now, session=session, queued=3)
        sent = f"/admin/alerts/{alert.id}"
    asyncio.run(DeliveryWorker(settings, factory, make_sender(settings)).run(once=True))
    engine.dispose()
    return {"admin-sent-alert": sent}


def photograph_admin(browser: Browser, url: str, links: dict[str, str], out: Path) -> list[Path]:
    """The admin console, from logging in to approving, at each width."""
    written = []
    for device, (width, height, scheme) in DEVICES.items():
        context = device_context(browser, url, (width, height, scheme))
        page = context.new_page()

        def shot(
            name: str,
            page: Page = page,
            device: str = device,
            width: int = width,
            height: int = height,
        ) -> None:
            page.wait_for_load_state("load")  # the email preview frames included
            # Chromium paints sandboxed (out-of-process) frames only inside the viewport:
            # make the viewport as tall as the page.
            tall = int(page.evaluate("document.documentElement.scrollHeight"))
            page.set_viewport_size({"width": width, "height": tall})
            path = out / f"{name}-{device}.png"
            page.screenshot(path=str(path), full_page=True)
            page.set_viewport_size({"width": width, "height": height})
            written.append(path)

        page.goto("/admin")
        shot("20-admin-login")
        page.get_by_label("Email address").fill(ADMIN[0])
        page.get_by_label("Password").fill(ADMIN[1])
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Dashboard").wait_for()
        shot("21-admin-dashboard")
        page.get_by_role("link", name="Start an alert from this").first.click()
        shot("22-admin-alert-from-item")
        page.goto("/admin/alerts/new")
        page.get_by_label("Subject").fill("Imminent risk of mass atrocities in North Kivu")
        page.get_by_label("Message").fill(
            "UN experts warn of imminent risk to civilians in North Kivu.\n\n"
            "We urge the Security Council to act."
        )
        page.get_by_role("radio", name="Only readers of these topics").check()
        page.get_by_role("checkbox", name="DR Congo").check()
        shot("23-admin-alert-compose")
        page.get_by_role("button", name="Save draft and preview").click()
        page.get_by_role("button", name="Send a test to me").click()
        page.get_by_text("A test is on its way to you.").wait_for()
        shot("24-admin-alert-draft")
        page.goto(links["admin-sent-alert"])
        shot("25-admin-alert-sent")
        for number, path in (
            ("26-admin-campaigns", "/admin/campaigns"),
            ("27-admin-digest-preview", "/admin/digest/preview"),
            ("28-admin-mail", "/admin/mail"),
        ):
            page.goto(path)
            shot(number)
        page.get_by_role("link", name="[TEST]").first.click()
        shot("29-admin-mail-message")
        page.goto("/admin/subscribers")
        page.get_by_label("Address contains").fill(f"amina.diallo.{device}@example.org")
        page.get_by_role("button", name="Find").click()
        shot("30-admin-subscribers")
        page.goto("/admin/audit")
        shot("31-admin-audit")
        page.goto("/admin/api")
        shot("32-admin-api")
        context.close()
    return written


if __name__ == "__main__":
    raise SystemExit(main())
