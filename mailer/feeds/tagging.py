"""Relevance tagging: atrocity crimes, R2P terms, risk factors and watch-list countries,
from data.

The rules live in ``mailer/data/relevance.toml`` (or ``R2P_RELEVANCE_FILE``); this module
only compiles and applies them. Every tag records the term that matched it, as the item
wrote it, so an editor can see why an item is there.

A rule's terms come in the six UN languages (English at the top of the rule, the others
in ``[rule.fr]``, ``[rule.ar]`` ... tables), all compiled into one pattern, so an item in
any language, or one that quotes another, is tagged by the same rules. Text and terms are
compared folded (``fold``): case, accents and Arabic diacritics ignored, Arabic letter
variants made one. A term ending in ``*`` matches any ending (Russian and French
inflections); a Chinese or Japanese term matches inside a run of characters (those
scripts put no spaces between words); each word of an Arabic term matches with or
without the definite article, and the first also after a joined conjunction or
preposition ("والسودان", "بالسودان", "للسودان").
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from mailer.errors import ConfigError

KINDS = ("crime", "r2p", "risk", "country")
# The UN's other official languages: a rule's ``[rule.<code>]`` table holds their terms.
LANGUAGES = ("ar", "zh", "fr", "ru", "es")
# Kinds that can make an item relevant; a watch-list country only raises its score.
SUBSTANTIVE_KINDS = ("crime", "r2p", "risk")
# Weights an older rules file may leave out.
DEFAULT_WEIGHTS = {"risk": 2}
_SENTENCE_END = re.compile(r"[.!?;\u061f\u061b\u06d4](?=\s|$)|[\u3002\uff01\uff1f\uff1b]")
# Arabic letters written in more than one way, and the tatweel (a stretching stroke).
_ARABIC_FOLD = str.maketrans(
    {"\u0649": "\u064a", "\u06cc": "\u064a", "\u0629": "\u0647", "\u0640": ""}
)
_ARABIC_ARTICLE = "\u0627\u0644"  # ال
# Joined to an Arabic word: a conjunction (و, ف), then a preposition (ب, ك, ل) and/or the
# article; ل + ال is written لل.
_ARABIC_PREFIX = (
    "(?:[\u0648\u0641]?(?:[\u0628\u0643\u0644]?\u0627\u0644|\u0644\u0644|[\u0628\u0643\u0644]))?"
)
_ARABIC_WORD_ARTICLE = "(?:\u0627\u0644)?"


def _is_arabic(char: str) -> bool:
    return "\u0600" <= char <= "\u06ff" or "\u0750" <= char <= "\u077f"


def _is_unspaced(char: str) -> bool:
    """Chinese, Japanese and Korean characters: words there are not set off by spaces."""
    return (
        "\u3040" <= char <= "\u30ff"
        or "\u3400" <= char <= "\u9fff"
        or "\uac00" <= char <= "\ud7af"
        or "\uf900" <= char <= "\ufaff"
    )


def fold_with_positions(text: str) -> tuple[str, list[int]]:
    """``text`` folded for matching (compatibility forms, case, accents and Arabic
    diacritics dropped, Arabic letter variants made one), and for each folded character
    the index of the character of ``text`` it came from."""
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isascii():
            piece = char.lower()
        else:
            decomposed = unicodedata.normalize("NFKD", char)
            piece = "".join(c for c in decomposed if not unicodedata.combining(c))
            piece = piece.translate(_ARABIC_FOLD).casefold()
        folded.append(piece)
        origin.extend([index] * len(piece))
    return "".join(folded), origin


def fold(text: str) -> str:
    """``text`` as the tagger compares it (see ``fold_with_positions``)."""
    return fold_with_positions(text)[0]


def _word_pattern(word: str, *, first: bool) -> str:
    wildcard = word.endswith("*") and len(word) > 1
    if wildcard:
        word = word[:-1]
    if word and _is_arabic(word[0]):
        if word.startswith(_ARABIC_ARTICLE) and len(word) > len(_ARABIC_ARTICLE) + 1:
            word = word[len(_ARABIC_ARTICLE) :]
        prefix = _ARABIC_PREFIX if first else _ARABIC_WORD_ARTICLE
        return prefix + re.escape(word) + (r"\w*" if wildcard else "")
    return re.escape(word) + (r"\w*" if wildcard else "")


def _term_pattern(phrase: str) -> str:
    words = fold(phrase).replace("-", " ").split()
    body = r"[\s\-]+".join(_word_pattern(word, first=i == 0) for i, word in enumerate(words))
    head = "" if _is_unspaced(words[0][0]) else r"(?<!\w)"
    tail = "" if _is_unspaced(words[-1].rstrip("*")[-1]) else r"(?!\w)"
    return head + body + tail


def _phrase_pattern(phrases: list[str]) -> re.Pattern[str] | None:
    phrases = [phrase for phrase in phrases if phrase.strip(" *-")]
    if not phrases:
        return None
    alternatives = sorted({_term_pattern(phrase) for phrase in phrases}, key=len, reverse=True)
    return re.compile("|".join(alternatives))


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
        """Whether ``match`` counts in ``text`` (both folded)."""
        if _key(match.group(0)) not in self.terms or self.unless.search(text) is None:
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
    # language code -> the rule's name in that language ("en" is ``label``)
    labels: dict[str, str] = field(default_factory=dict)

    def label_in(self, language: str) -> str:
        """The rule's name in ``language``, else in English."""
        return self.labels.get(language, self.label)

    def first_match(self, text: Folded) -> str | None:
        """The first term of this rule in ``text`` that counts, as the item wrote it."""
        folded = text.folded
        excluded = False
        if self.exclude is not None:
            # Blanked to the same length, so positions still map to the original text.
            folded, count = self.exclude.subn(lambda m: " " * len(m.group(0)), folded)
            excluded = count > 0
        for match in self.terms.finditer(folded):
            if excluded and _key(match.group(0)) in self.ambiguous:
                continue
            if all(context.allows(folded, match) for context in self.contexts):
                return text.original_of(match.start(), match.end())
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


