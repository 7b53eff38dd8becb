"""Relevance tagging: atrocity crimes, R2P terms and watch-list countries, from data.

The rules live in ``mailer/data/relevance.toml`` (or ``R2P_RELEVANCE_FILE``); this module
only compiles and applies them.
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

KINDS = ("crime", "r2p", "country")


def _phrase_pattern(phrases: list[str]) -> re.Pattern[str] | None:
    if not phrases:
        return None
    alternatives = sorted(
        (r"[\s\-]+".join(re.escape(word) for word in phrase.split()) for phrase in phrases),
        key=len,
        reverse=True,
    )
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    tag: str
    label: str
    kind: str
    terms: re.Pattern[str]
    exclude: re.Pattern[str] | None
    ambiguous: frozenset[str]

    def matches(self, text: str) -> bool:
        excluded = False
        if self.exclude is not None:
            text, count = self.exclude.subn(" ", text)
            excluded = count > 0
        for match in self.terms.finditer(text):
            if not (excluded and _fold(match.group(0)) in self.ambiguous):
                return True
        return False


@dataclass(frozen=True)
class Tags:
    crimes: list[str] = field(default_factory=list)
    r2p: bool = False
    countries: list[str] = field(default_factory=list)
    source: str = ""
    relevance: int = 0
    relevant: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "crimes": self.crimes,
            "r2p": self.r2p,
            "countries": self.countries,
            "source": self.source,
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
        haystack = _normalise(f"{title}\n{text}")
        hits: dict[str, list[str]] = {kind: [] for kind in KINDS}
        for rule in self.rules:
            if rule.matches(haystack):
                hits[rule.kind].append(rule.tag)
        score = (
            self.scoring["crime"] * len(hits["crime"])
            + self.scoring["r2p"] * len(hits["r2p"])
            + self.scoring["country"] * len(hits["country"])
            + (self.scoring["always_relevant"] if always_relevant else 0)
        )
        return Tags(
            crimes=hits["crime"],
            r2p=bool(hits["r2p"]),
            countries=hits["country"],
            source=source_key,
            relevance=score,
            relevant=always_relevant or score >= self.scoring["threshold"],
        )


def parse_rules(document: dict[str, Any], origin: str) -> Tagger:
    """Compile a relevance document; a malformed one raises ConfigError naming its origin."""
    try:
        scoring = {
            name: int(document["scoring"][name])
            for name in ("crime", "r2p", "country", "always_relevant", "threshold")
        }
        rules = []
        for raw in document["rule"]:
            if raw["kind"] not in KINDS:
                raise ValueError(f"rule {raw['tag']!r}: kind must be one of {KINDS}")
            terms = _phrase_pattern(list(raw["terms"]))
            if terms is None:
                raise ValueError(f"rule {raw['tag']!r} has no terms")
            rules.append(
                Rule(
                    tag=str(raw["tag"]),
                    label=str(raw.get("label") or str(raw["tag"]).replace("-", " ").capitalize()),
                    kind=str(raw["kind"]),
                    terms=terms,
                    exclude=_phrase_pattern(list(raw.get("exclude", []))),
                    ambiguous=frozenset(_fold(term) for term in raw.get("ambiguous", [])),
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"relevance rules in {origin} are malformed: {exc!r}") from None
    return Tagger(rules=tuple(rules), scoring=scoring)


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
