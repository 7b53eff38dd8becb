"""What a reader can choose: language, digest and/or alerts, and topics.

Topics come from the relevance rules (``mailer/data/relevance.toml`` or
R2P_RELEVANCE_FILE): the atrocity crimes, R2P, and the watch-list countries. An empty
topic list means everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from mailer.errors import MailerError
from mailer.feeds.tagging import load_tagger

# The six official UN languages, each named in itself.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "fr": "Français",
    "es": "Español",
    "ar": "العربية",
    "ru": "Русский",
    "zh": "中文",
}


class ChoiceError(MailerError):
    """A choice that is not on offer; the message is written for the reader, ``field``
    says which part of the form it is about (receive, topics, language)."""

    def __init__(self, message: str, field: str = "receive") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Topic:
    tag: str
    label: str
    kind: str


@dataclass(frozen=True)
class Vocabulary:
    """Topics in the order the form shows them: crimes and R2P first, then countries."""

    themes: tuple[Topic, ...]
    countries: tuple[Topic, ...]

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(t.tag for t in (*self.themes, *self.countries))

    def label(self, tag: str) -> str:
        return next((t.label for t in (*self.themes, *self.countries) if t.tag == tag), tag)


@dataclass(frozen=True)
class Choices:
    language: str = "en"
    wants_digest: bool = True
    wants_alerts: bool = True
    topics: tuple[str, ...] = field(default_factory=tuple)


@lru_cache(maxsize=4)
def vocabulary(relevance_file: Path | None = None) -> Vocabulary:
    rules = load_tagger(relevance_file).rules
    # Risk factors make an item relevant but are not topics a reader picks.
    themes = [Topic(r.tag, r.label, r.kind) for r in rules if r.kind in ("crime", "r2p")]
    countries = [Topic(r.tag, r.label, r.kind) for r in rules if r.kind == "country"]
    return Vocabulary(
        themes=tuple(themes), countries=tuple(sorted(countries, key=lambda t: t.label))
    )


def clean_topics(tags: Iterable[str], known: Vocabulary) -> tuple[str, ...]:
    """Known tags, each once, in vocabulary order; raises ChoiceError on an unknown tag."""
    wanted = {tag.strip().lower() for tag in tags if tag.strip()}
    unknown = sorted(wanted - known.tags)
    if unknown:
        raise ChoiceError(f"Unknown topic: {', '.join(unknown)}.", "topics")
    return tuple(t.tag for t in (*known.themes, *known.countries) if t.tag in wanted)


def clean_language(code: str) -> str:
    code = code.strip().lower()
    if code not in LANGUAGES:
        raise ChoiceError(f"Unknown language: {code or '(empty)'}.", "language")
    return code


def read_choices(
    *,
    language: str,
    digest: bool,
    alerts: bool,
    everything: bool,
    topics: Iterable[str],
    known: Vocabulary,
) -> Choices:
    """The choices of a submitted form; raises ChoiceError with what to fix."""
    if not (digest or alerts):
        raise ChoiceError("Choose the weekly digest, urgent alerts, or both.")
    chosen = () if everything else clean_topics(topics, known)
    if not everything and not chosen:
        raise ChoiceError("Choose at least one topic, or everything.", "topics")
    return Choices(
        language=clean_language(language), wants_digest=digest, wants_alerts=alerts, topics=chosen
    )


def describe(choices: Choices, known: Vocabulary) -> str:
    """A plain sentence saying what the reader will get, for emails and pages."""
    kinds = [
        name
        for name, wanted in (
            ("the weekly digest", choices.wants_digest),
            ("urgent alerts", choices.wants_alerts),
        )
        if wanted
    ]
    what = " and ".join(kinds) or "nothing"
    if not choices.topics:
        return f"{what[0].upper()}{what[1:]} on every topic we follow."
    labels = [known.label(tag) for tag in choices.topics]
    return f"{what[0].upper()}{what[1:]} on: {', '.join(labels)}."
