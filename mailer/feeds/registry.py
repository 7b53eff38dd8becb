"""The source registry: which feeds we poll, kept in the ``sources`` table.

Defaults come from ``mailer/data/sources.toml`` (or R2P_SOURCES_FILE) and are only ever
added when missing, so an admin's edits survive every ``r2p-mailer init``. Each entry names
the digest section its items go under (stored on the source) and may list its known summary
boilerplate (regular expressions, read from the file at every poll).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.errors import ConfigError, FetchError, SourceError, UnsafeURLError
from mailer.feeds.fetch import check_url_allowed, check_url_form
from mailer.feeds.normalise import compile_boilerplate
from mailer.models import Item, Source

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
SECTION_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
# The section of a source added without one (``feeds add`` without --section).
OTHER_SECTION = "other"


@dataclass(frozen=True)
class SourceSpec:
    key: str
    url: str
    title: str = ""
    kind: str = "rss"
    language: str = "en"
    always_relevant: bool = False
    section: str = OTHER_SECTION
    enabled: bool = True
    boilerplate: tuple[str, ...] = ()


def validate_key(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise SourceError(
            f"{key!r} is not a valid source key: use lower-case letters, digits and hyphens"
        )
    return key


def validate_section(section: str) -> str:
    if not SECTION_PATTERN.match(section):
        raise SourceError(
            f"{section!r} is not a valid section: use lower-case letters, digits and hyphens"
        )
    return section


def _spec(raw: dict[str, Any]) -> SourceSpec:
    spec = SourceSpec(**{**raw, "boilerplate": tuple(raw.get("boilerplate", ()))})
    validate_key(spec.key)
    validate_section(spec.section)
    check_url_form(spec.url)
    try:
        compile_boilerplate(spec.boilerplate)
    except re.error as exc:
        raise SourceError(f"source {spec.key!r}: a boilerplate pattern is invalid: {exc}") from None
    return spec


# Registry data that is read from the file at every poll, never stored on the source.
_FILE_ONLY = frozenset({"boilerplate"})


def _new_source(spec: SourceSpec) -> Source:
    return Source(**{k: v for k, v in asdict(spec).items() if k not in _FILE_ONLY})


def load_default_sources(path: Path | None = None) -> list[SourceSpec]:
    """Read the default source list (packaged, or R2P_SOURCES_FILE)."""
    try:
        if path is None:
            text = files("mailer.data").joinpath("sources.toml").read_text(encoding="utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        document: dict[str, Any] = tomllib.loads(text)
        specs = [_spec(raw) for raw in document["source"]]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, SourceError) as exc:
        origin = path or "the packaged sources.toml"
        raise ConfigError(f"R2P_SOURCES_FILE: cannot use {origin}: {exc}") from None
    return specs


def seed_sources(specs: list[SourceSpec], *, session: Session) -> list[str]:
    """Add the sources whose key is not in the table yet; returns the keys added."""
    existing = set(session.scalars(select(Source.key)))
    added = []
    for spec in specs:
        if spec.key not in existing:
            session.add(_new_source(spec))
            added.append(spec.key)
    session.flush()
    return added


def boilerplate_by_key(specs: list[SourceSpec]) -> dict[str, tuple[str, ...]]:
    """Each registry source's summary boilerplate patterns, by source key."""
    return {spec.key: spec.boilerplate for spec in specs if spec.boilerplate}


def get_source(key: str, *, session: Session) -> Source:
    source = session.scalar(select(Source).where(Source.key == key))
    if source is None:
        known = ", ".join(session.scalars(select(Source.key).order_by(Source.key))) or "none"
        raise SourceError(f"no source {key!r} (known: {known})")
    return source


def add_source(spec: SourceSpec, *, allow_private: bool, session: Session) -> Source:
    """Register a new source, refusing private and loopback addresses.

    A host that cannot be resolved now (offline machine) is accepted: every fetch checks
    the address again before connecting.
    """
    validate_key(spec.key)
    validate_section(spec.section)
    check_feed_url(spec.url, allow_private=allow_private)
    if session.scalar(select(Source.id).where(Source.key == spec.key)) is not None:
        raise SourceError(f"a source {spec.key!r} already exists")
    source = _new_source(spec)
    session.add(source)
    session.flush()
    return source


def check_feed_url(url: str, *, allow_private: bool) -> None:
    """The checks a feed's address passes wherever staff give one (add or edit): http(s),
    and no private or loopback address unless ``allow_private``. A host that cannot be
    resolved now (offline machine) is accepted: every fetch checks the address again
    before connecting."""
    try:
        check_url_allowed(url, allow_private=allow_private)
    except UnsafeURLError:
        raise
    except FetchError:
        pass


@dataclass(frozen=True)
class SourceEdit:
    """What staff may change on a source; None leaves a field as it is."""

    url: str | None = None
    title: str | None = None
    language: str | None = None
    always_relevant: bool | None = None
    section: str | None = None

    def changes(self, source: Source) -> dict[str, object]:
        """The fields this edit would change, with their new values."""
        wanted = {k: v for k, v in asdict(self).items() if v is not None}
        return {k: v for k, v in wanted.items() if getattr(source, k) != v}


LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")
MAX_TITLE = 200


def edit_source(
    key: str, edit: SourceEdit, *, allow_private: bool, session: Session
) -> tuple[Source, dict[str, object]]:
    """Change a source as staff asked; returns it and what changed. A new URL passes the
    same checks as a new source's, and forgets the old address's cache validators so the
    next poll reads it in full."""
    source = get_source(key, session=session)
    changes = edit.changes(source)
    if "section" in changes:
        validate_section(str(changes["section"]))
    if "language" in changes and not LANGUAGE_PATTERN.match(str(changes["language"])):
        raise SourceError(f"{changes['language']!r} is not a language code (e.g. en, fr, pt-BR)")
    if "title" in changes:
        changes["title"] = str(changes["title"]).strip()[:MAX_TITLE]
    if "url" in changes:
        check_feed_url(str(changes["url"]), allow_private=allow_private)
        source.etag = source.last_modified = source.body_hash = None
    for name, value in changes.items():
        setattr(source, name, value)
    session.flush()
    return source, changes


def set_enabled(key: str, enabled: bool, *, session: Session, reason: str | None = None) -> Source:
    source = get_source(key, session=session)
    source.enabled = enabled
    source.disabled_reason = None if enabled else (reason or "disabled by an admin")
    if enabled:
        source.consecutive_failures = 0
    return source


def list_sources(*, session: Session) -> list[tuple[Source, int]]:
    """Every source with its stored item count, in key order."""
    counts = select(Item.source_id, func.count().label("n")).group_by(Item.source_id).subquery()
    rows = session.execute(
        select(Source, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.source_id == Source.id)
        .order_by(Source.key)
    )
    return [(source, int(count)) for source, count in rows]
