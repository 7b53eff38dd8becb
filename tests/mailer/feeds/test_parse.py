"""A feed body that names a local file is parsed as the text it is, never replaced by that
file's contents (feedparser opens bytes it is given as a path or URL when it can)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.errors import FeedParseError
from mailer.feeds.parse import parse_feed

LOCAL_FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>local file</title>
<item><title>secret from the server's disk</title><link>https://example.org/s</link></item>
</channel></rss>
"""


def test_a_body_naming_a_local_file_does_not_read_it(tmp_path: Path) -> None:
    local = tmp_path / "feed.xml"
    local.write_text(LOCAL_FEED, encoding="utf-8")
    try:
        parsed = parse_feed(str(local).encode())
    except FeedParseError:
        return  # refused as not a feed: the file was not read either
    titles = [entry.get("title", "") for entry in parsed.entries]
    assert "secret from the server's disk" not in titles
    assert parsed.title != "local file"


@pytest.mark.parametrize("body", [b"/etc/passwd", b"file:///etc/passwd", b"/dev/zero"])
def test_device_and_system_paths_are_only_text(body: bytes) -> None:
    try:
        parsed = parse_feed(body)
    except FeedParseError:
        return
    assert parsed.entries == []
