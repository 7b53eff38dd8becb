"""An alert's versions: the original and the translations staff wrote, one per language.

A reader gets the version in their language; a reader whose language has none gets the
original, with a line (in their language) saying so. The email's fixed texts (band,
button, footer) always follow the reader's language. Alerts are rendered once per
language (the delivery's content key), never once per reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer import i18n
from mailer.errors import MailerError
from mailer.feeds.sanitise import strip_control
from mailer.models import AlertTranslation, Campaign

# Staff write the original in English; every other language may have a translation.
ORIGINAL = i18n.DEFAULT
TRANSLATABLE = tuple(code for code in i18n.LANGUAGES if code != ORIGINAL)
SUBJECT_MAX = 200  # as mailer.alerts
BODY_MAX = 5000
LINK_TEXT_MAX = 60


class TranslationError(MailerError):
    """The translation was refused; the message says why."""


@dataclass(frozen=True)
class Translation:
    """One language's words: subject, body, and the button's label ("" for the
    catalogue's "Read more" in that language)."""

    language: str
    subject: str
    body: str
    link_text: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"subject": self.subject, "body": self.body, "link_text": self.link_text}


def check_language(language: str) -> str:
    """``language`` when a translation may be written in it; raises TranslationError."""
    code = language.strip().lower()
    if code == ORIGINAL:
        raise TranslationError("English is the original: edit the alert itself")
    if code not in TRANSLATABLE:
        raise TranslationError(f"the language must be one of {', '.join(TRANSLATABLE)}")
    return code


def _one_line(text: str, what: str, limit: int, *, required: bool) -> str:
    if "\r" in text or "\n" in text:
        raise TranslationError(f"the {what} must be a single line")
    clean = " ".join(strip_control(text).split())
    if required and not clean:
        raise TranslationError(f"the {what} is empty")
    if len(clean) > limit:
        raise TranslationError(f"the {what} is {len(clean)} characters; keep it under {limit}")
    return clean


def validate_translation(draft: Translation) -> Translation:
    """The cleaned translation, or TranslationError saying what is wrong."""
    language = check_language(draft.language)
    subject = _one_line(draft.subject, "subject", SUBJECT_MAX, required=True)
    body = strip_control(draft.body.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not body:
        raise TranslationError("the body is empty")
    if len(body) > BODY_MAX:
        raise TranslationError(f"the body is {len(body)} characters; keep it under {BODY_MAX}")
    link_text = _one_line(draft.link_text, "link text", LINK_TEXT_MAX, required=False)
    return Translation(language, subject, body, link_text)


def translations_of(campaign_id: int, *, session: Session) -> dict[str, Translation]:
    """The alert's translations by language, in the switcher's order."""
    rows = session.scalars(
        select(AlertTranslation).where(AlertTranslation.campaign_id == campaign_id)
    )
    found = {
        row.language: Translation(row.language, row.subject, row.body, row.link_text)
        for row in rows
    }
    return {code: found[code] for code in TRANSLATABLE if code in found}


def version_context(
    campaign: Campaign, language: str, translations: dict[str, Translation]
) -> dict[str, Any]:
    """What the alert template gets for readers of ``language``: its words (translated
    or original), the language it renders in, and ``original_lang`` when the words are
    the original shown to a reader of another language (the template says so)."""
    code = i18n.supported(language) or ORIGINAL
    context: dict[str, Any] = {**campaign.context, "subject": campaign.subject}
    context.update(language=code, link_text="", original_lang="")
    translation = translations.get(code)
    if translation is not None:
        context.update(translation.as_dict())
    elif code != ORIGINAL:
        context["original_lang"] = ORIGINAL
    return context
