"""Writes mailer/web/static/favicon.ico from mailer/web/static/favicon.svg, drawn by
Chromium (the browsers' own rasteriser) at 16, 32 and 48 px, as PNG images in one ICO file.

    .venv/bin/python scripts/make_favicon.py

Needs Debian's chromium and Playwright (as the browser tests do). The .ico is committed;
run this again only after changing the SVG.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "subscribers" / "static"
SIZES = (16, 32, 48)


def ico(images: list[tuple[int, bytes]]) -> bytes:
    """An ICO file holding PNG images (allowed since Windows Vista, read by every browser)."""
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, blobs = b"", b""
    for size, png in images:
        entries += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(png), offset)
        blobs += png
        offset += len(png)
    return header + entries + blobs


def main() -> None:
    svg = base64.b64encode((STATIC / "favicon.svg").read_bytes()).decode()
    images = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        for size in SIZES:
            page = browser.new_page(viewport={"width": size, "height": size})
            page.set_content(
                f'<body style="margin:0;background:transparent">'
                f'<img src="data:image/svg+xml;base64,{svg}" width="{size}" height="{size}">'
                "</body>"
            )
            page.wait_for_function("document.images[0].complete")
            images.append((size, page.screenshot(omit_background=True)))
            page.close()
        browser.close()
    (STATIC / "favicon.ico").write_bytes(ico(images))
    print(f"wrote {STATIC / 'favicon.ico'} ({', '.join(f'{s}px' for s in SIZES)})")


if __name__ == "__main__":
    main()
