"""Screenshots of the staff-account pages at 375 and 1280 px: the account list (an owner's
and a viewer's), the invitation's password page, setting up a second factor (QR code),
the recovery codes, the login code page, and the 403 page of an action a role may not do.

    .venv/bin/python scripts/accounts_screenshots.py [--out DIR]

Serves the real app on a throw-away SQLite database, its clock frozen, with Debian's
Chromium (never a downloaded browser).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyotp  # noqa: E402

from mailer import twofactor  # noqa: E402
from mailer.admin_links import LinkPurpose, make_link  # noqa: E402
from mailer.admins import add_admin  # noqa: E402
from mailer.config import Settings  # noqa: E402
from mailer.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from mailer.migrate import upgrade_to_head  # noqa: E402
from mailer.roles import Role  # noqa: E402
from mailer.web.ratelimit import LOGIN_ACCOUNT, LOGIN_PAIR, RateLimiter  # noqa: E402
from service.app import create_app  # noqa: E402
from tests.support.browser import chromium, chromium_missing, serve  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

WIDTHS = {"phone": (375, 812), "desktop": (1280, 900)}
FROZEN = datetime(2026, 12, 7, 21, 0, 10, tzinfo=UTC)
PASSWORD = "screenshots-password-1"  # noqa: S105 - a throw-away database's
# One owner per width, each setting up their own second factor.
OWNERS = {device: f"l.okafor.{device}@example.org" for device in WIDTHS}
VIEWER = "m.haddad@example.org"
ENROLLED = "s.nakamura@example.org"


def seed(settings: Settings) -> tuple[str, str]:
    """Staff in every role and state; (an invitation link's path, the enrolled secret)."""
    engine = make_engine(settings.database, create=True)
    upgrade_to_head(engine)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        for owner in OWNERS.values():
            add_admin(owner, PASSWORD, role=Role.OWNER, session=session)
        add_admin(VIEWER, PASSWORD, role=Role.VIEWER, session=session)
        add_admin("a.dubois@example.org", PASSWORD, role=Role.APPROVER, session=session)
        add_admin(
            "k.mensah@example.org", PASSWORD, role=Role.EDITOR, session=session
        ).active = False
        invited = add_admin("r.silva@example.org", None, role=Role.EDITOR, session=session)
        enrolled = add_admin(ENROLLED, PASSWORD, role=Role.EDITOR, session=session)
        secret = twofactor.start(enrolled)
        twofactor.enable(enrolled, pyotp.TOTP(secret).at(FROZEN), now=FROZEN, session=session)
        enrolled.totp_last_step = None
        link = make_link(settings, invited, LinkPurpose.INVITE)
    failures = RateLimiter(
        LOGIN_PAIR, 5, settings.login_rate_window, factory=factory, secret=settings.signing_key
    )
    anywhere = RateLimiter(
        LOGIN_ACCOUNT,
        1000,
        settings.login_rate_window,
        factory=factory,
        secret=settings.signing_key,
    )
    for _ in range(3):
        failures.take("a.dubois@example.org\0198.51.100.7", FROZEN, group="a.dubois@example.org")
        anywhere.take("a.dubois@example.org", FROZEN)
    engine.dispose()
    return link[len(settings.base_url) :], secret


def photograph(browser: Browser, url: str, link: str, secret: str, out: Path) -> list[Path]:
    written = []
    for device, (width, height) in WIDTHS.items():
        context = browser.new_context(
            base_url=url,
            viewport={"width": width, "height": height},
            device_scale_factor=2 if width < 600 else 1,
        )
        page = context.new_page()

        def shot(name: str, device: str = device, page: Page = page) -> None:
            path = out / f"{name}-{device}.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)

        def log_in(email: str, page: Page = page) -> None:
            page.goto("/admin/login")
            page.get_by_label("Email address").fill(email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()

        page.goto(link)
        shot("40-password-invitation")
        log_in(OWNERS[device])
        page.goto("/admin/accounts")
        shot("41-accounts-owner")
        page.goto("/admin/account/2fa")
        shot("42-2fa-start")
        page.get_by_role("button", name="Set up a second factor").click()
        shot("43-2fa-enrol")
        own = page.locator(".secret").inner_text().strip()
        page.get_by_label("The 6-digit code the app shows").fill(
            "000000" if pyotp.TOTP(own).at(FROZEN) != "000000" else "111111"
        )
        page.get_by_role("button", name="Turn on").click()
        shot("44-2fa-wrong-code")
        page.get_by_label("The 6-digit code the app shows").fill(pyotp.TOTP(own).at(FROZEN))
        page.get_by_role("button", name="Turn on").click()
        shot("45-2fa-recovery-codes")
        page.goto("/admin/account/2fa")
        shot("46-2fa-on")
        context.clear_cookies()
        log_in(ENROLLED)
        shot("47-login-code")
        context.clear_cookies()
        log_in(VIEWER)
        page.goto("/admin/accounts")
        shot("48-accounts-viewer")
        page.goto("/admin/alerts/new")
        page.get_by_label("Subject").fill("Test")
        page.get_by_label("Message").fill("Test")
        page.get_by_role("button", name="Save draft and preview").click()
        shot("49-not-allowed")
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
    seeded: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="r2p-accounts-") as tmp:

        def make_app(base_url: str) -> FastAPI:
            settings = Settings(
                _env_file=None,
                var_dir=Path(tmp),
                database_url=f"sqlite:///{tmp}/screens.sqlite3",
                base_url=base_url,
                secret_key=secrets.token_urlsafe(32),
            )
            seeded["link"], seeded["secret"] = seed(settings)
            app = create_app(settings)
            app.state.clock = lambda: FROZEN
            return app

        with serve(make_app) as server, chromium() as browser:
            written = photograph(browser, server.url, seeded["link"], seeded["secret"], out)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
