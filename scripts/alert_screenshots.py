"""Screenshots of the alert pages of the staff console at phone (375 px) and desktop
(1280 px) widths: the compose form with its send time, an alert awaiting the second
approval with its translations (French, and Arabic typed right to left; the forms open),
its Arabic preview, the edit form, the review screen, the confirmation step (every
version), a scheduled alert, and the page a test email's link opens.

    .venv/bin/python scripts/alert_screenshots.py [--out screenshots/alerts]

Serves the real app on a throw-away SQLite database under the two-person rule, with
2,431 alert readers (some reading French, Arabic or Russian), and photographs each page
with Debian's Chromium.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailer.admins import add_admin  # noqa: E402
from mailer.alert_versions import Translation  # noqa: E402
from mailer.alerts import Draft, Schedule  # noqa: E402
from mailer.config import Settings  # noqa: E402
from mailer.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from mailer.migrate import upgrade_to_head  # noqa: E402
from mailer.models import Subscriber  # noqa: E402
from mailer.tokens import make_test_token  # noqa: E402
from service.app import create_app  # noqa: E402
from staff.actions import alerts  # noqa: E402
from staff.actions.actor import Actor  # noqa: E402
from tests.support.browser import chromium, chromium_missing, serve  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser

AMINA, BRUNO = "amina.diallo@r2p.example", "bruno.keller@r2p.example"
PASSWORD = secrets.token_urlsafe(16)
WIDTHS = {"phone": (375, 812), "desktop": (1280, 900)}
TYPO = "Imminent risk of mass atrocites in El Fasher"
FIXED = "Imminent risk of mass atrocities in El Fasher"
LINK = "https://example.org/el-fasher"
MUST = "The Security Council must act now."
BODY = (
    "Civilians in El Fasher are trapped as fighting closes in on the last routes out of the "
    "city.\n\nThe Special Adviser on the Prevention of Genocide warns of an imminent risk of "
    "atrocity crimes.\n\nThe Security Council must act now."
)
FRENCH = Translation(
    "fr",
    "Risque imminent d'atrocités de masse à El Fasher",
    "Les civils d'El Fasher sont pris au piège alors que les combats se rapprochent des "
    "dernières routes de sortie de la ville.\n\nLe Conseil de sécurité doit agir maintenant.",
    link_text="Lire l'analyse",
)
ARABIC = Translation(
    "ar",
    "خطر وشيك لارتكاب فظائع جماعية في الفاشر",
    "المدنيون في الفاشر محاصرون مع اقتراب القتال من آخر الطرق المؤدية إلى خارج المدينة.\n\n"
    "يحذر المستشار الخاص المعني بمنع الإبادة الجماعية من خطر وشيك لارتكاب جرائم فظيعة.\n\n"
    "على مجلس الأمن أن يتحرك الآن.",
)
LANGUAGES = ("en", "en", "en", "fr", "ar", "ru", "es", "zh")


def seed(settings: Settings) -> dict[str, str]:
    """Readers, two admins and three alerts; the paths to photograph."""
    engine = make_engine(settings.database, create=True)
    upgrade_to_head(engine)
    now = datetime.now(UTC)
    amina = Actor.web(AMINA, "127.0.0.1")
    with session_scope(make_sessionmaker(engine)) as session:
        for email in (AMINA, BRUNO):
            add_admin(email, PASSWORD, session=session)
        session.add_all(
            Subscriber(
                email=f"reader{n}@example.org",
                status="active",
                language=LANGUAGES[n % len(LANGUAGES)],
            )
            for n in range(2431)
        )
        session.flush()

        first = Draft(TYPO, BODY.replace(MUST, "Act now."), link=LINK)
        waiting = alerts.create(
            first,
            expires_in=timedelta(hours=12),
            actor=amina,
            settings=settings,
            now=now - timedelta(minutes=40),
            session=session,
        )
        alerts.send_test(
            waiting,
            AMINA,
            actor=amina,
            settings=settings,
            now=now - timedelta(minutes=35),
            session=session,
        )
        alerts.edit(
            waiting,
            Draft(FIXED, BODY, link=LINK),
            actor=amina,
            settings=settings,
            now=now - timedelta(minutes=30),
            session=session,
        )
        for translation in (FRENCH, ARABIC):
            alerts.translate(
                waiting, translation, actor=amina, now=now - timedelta(minutes=28), session=session
            )
        alerts.approve_alert(
            waiting,
            actor=amina,
            settings=settings,
            now=now - timedelta(minutes=25),
            session=session,
        )
        alerts.edit(
            waiting,
            None,
            schedule=Schedule(now + timedelta(hours=3)),
            actor=amina,
            settings=settings,
            now=now - timedelta(minutes=20),
            session=session,
        )

        scheduled = alerts.create(
            Draft("Mass atrocity risk rising in eastern DRC", BODY),
            expires_in=timedelta(hours=24),
            actor=amina,
            settings=settings,
            now=now,
            session=session,
            send_at=now + timedelta(hours=5),
        )
        alerts.approve_alert(scheduled, actor=amina, settings=settings, now=now, session=session)
        bruno = Actor.web(BRUNO, "127.0.0.1")
        alerts.approve_alert(scheduled, actor=bruno, settings=settings, now=now, session=session)
        paths = {
            "alert": f"/admin/alerts/{waiting.id}",
            "preview-ar": f"/admin/alerts/{waiting.id}/preview?lang=ar",
            "review": f"/admin/alerts/{waiting.id}/review",
            "confirm": f"/admin/alerts/{waiting.id}/approve",
            "edit": f"/admin/alerts/{waiting.id}/edit",
            "scheduled": f"/admin/alerts/{scheduled.id}",
            "compose": "/admin/alerts/new",
            "test-link": f"/test-link/unsubscribe/{make_test_token(settings)}",
        }
    engine.dispose()
    return paths


def photograph(browser: Browser, base_url: str, paths: dict[str, str], out: Path) -> list[Path]:
    written = []
    for device, (width, height) in WIDTHS.items():
        context = browser.new_context(
            base_url=base_url, viewport={"width": width, "height": height}
        )
        page = context.new_page()
        page.goto("/admin/login")
        page.get_by_label("Email address").fill(BRUNO)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Dashboard").wait_for()
        for name, path in paths.items():
            page.goto(path)
            page.evaluate(
                "document.querySelectorAll('details.translation').forEach(d => d.open = true)"
            )
            if page.locator("iframe.email-frame").count():
                page.frame_locator("iframe.email-frame").locator("h1").wait_for()
            # A viewport as tall as the page: Chromium's full-page capture leaves frames
            # below the first screen blank.
            tall = int(page.evaluate("document.documentElement.scrollHeight"))
            page.set_viewport_size({"width": width, "height": max(tall, height)})
            page.wait_for_timeout(500)  # let the frame repaint at the new size
            target = out / f"{name}-{device}-{width}px.png"
            page.screenshot(path=str(target))
            page.set_viewport_size({"width": width, "height": height})
            written.append(target)
        context.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots" / "alerts")
    args = parser.parse_args()
    missing = chromium_missing()
    if missing:
        print(f"cannot take screenshots: {missing}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        paths: dict[str, str] = {}

        def make_app(base_url: str) -> FastAPI:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                var_dir=Path(tmp),
                database_url=f"sqlite:///{tmp}/alerts.sqlite3",
                base_url=base_url,
                secret_key=secrets.token_urlsafe(32),
                alert_approvers=2,
                console_timezone="Europe/Zurich",
            )
            paths.update(seed(settings))
            return create_app(settings)

        with serve(make_app) as server, chromium() as browser:
            written = photograph(browser, server.url, paths, args.out)
    print("wrote " + ", ".join(p.name for p in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
