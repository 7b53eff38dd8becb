"""Relevance in the six UN languages: the same rules tag French, Spanish, Arabic, Russian
and Chinese text, with the term recorded as the item wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.errors import ConfigError
from mailer.feeds.tagging import LANGUAGES, Tagger, fold, fold_with_positions, load_tagger


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return load_tagger()


def tag(tagger: Tagger, title: str, text: str = ""):  # type: ignore[no-untyped-def]
    return tagger.tag(title=title, text=text, source_key="test", always_relevant=False)


def test_folding_drops_case_accents_and_arabic_diacritics_and_maps_back() -> None:
    assert fold("GÉNOCIDE à Kherson") == "genocide a kherson"
    # The same word with and without vowel marks, hamza forms and a tatweel.
    assert fold("الإِبَادَة") == fold("الابادة") == fold("الإبـادة")
    assert fold("Ёлка") == fold("елка")
    folded, origin = fold_with_positions("Straße É")
    assert folded == "strasse e" and len(origin) == len(folded) and origin[-1] == 7


@pytest.mark.parametrize(
    ("title", "term"),
    [
        ("Les Nations Unies dénoncent un GÉNOCIDE", "GÉNOCIDE"),
        ("Alerte : risque de génocide", "génocide"),
        ("Riesgo de genocidio en la región", "genocidio"),
        ("Угроза геноцида растёт", "геноцида"),
        ("О геноциде говорили в Совете", "геноциде"),
        ("تحذير من خطر الإبادة الجماعية", "الإبادة الجماعية"),
        ("تحذير من إبادة جماعية", "إبادة جماعية"),
        # With vowel marks, as some Arabic headlines are written.
        ("تحذير من الإِبَادَة الجَمَاعِيَّة", "الإِبَادَة الجَمَاعِيَّة"),
        ("特别顾问警告存在种族灭绝风险", "种族灭绝"),
        ("安理会讨论灭绝种族问题", "灭绝种族"),
    ],
)
def test_genocide_is_found_in_every_language_as_written(
    tagger: Tagger, title: str, term: str
) -> None:
    tags = tag(tagger, title)
    assert tags.crimes == ["genocide"] and tags.relevant
    assert tags.matched["genocide"] == term


@pytest.mark.parametrize(
    ("title", "country"),
    [
        ("والسودان يواجه أزمة", "والسودان"),
        ("دعم للسودان", "للسودان"),
        ("الوضع في السودان", "السودان"),
        ("مساعدات بالسودان", "بالسودان"),
    ],
)
def test_arabic_names_match_after_a_joined_article_or_preposition(
    tagger: Tagger, title: str, country: str
) -> None:
    assert tag(tagger, title).matched["sudan"] == country


@pytest.mark.parametrize(
    "title",
    [
        "جنوب السودان: فيضانات",
        "南苏丹：洪水",
        "Sudán del Sur: inundaciones",
        "Южный Судан: наводнения",
    ],
)
def test_south_sudan_is_not_sudan_in_any_language(tagger: Tagger, title: str) -> None:
    assert "sudan" not in tag(tagger, title).countries


def test_chinese_terms_match_inside_a_run_of_characters(tagger: Tagger) -> None:
    tags = tag(tagger, "联合国调查委员会记录乌克兰战争罪行")
    assert tags.crimes == ["war-crimes"] and tags.countries == ["ukraine"]
    assert tags.matched == {"war-crimes": "战争罪", "ukraine": "乌克兰"}


def test_a_russian_stem_does_not_match_inside_another_word(tagger: Tagger) -> None:
    # "геноцид*" may end in anything, but must start a word.
    assert tag(tagger, "Антигеноцидный закон").crimes == []


def test_a_wildcard_term_in_a_rules_file_matches_any_ending(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "[scoring]\ncrime = 3\nr2p = 3\ncountry = 1\nalways_relevant = 5\nthreshold = 1\n"
        '[[rule]]\ntag = "x"\nkind = "crime"\nterms = ["war crime"]\n'
        '[rule.ru]\nlabel = "Икс"\nterms = ["военн* преступлени*"]\n',
        encoding="utf-8",
    )
    tagger = load_tagger(rules)
    assert tag(tagger, "Военных преступлений стало больше").matched["x"] == ("Военных преступлений")
    assert tagger.rules[0].label_in("ru") == "Икс" and tagger.rules[0].label_in("fr") == "X"


def test_a_language_entry_must_be_a_table(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "[scoring]\ncrime = 3\nr2p = 3\ncountry = 1\nalways_relevant = 5\nthreshold = 1\n"
        '[[rule]]\ntag = "x"\nkind = "crime"\nterms = ["x"]\nfr = ["y"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"\[fr\] must be a table"):
        load_tagger(rules)


def test_every_packaged_rule_has_a_label_and_terms_in_every_language(tagger: Tagger) -> None:
    import tomllib
    from importlib.resources import files

    document = tomllib.loads(files("mailer.data").joinpath("relevance.toml").read_text("utf-8"))
    for raw in document["rule"]:
        for language in LANGUAGES:
            table = raw.get(language, {})
            assert table.get("label") and table.get("terms"), (raw["tag"], language)
    for rule in tagger.rules:
        assert set(rule.labels) == {"en", *LANGUAGES}, rule.tag
