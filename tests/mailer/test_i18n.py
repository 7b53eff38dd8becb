"""The catalogues: every message the pages and emails use is translated in every language
with the same placeholders, the compiled .mo match the .po; picking a language; dates,
numbers and text direction by locale."""

from __future__ import annotations

import gettext
import re
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from jinja2 import DictLoader, Environment

from mailer import i18n

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [code for code in i18n.LANGUAGES if code != i18n.DEFAULT]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%[sd]")


@cache
def extracted() -> dict[str, str | tuple[str, ...]]:
    """What `make translations` extracts (babel.cfg), freshly from the sources."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str, str | tuple[str, ...]] = {}
    for _path, _line, message, _comments, _context in extract_from_dir(
        ROOT,
        method_map,
        options_map,
        keywords={**DEFAULT_KEYWORDS, "N_": None},
        directory_filter=lambda d: not Path(d).name.startswith((".", "__")),
    ):
        key = message[0] if isinstance(message, tuple) else message
        if key:
            found[key] = message
    return found


def placeholders(text: str) -> set[str]:
    return {m.group(0) for m in PLACEHOLDER.finditer(text)}


def test_the_sources_have_messages_to_translate() -> None:
    messages = extracted()
    assert "Get R2P news by email" in messages  # templates/web/subscribe.html
    assert "Please confirm your subscription to R2P news" in messages  # subscribers/mails.py
    assert "You receive this because you subscribed with %(address)s." in messages


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_with_the_same_placeholders(language: str) -> None:
    po_path = i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as handle:
        catalogue = read_po(handle, locale=language)
    assert "AWAITING REVIEW BY A NATIVE SPEAKER" in catalogue.header_comment
    problems = []
    for key, message in extracted().items():
        entry = catalogue.get(message)
        if entry is None:
            problems.append(f"missing: {key!r}")
            continue
        singulars = message if isinstance(message, tuple) else (message,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy or not all(strings):
            problems.append(f"untranslated or fuzzy: {key!r}")
            continue
        wanted = set().union(*(placeholders(s) for s in singulars))
        for form in strings:
            got = placeholders(form)
            # A plural form may leave out the number ("يوم واحد", one day); nothing else.
            allowed = wanted - {"%(count)s", "%(num)s"} if len(singulars) > 1 else wanted
            if not (allowed <= got <= wanted):
                problems.append(f"placeholders {sorted(got)} != {sorted(wanted)}: {key!r}")
        if "<" in key and key.count("<") != strings[0].count("<"):
            problems.append(f"markup differs: {key!r}")
    assert problems == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogue_matches_its_source(language: str) -> None:
    folder = i18n.LOCALE_DIR / language / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as handle:
        catalogue = read_po(handle, locale=language)
    with (folder / "messages.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in catalogue:
        if not entry.id or isinstance(entry.id, tuple):
            continue
        assert compiled.gettext(entry.id) == entry.string, f"run make translations: {entry.id}"


def test_the_language_is_the_choice_else_accept_language_else_english() -> None:
    assert i18n.pick("fr", "ar") == "fr"
    assert i18n.pick(None, "zh-Hans-CN") == "zh"
    assert i18n.pick("de", accept_language="de-DE, ar;q=0.8, fr;q=0.9") == "fr"
    assert i18n.pick(None, accept_language="es-419,es;q=0.9,en;q=0.5") == "es"
    assert i18n.pick(accept_language="de, ja;q=0.5") == "en"
    assert i18n.pick(accept_language="ru;q=0, en;q=0.1") == "en"
    assert i18n.pick(accept_language="ru;q=oops") == "en"
    assert i18n.pick() == "en"


def test_dates_numbers_direction_and_lists_follow_the_language() -> None:
    day = date(2026, 12, 7)
    with i18n.use_language("fr"):
        assert i18n.locale_date(day) == "7 décembre 2026"
        assert i18n.locale_number(1234.5) == "1\u202f234,5"
        assert i18n.gettext("Subscribe") == "S'abonner"
    with i18n.use_language("ar"):
        assert i18n.locale_list(["أ", "ب"]) == "أ، ب"
        assert i18n.direction(i18n.current()) == "rtl"
    assert i18n.current() == "en" and i18n.direction("en") == "ltr"
    assert i18n.gettext("") == ""  # never the catalogue's header


def test_templates_translate_with_plurals_and_escape_what_they_insert() -> None:
    env = Environment(
        autoescape=True,
        loader=DictLoader(
            {
                "t": "{% trans count=n %}The link opens a page with one button to press; it "
                "works for {{ count }} day. If it does not open, copy this link into your "
                "browser:{% pluralize %}The link opens a page with one button to press; it "
                "works for {{ count }} days. If it does not open, copy this link into your "
                "browser:{% endtrans %}|{{ _('Error %(status)s', status=s) }}|{{ m|translated }}"
            }
        ),
    )
    i18n.install(env)
    with i18n.use_language("ru"):
        ru = env.get_template("t").render(n=5, s="<b>", m="Topics")
    assert "действует 5 дней" in ru
    assert "Ошибка &lt;b&gt;" in ru and ru.endswith("|Темы")
    with i18n.use_language("ar"):
        assert "لمدة يومين" in env.get_template("t").render(n=2, s=1, m="<i>")
        assert env.get_template("t").render(n=2, s=1, m="<i>").endswith("|&lt;i&gt;")
