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

from mailer import i18n
from mailer.errors import MailerError
from mailer.feeds.tagging import load_tagger
from mailer.i18n import N_, gettext

# The six official UN languages, each named in itself.
LANGUAGES: dict[str, str] = {
    code: i18n.LANGUAGE_NAMES[code] for code in ("en", "fr", "es", "ar", "ru", "zh")
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
    # language code -> the topic's name in that language (from the relevance rules)
    labels: tuple[tuple[str, str], ...] = ()

    def label_in(self, language: str) -> str:
        """The topic's name in ``language``, else in English."""
        return dict(self.labels).get(language, self.label)


@dataclass(frozen=True)
class Vocabulary:
    """Topics in the order the form shows them: crimes and R2P first, then countries."""

    themes: tuple[Topic, ...]
    countries: tuple[Topic, ...]

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(t.tag for t in (*self.themes, *self.countries))

    def label(self, tag: str, language: str = "en") -> str:
        topics = (*self.themes, *self.countries)
        return next((t.label_in(language) for t in topics if t.tag == tag), tag)

    def countries_in(self, language: str) -> tuple[Topic, ...]:
        """The countries in the alphabetical order of their names in ``language``."""
        return tuple(sorted(self.countries, key=lambda t: t.label_in(language).casefold()))


@dataclass(frozen=True)
class Choices:
    language: str = "en"
    wants_digest: bool = True
    wants_alerts: bool = True
    topics: tuple[str, ...] = field(default_factory=tuple)
    # A digest in another language also carries English stories (None: a form that does
    # not ask, such as signup, leaves what is stored: on for a new reader).
    include_english: bool | None = None


@lru_cache(maxsize=4)
def vocabulary(relevance_file: Path | None = None) -> Vocabulary:
    rules = load_tagger(relevance_file).rules
    # Risk factors make an item relevant but are not topics a reader picks.
    topics = [Topic(r.tag, r.label, r.kind, tuple(sorted(r.labels.items()))) for r in rules]
    themes = [t for t in topics if t.kind in ("crime", "r2p")]
    countries = [t for t in topics if t.kind == "country"]
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
    include_english: bool | None = None,
) -> Choices:
    """The choices of a submitted form; raises ChoiceError with what to fix."""
    if not (digest or alerts):
        raise ChoiceError(N_("Choose the weekly digest, urgent alerts, or both."))
    chosen = () if everything else clean_topics(topics, known)
    if not everything and not chosen:
        raise ChoiceError(N_("Choose at least one topic, or everything."), "topics")
    return Choices(
        language=clean_language(language),
        wants_digest=digest,
        wants_alerts=alerts,
        topics=chosen,
        include_english=include_english,
    )


# What a reader gets, as whole sentences (translators see each one).
_EVERYTHING = {
    (True, True): N_("The weekly digest and urgent alerts on every topic we follow."),
    (True, False): N_("The weekly digest on every topic we follow."),
    (False, True): N_("Urgent alerts on every topic we follow."),
    (False, False): N_("Nothing on every topic we follow."),
}
_CHOSEN = {
    (True, True): N_("The weekly digest and urgent alerts on: %(topics)s."),
    (True, False): N_("The weekly digest on: %(topics)s."),
    (False, True): N_("Urgent alerts on: %(topics)s."),
    (False, False): N_("Nothing on: %(topics)s."),
}


def describe(choices: Choices, known: Vocabulary) -> str:
    """A plain sentence saying what the reader will get, for emails and pages, in the
    current language (``mailer.i18n.use_language``)."""
    wanted = (choices.wants_digest, choices.wants_alerts)
    if not choices.topics:
        return gettext(_EVERYTHING[wanted])
    language = i18n.current()
    labels = [known.label(tag, language) for tag in choices.topics]
    return gettext(_CHOSEN[wanted]) % {"topics": i18n.locale_list(labels)}


@dataclass(frozen=True)
class Described:
    """``describe`` at the time it is shown: a page puts this in its context and the
    sentence comes out in the language the page is rendered in."""

    choices: Choices
    known: Vocabulary

    def __str__(self) -> str:
        return describe(self.choices, self.known)