def _key(text: str) -> str:
    """A term as the ``ambiguous`` and context lists compare it."""
    return " ".join(fold(text).replace("-", " ").split())


def _normalise(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").split())


@dataclass(frozen=True)
class Folded:
    """An item's text folded for matching, with the way back to what it wrote."""

    original: str
    folded: str
    origin: list[int]

    @classmethod
    def of(cls, text: str) -> Folded:
        folded, origin = fold_with_positions(text)
        return cls(original=text, folded=folded, origin=origin)

    def original_of(self, start: int, end: int) -> str:
        """The original text behind the folded span start..end."""
        return self.original[self.origin[start] : self.origin[end - 1] + 1]


@dataclass(frozen=True)
class Tagger:
    rules: tuple[Rule, ...]
    scoring: dict[str, int]

    def tag(self, *, title: str, text: str, source_key: str, always_relevant: bool) -> Tags:
        haystack = Folded.of(_normalise(f"{title}.\n{text}"))
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
                terms=frozenset(_key(term) for term in entry["terms"]),
                unless=unless,
                sentence_with=_phrase_pattern(list(entry.get("sentence_with", []))),
            )
        )
    return tuple(contexts)


def _in_every_language(raw: dict[str, Any], key: str) -> list[str]:
    """A rule's ``key`` list (terms, exclude, ambiguous) in English and every language
    table it has."""
    values = list(raw.get(key, []))
    for language in LANGUAGES:
        table = raw.get(language, {})
        if not isinstance(table, dict):
            raise ValueError(f"rule {raw['tag']!r}: [{language}] must be a table")
        values.extend(table.get(key, []))
    return values


def _rule(raw: dict[str, Any]) -> Rule:
    if raw["kind"] not in KINDS:
        raise ValueError(f"rule {raw['tag']!r}: kind must be one of {KINDS}")
    terms = _phrase_pattern(_in_every_language(raw, "terms"))
    if terms is None:
        raise ValueError(f"rule {raw['tag']!r} has no terms")
    label = str(raw.get("label") or str(raw["tag"]).replace("-", " ").capitalize())
    labels = {"en": label} | {
        language: str(raw[language]["label"])
        for language in LANGUAGES
        if "label" in raw.get(language, {})
    }
    return Rule(
        tag=str(raw["tag"]),
        label=label,
        kind=str(raw["kind"]),
        terms=terms,
        exclude=_phrase_pattern(_in_every_language(raw, "exclude")),
        ambiguous=frozenset(_key(term) for term in _in_every_language(raw, "ambiguous")),
        contexts=_contexts(raw),
        labels=labels,
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
