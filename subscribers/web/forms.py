"""The choice fields shared by the signup and preferences forms, as the page shows them,
and ``render_with_choices`` for the pages (readers' and staff's) that show them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from mailer.models import Subscriber
from mailer.web.pages import render, settings_of
from subscribers.choices import LANGUAGES, Choices, Vocabulary, read_choices, vocabulary

CHECKED = "on"


@dataclass(frozen=True)
class ChoiceFields:
    language: str = "en"
    digest: bool = True
    alerts: bool = True
    everything: bool = True
    topics: frozenset[str] = field(default_factory=frozenset)
    # "Also include English news" (the preferences page only; None: not on this form).
    english: bool | None = None

    @classmethod
    def submitted(
        cls,
        *,
        language: str,
        digest: str,
        alerts: str,
        topics_mode: str,
        topics: list[str],
        english: str | None = None,
    ) -> ChoiceFields:
        return cls(
            language=language,
            digest=digest == CHECKED,
            alerts=alerts == CHECKED,
            everything=topics_mode != "chosen",
            topics=frozenset(topics),
            english=None if english is None else english == CHECKED,
        )

    @classmethod
    def of(cls, subscriber: Subscriber) -> ChoiceFields:
        return cls(
            language=subscriber.language,
            digest=subscriber.wants_digest,
            alerts=subscriber.wants_alerts,
            everything=not subscriber.topics,
            topics=frozenset(subscriber.topics or ()),
            english=subscriber.include_english,
        )

    def choices(self, known: Vocabulary) -> Choices:
        """Raises ChoiceError with what the reader should fix."""
        return read_choices(
            language=self.language,
            digest=self.digest,
            alerts=self.alerts,
            everything=self.everything,
            topics=self.topics,
            known=known,
            include_english=self.english,
        )


def render_with_choices(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    csrf_session: str = "",
) -> HTMLResponse:
    """``mailer.web.pages.render`` with the languages and topics a reader can choose."""
    choices = {
        "languages": LANGUAGES,
        "vocabulary": vocabulary(settings_of(request).relevance_file),
    }
    return render(
        request, name, {**choices, **(context or {})}, status=status, csrf_session=csrf_session
    )
