"""Screenshots of the subscription emails (confirmation, "manage your subscription", data
link) and an urgent alert in Arabic (translated by staff) and in Russian (no translation:
the original, with a line saying so), as Chromium renders them, at phone and desktop
widths, light and dark.

    .venv/bin/python scripts/mail_screenshots.py [--out screenshots]

The mails go the real way: queued by subscribers/mails.py, sent by the delivery worker
into a Maildir in a temporary folder; the HTML part of each is photographed.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.deliver import DeliveryWorker  # noqa: E402
from mailer.admins import add_admin  # noqa: E402
from mailer.alert_translations import set_translation  # noqa: E402
from mailer.alert_versions import Translation  # noqa: E402
from mailer.alerts import Draft, approve, create_alert  # noqa: E402
from mailer.config import Settings  # noqa: E402
from mailer.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from mailer.migrate import upgrade_to_head  # noqa: E402
from mailer.models import Subscriber  # noqa: E402
from mailer.sending.maildir import MaildirSender  # noqa: E402
from scripts.digest_screenshots import photograph_email  # noqa: E402
from subscribers.choices import Choices  # noqa: E402
from subscribers.consent import ADMIN_CONFIRMED, Consent  # noqa: E402
from subscribers.mails import queue_data_link, queue_manage_link  # noqa: E402
from subscribers.signup import add_by_admin  # noqa: E402
from tests.support.browser import chromium, chromium_missing  # noqa: E402


def deliver(
    settings: Settings, factory: sessionmaker[Session], engine: Engine
) -> list[EmailMessage]:
    """Run the delivery worker once into the Maildir; the messages it wrote."""
    worker = DeliveryWorker(settings, factory, MaildirSender(settings.mail_dir))
    asyncio.run(worker.run(once=True))
    engine.dispose()
    messages = []
    for path in sorted((settings.mail_dir / "new").iterdir()):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def send_subscription_mails(var: Path) -> dict[str, EmailMessage]:
    """Queue one of each subscription mail and deliver them into var/mail."""
    settings = Settings(var_dir=var, base_url="https://news.example.org")
    engine = make_engine(settings.database, create=True)
    upgrade_to_head(engine)
    factory = make_sessionmaker(engine)
    now = datetime.now(UTC)
    consent = Consent(at=now, form="screenshots", text=ADMIN_CONFIRMED)
    with session_scope(factory) as session:
        add_by_admin(
            "j.moreno@example.org",
            Choices(language="es", topics=("genocide", "venezuela")),
            consent,
            confirmed=False,
            settings=settings,
            now=now,
            session=session,
        )
        active = add_by_admin(
            "amina.diallo@example.org",
            Choices(topics=("sudan",)),
            consent,
            confirmed=True,
            settings=settings,
            now=now,
            session=session,
        )
        queue_manage_link(active, settings=settings, now=now, session=session)
        queue_data_link(active, settings=settings, now=now, session=session)
    mails = {}
    for message in deliver(settings, factory, engine):
        subject = str(message["Subject"]).lower()
        kind = "confirm" if "confirm" in subject else "data" if "data" in subject else "manage"
        mails[kind] = message
    return mails


def send_alert_mails(var: Path) -> dict[str, EmailMessage]:
    """An alert with an Arabic translation, approved and delivered into var/mail to a
    reader of Arabic and one of Russian."""
    settings = Settings(var_dir=var, base_url="https://news.example.org")
    engine = make_engine(settings.database, create=True)
    upgrade_to_head(engine)
    factory = make_sessionmaker(engine)
    now = datetime.now(UTC)
    with session_scope(factory) as session:
        add_admin("amina.diallo@r2p.example", "screenshots only, never used", session=session)
        for address, language in (("ar@example.org", "ar"), ("ru@example.org", "ru")):
            session.add(Subscriber(email=address, status="active", language=language))
        campaign = create_alert(
            Draft(
                "Imminent risk of mass atrocities in El Fasher",
                "Civilians in El Fasher are trapped as fighting closes in on the last routes "
                "out of the city.\n\nThe Security Council must act now.",
                link="https://example.org/el-fasher",
            ),
            by="amina.diallo@r2p.example",
            expires_in=timedelta(hours=12),
            now=now,
            session=session,
        )
        set_translation(
            campaign,
            Translation(
                "ar",
                "خطر وشيك لارتكاب فظائع جماعية في الفاشر",
                "المدنيون في الفاشر محاصرون مع اقتراب القتال من آخر الطرق المؤدية إلى خارج "
                "المدينة.\n\nعلى مجلس الأمن أن يتحرك الآن.",
            ),
            by="amina.diallo@r2p.example",
            now=now,
            session=session,
        )
        approve(
            campaign, by="amina.diallo@r2p.example", settings=settings, now=now, session=session
        )
    return {
        "alert-ar" if "ar@" in str(message["To"]) else "alert-ru": message
        for message in deliver(settings, factory, engine)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    missing = chromium_missing()
    if missing:
        print(f"cannot take screenshots: {missing}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        mails = send_subscription_mails(Path(tmp) / "var")
        mails.update(send_alert_mails(Path(tmp) / "alert-var"))
    written = []
    with chromium() as browser:
        for kind, message in mails.items():
            part = message.get_body(preferencelist=("html",))
            assert part is not None
            page_file = args.out / f"mail-{kind}.html"
            page_file.write_text(part.get_content(), encoding="utf-8")
            print(f"{kind}: {message['Subject']}")
            written += photograph_email(browser, page_file, args.out / f"mail-{kind}")
    print("wrote " + ", ".join(p.name for p in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
