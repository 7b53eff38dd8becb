"""The reader's language: gettext catalogues, picking a locale, dates and numbers by locale.

Catalogues live in ``mailer/locale/<lang>/LC_MESSAGES/messages.po`` with their compiled
``messages.mo`` beside them (committed, so a clean checkout runs; ``make translations``
extracts, updates and compiles them again). The six UN languages are the only ones offered.

Templates and code translate through ``gettext``/``ngettext`` here, which read the language
of the rendering under way (``use_language``, a context variable: safe across threads and
asyncio tasks). ``install`` puts Jinja's i18n extension on an environment (newstyle
gettext, so translated strings are autoescaped and their placeholders named).
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date, format_skeleton
from babel.numbers import format_decimal
from jinja2 import Environment

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
DEFAULT = "en"
# The six official UN languages, in the order the switcher shows them.
LANGUAGES = ("ar", "zh", "en", "fr", "ru", "es")
RTL = frozenset({"ar"})
# Each language named in itself (the switcher and the form's choice).
LANGUAGE_NAMES = {
    "ar": "العربية",
    "zh": "中文",
    "en": "English",
    "fr": "Français",
    "ru": "Русский",
    "es": "Español",
}

_current: ContextVar[str] = ContextVar("r2p_language", default=DEFAULT)


def N_(message: str) -> str:
    """Marks ``message`` for extraction; it is translated where it is shown."""
    return message


def supported(code: str | None) -> str | None:
    """``code`` when it is one of the six languages (``fr-CA`` counts as ``fr``)."""
    if not code:
        return None
    base = code.strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The best of the six languages an ``Accept-Language`` header asks for, or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:30]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        code = supported(tag)
        if code and quality > 0:
            ranked.append((-quality, position, code))
    return min(ranked)[2] if ranked else None


def pick(*candidates: str | None, accept_language: str | None = None) -> str:
    """The first supported of ``candidates`` (an explicit choice, the reader's stored
    language...), else the best of ``Accept-Language``, else English."""
    for candidate in candidates:
        code = supported(candidate)
        if code:
            return code
    return from_accept_language(accept_language) or DEFAULT


def direction(language: str) -> str:
    """``rtl`` for Arabic, ``ltr`` otherwise (the ``dir`` attribute)."""
    return "rtl" if language in RTL else "ltr"


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> _gettext.NullTranslations:
    """The compiled catalogue of ``language`` (English is the source: no catalogue needed,
    but one is read when present)."""
    return _gettext.translation(
        DOMAIN, localedir=LOCALE_DIR, languages=[language], fallback=language == DEFAULT
    )


def current() -> str:
    """The language of the rendering under way."""
    return _current.get()


@contextmanager
def use_language(language: str) -> Iterator[str]:
    """Translate into ``language`` (one of the six, else English) inside the block."""
    code = supported(language) or DEFAULT
    token = _current.set(code)
    try:
        yield code
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    # gettext("") is the catalogue's header: an empty message stays empty.
    return translations(current()).gettext(message) if message else message


def translated(message: object) -> str:
    """A message made elsewhere (an error, a page title) in the current language when a
    catalogue has it, else as it is. Plain text: the template escapes it, unlike ``_()``
    whose translation counts as markup."""
    return gettext(str(message))


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(current()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return translations(current()).npgettext(context, singular, plural, n)


def locale_date(value: date | datetime, style: str = "long") -> str:
    """``value`` as the current language writes dates (``7 décembre 2026``)."""
    return format_date(value, format=style, locale=current())


def locale_day_month(value: date | datetime) -> str:
    """Day and month as the current language writes them (``2 déc.``, ``12月2日``)."""
    moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    return format_skeleton("MMMd", moment, locale=current())


# How each language separates the items of a list (the Arabic comma, the Chinese
# enumeration comma).
_LIST_SEPARATORS = {"ar": "، ", "zh": "、"}


def locale_list(values: list[str]) -> str:
    """``values`` joined with the current language's list separator."""
    return _LIST_SEPARATORS.get(current(), ", ").join(values)


def locale_number(value: float) -> str:
    """``value`` with the current language's separators (``1 234,5`` in French)."""
    return format_decimal(value, locale=current())


def install(env: Environment) -> None:
    """Jinja's i18n extension on ``env``, translating into the current language, with
    ``locale_date``/``locale_number`` filters and ``page_dir``-style helpers."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext, ngettext, newstyle=True, pgettext=pgettext, npgettext=npgettext
    )
    env.filters["locale_date"] = locale_date
    env.filters["locale_number"] = locale_number
    env.filters["translated"] = translated
    env.globals["current_language"] = current
    env.globals["text_direction"] = lambda: direction(current())
