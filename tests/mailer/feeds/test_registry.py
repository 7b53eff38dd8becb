"""The source registry: each default source's section, switch and summary boilerplate."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.errors import ConfigError
from mailer.feeds.registry import (
    OTHER_SECTION,
    SourceSpec,
    add_source,
    boilerplate_by_key,
    load_default_sources,
    seed_sources,
)
from mailer.models import Source
from tests.conftest import Db


def test_every_default_source_names_its_digest_section() -> None:
    sections = {spec.key: spec.section for spec in load_default_sources()}
    assert sections["globalr2p"] == sections["globalr2p-publications"] == "global-centre"
    assert sections["un-press"] == "un-press" and sections["un-news-all"] == "un-news"
    assert OTHER_SECTION not in sections.values()


def test_seeding_stores_sections_and_adds_a_switched_off_source_off(db: Db) -> None:
    with db.session() as session:
        seed_sources(load_default_sources(), session=session)
        stored = {s.key: s for s in session.scalars(select(Source))}
    assert stored["globalr2p"].section == "global-centre"
    assert stored["reliefweb-updates"].section == "humanitarian"
    assert stored["reliefweb-updates"].enabled is False and stored["un-press"].enabled is True


def test_a_source_added_by_an_admin_keeps_its_section(db: Db) -> None:
    with db.session() as session:
        spec = SourceSpec("watch", "http://127.0.0.1:9/a.xml", section="humanitarian")
        assert add_source(spec, allow_private=True, session=session).section == "humanitarian"
        plain = add_source(
            SourceSpec("plain", "http://127.0.0.1:9/b.xml"), allow_private=True, session=session
        )
        assert plain.section == OTHER_SECTION


def test_boilerplate_comes_from_the_registry_by_key() -> None:
    patterns = boilerplate_by_key(load_default_sources())
    assert set(patterns) == {"reliefweb-updates"}
    assert any(p.startswith("^Countr") for p in patterns["reliefweb-updates"])


@pytest.mark.parametrize("line", ["boilerplate = ['(unclosed']", 'section = "Not A Key"'])
def test_a_bad_registry_entry_is_refused_naming_the_file(tmp_path: Path, line: str) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[[source]]\nkey = "x"\nurl = "https://example.org/feed"\n{line}\n')
    with pytest.raises(ConfigError, match=r"sources\.toml"):
        load_default_sources(sources)
