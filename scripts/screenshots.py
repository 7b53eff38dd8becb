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

from mailer.app import create_app  # noqa: E402
from mailer.config import Settings  # noqa: E402
from mailer.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from mailer.migrate import upgrade_to_head  # noqa: E402
from mailer.tokens import Purpose, make_token  # noqa: E402
from subscribers.choices import Choices  # noqa: E402
from subscribers.consent import FORM_SENTENCE, Consent  # noqa: E402
from subscribers.signup import add_by_admin  # noqa: E402
from tests.support.browser import chromium, chromium_missing, serve  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Page

# name: (width, height, colour scheme)
DEVICES: dict[str, tuple[int, int, Literal["light", "dark"]]] = {
    "phone": (375, 812, "light"),
    "desktop": (1280, 900, "light"),
    "phone-dark": (375, 812, "dark"),
}
CONSENT = Consent(at=datetime.now(UTC), form="screenshots", text=FORM_SENTENCE)


def seed(settings: Settings) -> dict[str, str]:
    """For each width, a reader with chosen topics and a pending one; their links."""
    engine = make_engine(settings.database)
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
            ):
                token = make_token(settings, purpose, reader.id, reader.email)
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
    shot("05-confirmed-preferences")
    page.goto(links[f"preferences-{device}"])
    shot("06-preferences")
    page.goto(links[f"unsubscribe-{device}"])
    shot("07-unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    shot("08-unsubscribed")
    page.goto("/preferences/not-a-valid-token")
    shot("09-link-problem")
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
            return create_app(settings)

        with serve(make_app) as server, chromium() as browser:
            for device, (width, height, scheme) in DEVICES.items():
                context = browser.new_context(
                    base_url=server.url,
                    viewport={"width": width, "height": height},
                    device_scale_factor=2 if width < 600 else 1,
                    color_scheme=scheme,
                )
                written += photograph(context.new_page(), device, links, out)
                context.close()
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
