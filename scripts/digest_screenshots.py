"""Screenshots of the weekly digest email as Chromium renders it, at phone and desktop widths,
in light and dark mode, built from the project's fixture feeds.

    .venv/bin/python scripts/digest_screenshots.py [--out screenshots]

Also writes the HTML it photographed (digest.html) and its plain-text part (digest.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.poll import poll_sources  # noqa: E402
from mailer.config import Settings  # noqa: E402
from mailer.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from mailer.digest import plan_digest, preview_digest  # noqa: E402
from mailer.email.render import RenderedEmail  # noqa: E402
from mailer.feeds.registry import SourceSpec, add_source  # noqa: E402
from mailer.migrate import upgrade_to_head  # noqa: E402
from tests.support.browser import chromium, chromium_missing  # noqa: E402
from tests.support.feedserver import FeedServer  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser

FEEDS = (
    ("globalr2p", "globalr2p/feed.xml", True, "global-centre"),
    ("un-press", "un-press/rss.xml", False, "un-press"),
    ("un-news", "un-news/all.xml", False, "un-news"),
    ("un-news-peace", "un-news/peace-and-security.xml", False, "un-news"),
)
WIDTHS = {"phone": 375, "desktop": 800}


def render_fixture_digest() -> RenderedEmail:
    """Poll the fixture feeds into a throw-away database and preview the next issue."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            var_dir=Path(tmp),
            allow_private_feeds=True,
            secret_key="shots",
            base_url="https://r2p.example.org",
            digest_section_limit=4,
        )
        engine = make_engine(settings.database, create=True)
        upgrade_to_head(engine)
        factory = make_sessionmaker(engine)
        server = FeedServer().start()
        try:
            with session_scope(factory) as session:
                for key, name, always, section in FEEDS:
                    url = server.serve_this_weeks(f"/{key}", name)
                    add_source(
                        SourceSpec(
                            key=key, url=url, title="", always_relevant=always, section=section
                        ),
                        allow_private=True,
                        session=session,
                    )
            asyncio.run(poll_sources(settings, factory))
        finally:
            server.stop()
        with session_scope(factory) as session:
            plan = plan_digest(now=datetime.now(UTC), session=session)
            rendered = preview_digest(
                plan, settings=settings, session=session, address="diplomat@example.org"
            )
        engine.dispose()
    if rendered is None:
        raise SystemExit("the fixture feeds gave no digest")
    return rendered


def photograph_email(browser: Browser, page_file: Path, prefix: Path) -> list[Path]:
    """Full-page PNGs of an email's HTML at each width, light and dark:
    ``<prefix>-<device>-<width>px-<scheme>.png``."""
    written = []
    for device, width in WIDTHS.items():
        for scheme in ("light", "dark"):
            page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
            page.goto(page_file.as_uri())
            target = prefix.parent / f"{prefix.name}-{device}-{width}px-{scheme}.png"
            page.screenshot(path=str(target), full_page=True)
            page.close()
            written.append(target)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    missing = chromium_missing()
    if missing:
        print(f"cannot take screenshots: {missing}", file=sys.stderr)
        return 1
    rendered = render_fixture_digest()
    args.out.mkdir(parents=True, exist_ok=True)
    page_file = args.out / "digest.html"
    page_file.write_text(rendered.html, encoding="utf-8")
    (args.out / "digest.txt").write_text(rendered.text, encoding="utf-8")
    with chromium() as browser:
        written = photograph_email(browser, page_file, args.out / "digest")
    size = len(rendered.html.encode()) // 1024
    print(f"digest HTML {size} KB; wrote " + ", ".join(p.name for p in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
