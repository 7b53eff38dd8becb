"""The choice fields shared by the signup and preferences forms, as the page shows them."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailer.models import Subscriber
from subscribers.choices import Choices, Vocabulary, read_choices

CHECKED = "on"


@dataclass(frozen=True)
class ChoiceFields:
    language: str = "en"
    digest: bool = True
    alerts: bool = True
    everything: bool = True
    topics: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def submitted(
        cls, *, language: str, digest: str, alerts: str, topics_mode: str, topics: list[str]
    ) -> ChoiceFields:
        return cls(
            language=language,
            digest=digest == CHECKED,
            alerts=alerts == CHECKED,
            everything=topics_mode != "chosen",
            topics=frozenset(topics),
        )

    @classmethod
    def of(cls, subscriber: Subscriber) -> ChoiceFields:
        return cls(
            language=subscriber.language,
            digest=subscriber.wants_digest,
            alerts=subscriber.wants_alerts,
            everything=not subscriber.topics,
            topics=frozenset(subscriber.topics or ()),
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
        )
