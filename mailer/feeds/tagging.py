"""Relevance tagging: atrocity crimes, R2P terms, risk factors and watch-list countries,
from data.

The rules live in ``mailer/data/relevance.toml`` (or ``R2P_RELEVANCE_FILE``); this module
only compiles and applies them. Every tag records the term that matched it, as the item
wrote it, so an editor can see why an item is there.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from mailer.errors import ConfigError

KINDS = ("crime", "r2p", "risk", "country")
# Kinds that can make an item relevant; a watch-list country only raises its score.
SUBSTANTIVE_KINDS = ("crime", "r2p", "risk")
# Weights an older rules file may leave out.
DEFAULT_WEIGHTS = {"risk": 2}
_SENTENCE_END = re.compile(r"[.!?;](?=\s|$)")


def _phrase_pattern(phrases: list[str]) -> re.Pattern[str] | None:
    if not phrases:
        return None
    alternatives = sorted(
        (r"[\s\-]+".join(re.escape(word) for word in phrase.split()) for phrase in phrases),
        key=len,
        reverse=True,
    )
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def _sentence_around(text: str, start: int, end: int) -> str:
    """The sentence of ``text`` holding the span start..end."""
    before = [m.end() for m in _SENTENCE_END.finditer(text, 0, start)]
    after = _SENTENCE_END.search(text, end)
    return text[before[-1] if before else 0 : after.end() if after else len(text)]


@dataclass(frozen=True)
class TermContext:
    """Terms of a rule that need context: they do not count when an ``unless`` phrase
    occurs in the item, except in a sentence that also has a ``sentence_with`` phrase."""

    terms: frozenset[str]
    unless: re.Pattern[str]
    sentence_with: re.Pattern[str] | None

    def allows(self, text: str, match: re.Match[str]) -> bool:
        if _fold(match.group(0)) not in self.terms or self.unless.search(text) is None:
            return True
        if self.sentence_with is None:
            return False
        sentence = _sentence_around(text, match.start(), match.end())
        return self.sentence_with.search(sentence) is not None


@dataclass(frozen=True)
class Rule:
    tag: str
    label: str
    kind: str
    terms: re.Pattern[str]
    exclude: re.Pattern[str] | None
    ambiguous: frozenset[str]
    contexts: tuple[TermContext, ...] = ()

    def first_match(self, text: str) -> str | None:
        """The first term of this rule in ``text`` that counts, as written there."""
        excluded = False
        if self.exclude is not None:
            text, count = self.exclude.subn(" ", text)
            excluded = count > 0
        for match in self.terms.finditer(text):
            if excluded and _fold(match.group(0)) in self.ambiguous:
                continue
            if all(context.allows(text, match) for context in self.contexts):
                return match.group(0)
        return None


@dataclass(frozen=True)
class Tags:
    crimes: list[str] = field(default_factory=list)
    r2p: bool = False
    countries: list[str] = field(default_factory=list)
    source: str = ""
    relevance: int = 0
    relevant: bool = False
    risks: list[str] = field(default_factory=list)
    # tag -> the term that matched it, as the item wrote it ("r2p" for the R2P tag)
    matched: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "crimes": self.crimes,
            "r2p": self.r2p,
            "countries": self.countries,
            "source": self.source,
            "risks": self.risks,
            "matched": self.matched,
        }


def _fold(text: str) -> str:
    return " ".join(text.replace("-", " ").split()).casefold()


def _normalise(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").split())


@dataclass(frozen=True)
class Tagger:
    rules: tuple[Rule, ...]
    scoring: dict[str, int]

    def tag(self, *, title: str, text: str, source_key: str, always_relevant: bool) -> Tags:
        haystack = _normalise(f"{title}.\n{text}")
        hits: dict[str, list[str]] = {kind: [] for kind in KINDS}
        matched: dict[str, str] = {}
        for rule in self.rules:
            term = rule.first_match(haystack)
            if term is not None:
                hits[rule.kind].append(rule.tag)
                matched.setdefault(rule.tag, term)
        score = sum(self.scoring[kind] * len(hits[kind]) for kind in KINDS) + (
            self.scoring["always_relevant"] if always_relevant else 0
        )
        substantive = any(hits[kind] for kind in SUBSTANTIVE_KINDS)
        return Tags(
            crimes=hits["crime"],
            r2p=bool(hits["r2p"]),
            countries=hits["country"],
            source=source_key,
            relevance=score,
            relevant=always_relevant or (substantive and score >= self.scoring["threshold"]),
            risks=hits["risk"],
            matched=matched,
        )


def _contexts(raw: dict[str, Any]) -> tuple[TermContext, ...]:
    contexts = []
    for entry in raw.get("context", []):
        unless = _phrase_pattern(list(entry["unless"]))
        if unless is None or not entry["terms"]:
            raise ValueError(f"rule {raw['tag']!r}: a context needs terms and unless phrases")
        contexts.append(
            TermContext(
                terms=frozenset(_fold(term) for term in entry["terms"]),
                unless=unless,
                sentence_with=_phrase_pattern(list(entry.get("sentence_with", []))),
            )
        )
    return tuple(contexts)


def _rule(raw: dict[str, Any]) -> Rule:
    if raw["kind"] not in KINDS:
        raise ValueError(f"rule {raw['tag']!r}: kind must be one of {KINDS}")
    terms = _phrase_pattern(list(raw["terms"]))
    if terms is None:
        raise ValueError(f"rule {raw['tag']!r} has no terms")
    return Rule(
        tag=str(raw["tag"]),
        label=str(raw.get("label") or str(raw["tag"]).replace("-", " ").capitalize()),
        kind=str(raw["kind"]),
        terms=terms,
        exclude=_phrase_pattern(list(raw.get("exclude", []))),
        ambiguous=frozenset(_fold(term) for term in raw.get("ambiguous", [])),
        contexts=_contexts(raw),
    )


def parse_rules(document: dict[str, Any], origin: str) -> Tagger:
    """Compile a relevance document; a malformed one raises ConfigError naming its origin."""
    try:
        weights = document["scoring"]
        scoring = {
            name: int(weights[name] if name in weights else DEFAULT_WEIGHTS[name])
            for name in (*KINDS, "always_relevant", "threshold")
        }
        rules = tuple(_rule(raw) for raw in document["rule"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"relevance rules in {origin} are malformed: {exc!r}") from None
    return Tagger(rules=rules, scoring=scoring)


@lru_cache(maxsize=4)
def load_tagger(path: Path | None = None) -> Tagger:
    """The tagger for R2P_RELEVANCE_FILE, or for the packaged defaults."""
    if path is None:
        text = files("mailer.data").joinpath("relevance.toml").read_text(encoding="utf-8")
        origin = "the packaged relevance.toml"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"R2P_RELEVANCE_FILE: cannot read {path}: {exc}") from None
        origin = str(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"relevance rules in {origin} are not valid TOML: {exc}") from None
    return parse_rules(document, origin)
