"""Feed XML may declare no DTD and no entity, wherever the declaration sits and in whatever
encoding the document is written; ordinary feeds (HTML entities escaped or in CDATA,
malformed XML, non-UTF-8 encodings) still parse.

The hostile documents declare one short entity (``&a;`` = "EXPANDED"), which feedparser
keeps and expands when the guard misses it: the test then sees "EXPANDED" in a title.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from jobs.poll import poll_sources
from mailer.errors import FeedParseError
from mailer.feeds.parse import parse_feed
from mailer.feeds.registry import SourceSpec, add_source
from mailer.models import Item
from tests.conftest import Db
from tests.support.feedserver import FeedServer

DTD = '<!DOCTYPE rss [\n<!ENTITY a "EXPANDED">\n]>\n'
BODY = (
    '<rss version="2.0"><channel><title>Feed &a;</title><link>https://example.org/</link>'
    "<item><title>Item &a;</title><link>https://example.org/1</link></item></channel></rss>"
)
REFUSED = "refused without parsing"


def document(encoding: str, *, comment: int = 0, bom: bytes = b"") -> bytes:
    """The hostile feed in ``encoding``, declared in its XML declaration, after a comment
    of ``comment`` characters."""
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        + (f"<!--{'x' * comment}-->\n" if comment else "")
        + DTD
        + BODY
    )
    return bom + text.encode(encoding)


def utf7_document() -> bytes:
    """UTF-7 may encode ``<`` as ``+ADw-``: no ``<!ENTITY`` in the bytes at all."""
    text = '<?xml version="1.0" encoding="utf-7"?>\n' + DTD.replace("<!", "+ADw-!") + BODY
    return text.encode("ascii")


def assert_refused(body: bytes, content_type: str | None = "application/xml") -> None:
    try:
        parsed = parse_feed(body, content_type=content_type)
    except FeedParseError as exc:
        assert REFUSED in str(exc)
        return
    titles = [parsed.title, *(str(e.get("title")) for e in parsed.entries)]
    pytest.fail(f"parsed, entity expanded: {titles}")


KIB_300 = 300 * 1024


# Each of these got through the guard that read the first 256 KiB as ASCII.
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(document("utf-8", comment=KIB_300), "application/rss+xml", id="comment"),
        pytest.param(document("utf-16", comment=KIB_300), "application/xml", id="utf16-comment"),
        pytest.param(document("cp037"), "application/rss+xml", id="ebcdic-declared"),
        pytest.param(document("cp037"), None, id="ebcdic-no-content-type"),
        pytest.param(document("cp037"), "application/xml; charset=cp037", id="ebcdic-charset"),
        pytest.param(utf7_document(), "application/xml", id="utf7"),
    ],
)
def test_bypasses_of_the_prefix_scan_are_refused(body: bytes, content_type: str | None) -> None:
    assert_refused(body, content_type)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(document("utf-8"), id="utf8"),
        pytest.param(document("utf-16"), id="utf16-bom"),
        pytest.param(document("utf-16-le"), id="utf16le-no-bom"),
        pytest.param(document("utf-16-be"), id="utf16be-no-bom"),
        pytest.param(document("utf-32"), id="utf32-bom"),
        pytest.param(document("utf-32-le"), id="utf32le-no-bom"),
        pytest.param(document("utf-32-be"), id="utf32be-no-bom"),
        pytest.param(document("utf-16-le", bom=b"\xff\xfe"), id="utf16le-explicit-bom"),
    ],
)
def test_entity_declarations_are_refused_in_every_unicode_encoding(body: bytes) -> None:
    assert_refused(body)


@pytest.mark.parametrize(
    "head",
    [
        # A DTD with no entity at all (an external one is never fetched, but is refused too).
        '<!DOCTYPE rss SYSTEM "http://127.0.0.1/rss.dtd">\n',
        '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        '"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n',
        # feedparser splits the prolog at the first "<letter", even inside a comment.
        '<!-- <a> -->\n<!DOCTYPE rss [<!ENTITY a "EXPANDED">]>\n',
        # An entity declared outside the DTD: feedparser would move it into a new one.
        '<!ENTITY a "EXPANDED">\n<!DOCTYPE rss>\n',
        # Parameter entities, external entities.
        '<!DOCTYPE rss [<!ENTITY % p "x"> <!ENTITY a SYSTEM "file:///etc/passwd">]>\n',
    ],
)
def test_any_dtd_or_entity_declaration_is_refused(head: str) -> None:
    assert_refused(('<?xml version="1.0"?>\n' + head + BODY).encode())


def test_a_dtd_after_a_malformed_prolog_is_refused() -> None:
    """The strict parser stops at the error; the document is still refused."""
    body = '<?xml version="1.0"?>\n<!-- a -- b -->\n' + DTD + BODY
    assert_refused(body.encode())


def test_html_entities_escaped_or_in_cdata_still_parse() -> None:
    """What real feeds carry: &amp;nbsp; in escaped HTML, &nbsp; inside CDATA,
    numeric references, and a bare &nbsp; (undefined in XML: parsed leniently)."""
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        b'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        b"<title>Global Centre&#8217;s feed</title><link>https://example.org/</link>"
        b"<item><title>Sudan:&#160;El&#xA0;Fasher</title><link>https://example.org/1</link>"
        b"<description>&lt;p&gt;One&amp;nbsp;two &amp;mdash; three&lt;/p&gt;</description>"
        b"<content:encoded><![CDATA[<p>Four&nbsp;five &hellip; <!DOCTYPE-like text></p>]]>"
        b"</content:encoded></item>"
        b"<item><title>Bare&nbsp;entity</title><link>https://example.org/2</link></item>"
        b"</channel></rss>"
    )
    parsed = parse_feed(body, content_type="application/rss+xml")
    assert parsed.title == "Global Centre\u2019s feed"
    first, second = parsed.entries
    assert first["title"] == "Sudan:\xa0El\xa0Fasher"
    assert "One&nbsp;two" in first["summary"] or "One\xa0two" in first["summary"]
    assert "Four" in first["content"][0]["value"]
    assert second["link"] == "https://example.org/2"


@pytest.mark.parametrize(
    "name",
    [
        "un-news/all.xml",
        "un-news/peace-and-security.xml",
        "un-press/rss.xml",
        "globalr2p/feed.xml",
        "bad/latin1.xml",
        "bad/utf16.xml",
        "bad/malformed.xml",
        "bad/hostile.xml",
    ],
)
def test_the_real_feed_shapes_pass_the_guard(name: str) -> None:
    from tests.support.feedserver import DATA

    parsed = parse_feed((DATA / name).read_bytes(), content_type="application/rss+xml")
    assert parsed.entries


def test_a_poll_refuses_the_padded_document_and_stores_nothing(
    db: Db, feed_server: FeedServer
) -> None:
    url = feed_server.serve_bytes("/padded.xml", document("utf-8", comment=KIB_300))
    good = feed_server.serve_file("/press.xml", "un-press/rss.xml")
    with db.session() as session:
        add_source(SourceSpec(key="padded", url=url), allow_private=True, session=session)
        add_source(SourceSpec(key="press", url=good), allow_private=True, session=session)
        session.commit()
    outcomes: dict[str, Any] = {
        o.key: o for o in asyncio.run(poll_sources(db.settings(), db.factory))
    }
    assert outcomes["padded"].status == "failed"
    assert REFUSED in outcomes["padded"].message
    assert outcomes["press"].new == 4
    with db.session() as session:
        titles = list(session.scalars(select(Item.title)))
    assert not any("EXPANDED" in title for title in titles)
