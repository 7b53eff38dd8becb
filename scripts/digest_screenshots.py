"""Screenshots of the weekly digest email as Chromium renders it, at phone and desktop widths,
in light and dark mode, built from the project's fixture feeds (UN News also in French and
Arabic), and of the French and Arabic digests at 375 and 1280 px.

    .venv/bin/python scripts/digest_screenshots.py [--out screenshots] [--languages fr ar]

Also writes the HTML it photographed (digest.html, digest-fr.html, ...) and its plain-text
part (digest.txt, digest-fr.txt, ...).
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
    ("globalr2p", "globalr2p/feed.xml", True, "global-centre", "en"),
    ("un-press", "un-press/rss.xml", False, "un-press", "en"),
    ("un-news", "un-news/all.xml", False, "un-news", "en"),
    ("un-news-peace", "un-news/peace-and-security.xml", False, "un-news", "en"),
    ("un-news-fr", "un-news-languages/fr.xml", False, "un-news", "fr"),
    ("un-news-ar", "un-news-languages/ar.xml", False, "un-news", "ar"),
)
WIDTHS = {"phone": 375, "desktop": 800}
# The translated digests: a phone, a small desktop window and a wide one (long words,
# right to left).
LANGUAGE_WIDTHS = {"phone": 375, "desktop": 800, "wide": 1280}


def render_fixture_digest(language: str = "en") -> RenderedEmail:
    """Poll the fixture feeds into a throw-away database and preview the next issue as a
    reader of ``language`` who follows everything sees it."""
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
                for key, name, always, section, written_in in FEEDS:
                    url = server.serve_this_weeks(f"/{key}", name)
                    add_source(
                        SourceSpec(
                            key=key,
                            url=url,
                            title="",
                            always_relevant=always,
                            section=section,
                            language=written_in,
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
                plan,
                settings=settings,
                session=session,
                address="diplomat@example.org",
                language=language,
            )
        engine.dispose()
    if rendered is None:
        raise SystemExit("the fixture feeds gave no digest")
    return rendered


def photograph_email(
    browser: Browser, page_file: Path, prefix: Path, widths: dict[str, int] | None = None
) -> list[Path]:
    """Full-page PNGs of an email's HTML at each width, light and dark:
    ``<prefix>-<device>-<width>px-<scheme>.png``."""
    written = []
    for device, width in (widths or WIDTHS).items():
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
    parser.add_argument(
        "--languages", nargs="*", default=["fr", "ar"], help="translated digests to photograph"
    )
    args = parser.parse_args()
    missing = chromium_missing()
    if missing:
        print(f"cannot take screenshots: {missing}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    # Rendered before Chromium starts: Playwright's sync API holds the event loop.
    digests = {language: render_fixture_digest(language) for language in ["en", *args.languages]}
    with chromium() as browser:
        for language, rendered in digests.items():
            name = "digest" if language == "en" else f"digest-{language}"
            page_file = args.out / f"{name}.html"
            page_file.write_text(rendered.html, encoding="utf-8")
            (args.out / f"{name}.txt").write_text(rendered.text, encoding="utf-8")
            widths = WIDTHS if language == "en" else LANGUAGE_WIDTHS
            written += photograph_email(browser, page_file, args.out / name, widths)
            size = len(rendered.html.encode()) // 1024
            print(f"{name} HTML {size} KB")
    print("wrote " + ", ".join(p.name for p in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
