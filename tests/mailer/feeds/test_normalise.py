"""Normalising entries: canonical URLs, dedupe keys, sanitised and plain text."""

from __future__ import annotations

import pytest

from mailer.feeds.normalise import (
    RANK_LIVE_BLOG,
    RANK_OTHER,
    RANK_PRESS_RELEASE,
    canonical_url,
    compile_boilerplate,
    dedupe_key,
    pick_url,
    story_rank,
    strip_boilerplate,
)
from mailer.feeds.sanitise import clean_html, html_to_text, one_line, text_to_html


def test_un_news_uses_the_guid_not_the_redirect_link() -> None:
    assert (
        pick_url(
            "https://news.un.org/feed/view/en/story/2026/11/1166401",
            "https://news.un.org/en/story/2026/11/1166401",
        )
        == "https://news.un.org/en/story/2026/11/1166401"
    )


def test_a_wordpress_guid_that_is_not_a_url_leaves_the_link() -> None:
    assert pick_url("https://www.globalr2p.org/a/", "21430") == "https://www.globalr2p.org/a/"


def test_tracking_parameters_and_fragments_are_dropped() -> None:
    assert canonical_url("HTTPS://Example.ORG/a?id=3&utm_source=x&fbclid=y#top") == (
        "https://example.org/a?id=3"
    )


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://news.un.org/en/story/2026/11/1166401", "un-news:en:1166401"),
        ("https://news.un.org/feed/view/fr/story/2026/11/1166401", "un-news:fr:1166401"),
        ("https://press.un.org/en/2026/sc16444.doc.htm", "un-press:sc16444"),
        ("https://press.un.org/en/blog/sc16444", "un-press:sc16444"),
        ("https://press.un.org/en/2026/sgsm22901.doc.htm", "un-press:sgsm22901"),
        (
            "https://www.globalr2p.org/publications/x/",
            "url:https://www.globalr2p.org/publications/x/",
        ),
    ],
)
def test_dedupe_keys_identify_one_story(url: str, key: str) -> None:
    assert dedupe_key(url, "uid") == key


def test_plain_text_fields_are_escaped_when_shown_as_html() -> None:
    assert text_to_html("Fish & <chips>\n\nNext") == "<p>Fish &amp; &lt;chips&gt;</p><p>Next</p>"


def test_html_to_text_drops_scripts_and_keeps_paragraphs() -> None:
    assert html_to_text("<p>One &amp; two</p><script>x()</script><p>Three</p>") == (
        "One & two\nThree"
    )


def test_clean_html_keeps_safe_links_only() -> None:
    cleaned = clean_html(
        '<a href="https://un.org" onclick="x()">UN</a><a href="javascript:x()">'
        "bad</a><form><input name=p></form>"
    )
    assert 'href="https://un.org"' in cleaned and "javascript" not in cleaned
    assert "onclick" not in cleaned and "<form" not in cleaned and "<input" not in cleaned


def test_one_line_strips_control_characters_and_newlines() -> None:
    assert one_line(" Subject\r\nBcc: evil@example.org\x00 ") == "Subject Bcc: evil@example.org"


@pytest.mark.parametrize(
    ("link", "guid"),
    [
        (  # real UN News feeds: the guid is the redirect URL too
            "https://news.un.org/feed/view/en/story/2026/11/1166421",
            "https://news.un.org/feed/view/en/story/2026/11/1166421",
        ),
        ("https://news.un.org/feed/view/en/story/2026/11/1166421?utm_source=rss", ""),
        ("", "https://news.un.org/feed/view/en/story/2026/11/1166421/"),
    ],
)
def test_un_news_redirects_become_canonical_story_urls(link: str, guid: str) -> None:
    assert pick_url(link, guid) == "https://news.un.org/en/story/2026/11/1166421"


def test_a_redirect_that_names_no_story_is_kept() -> None:
    audio = "https://news.un.org/feed/view/en/audio/2026/11/1166424"
    assert pick_url(audio, audio) == audio


@pytest.mark.parametrize(
    ("url", "rank"),
    [
        ("https://press.un.org/en/2026/sc16450.doc.htm", RANK_PRESS_RELEASE),
        ("https://press.un.org/en/blog/sc16450", RANK_LIVE_BLOG),
        ("https://press.un.org/en", RANK_OTHER),
        ("https://news.un.org/en/story/2026/11/1166401", RANK_OTHER),
    ],
)
def test_a_press_release_outranks_its_live_blog(url: str, rank: int) -> None:
    assert story_rank(url) == rank


def test_boilerplate_is_removed_line_by_line() -> None:
    patterns = compile_boilerplate(
        [r"^Countr(?:y|ies): .*$", r"^Sources?: .*$", r"(?i)Please refer to the attached files?\."]
    )
    text = "Country: Ukraine\nSources: UNICEF; OCHA\nPlease refer to the attached files."
    assert strip_boilerplate(text, patterns) == ""
    kept = "Country: Sudan\nSource: IOM\nSome 12,000 people fled El Fasher.\nCountry roads closed."
    assert (
        strip_boilerplate(kept, patterns)
        == "Some 12,000 people fled El Fasher.\nCountry roads closed."
    )
