"""Relevance tagging from data: crimes, R2P terms, countries and their aliases."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.errors import ConfigError
from mailer.feeds.tagging import Tagger, load_tagger


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return load_tagger()


def tag(tagger: Tagger, text: str, *, title: str = "", always: bool = False):  # type: ignore[no-untyped-def]
    return tagger.tag(title=title, text=text, source_key="test", always_relevant=always)


def test_it_finds_the_four_atrocity_crimes(tagger: Tagger) -> None:
    tags = tag(
        tagger,
        "Reports of genocide, war-crimes, crimes against humanity and ethnic\n"
        "cleansing in the region.",
    )
    assert tags.crimes == ["genocide", "war-crimes", "crimes-against-humanity", "ethnic-cleansing"]
    assert tags.relevant


@pytest.mark.parametrize(
    "text",
    [
        "the Responsibility to Protect",
        "R2P principles",
        "RtoP",
        "mass atrocities",
        "atrocity crimes",
    ],
)
def test_it_recognises_r2p_terms(tagger: Tagger, text: str) -> None:
    assert tag(tagger, f"Debate on {text} at the Assembly.").r2p is True


def test_the_ukrainian_ngo_right_to_protection_is_not_r2p(tagger: Tagger) -> None:
    tags = tag(
        tagger,
        "Aid was distributed by Right to Protection (R2P), a Ukrainian NGO. "
        "R2P staff visited Kharkiv.",
    )
    assert tags.r2p is False and tags.countries == ["ukraine"]


def test_the_full_phrase_still_counts_beside_the_ngo(tagger: Tagger) -> None:
    tags = tag(
        tagger, "Right to Protection (R2P) welcomed the debate on the responsibility to protect."
    )
    assert tags.r2p is True


@pytest.mark.parametrize(
    ("alias", "country"),
    [
        ("Burma", "myanmar"),
        ("the Rohingya", "myanmar"),
        ("Uyghur families", "china"),
        ("El Fasher", "sudan"),
        ("Darfur", "sudan"),
        ("Gaza", "israel-opt"),
        ("the West Bank", "israel-opt"),
        ("Tigray", "ethiopia"),
        ("North Kivu", "dr-congo"),
    ],
)
def test_country_aliases_map_to_the_watch_list(tagger: Tagger, alias: str, country: str) -> None:
    assert tag(tagger, f"News from {alias} today.").countries == [country]


@pytest.mark.parametrize(
    "text",
    [
        "Somalia held talks.",
        "South Sudan votes.",
        "Nigeria's election.",
        "Malice aforethought.",
        "The South China Sea dispute.",
    ],
)
def test_near_misses_are_not_watch_list_countries(tagger: Tagger, text: str) -> None:
    tags = tag(tagger, text)
    assert "mali" not in tags.countries and "sudan" not in tags.countries
    assert "niger" not in tags.countries and "china" not in tags.countries


def test_an_item_with_no_terms_is_irrelevant_unless_its_source_always_is(tagger: Tagger) -> None:
    assert tag(tagger, "World Toilet Day: sanitation for all").relevant is False
    always = tag(tagger, "Job vacancy: research analyst", always=True)
    assert always.relevant is True and always.relevance == 5


def test_rules_come_from_a_data_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "[scoring]\ncrime = 3\nr2p = 3\ncountry = 1\nalways_relevant = 5\nthreshold = 3\n"
        '[[rule]]\ntag = "atlantis"\nkind = "country"\nterms = ["Atlantis"]\n'
    )
    custom = load_tagger(rules)
    tags = custom.tag(title="Atlantis floods", text="", source_key="x", always_relevant=False)
    assert tags.countries == ["atlantis"] and tags.relevant is False  # below threshold 3


def test_a_malformed_rules_file_names_itself(tmp_path: Path) -> None:
    rules = tmp_path / "broken.toml"
    rules.write_text('[[rule]]\ntag = "x"\nkind = "planet"\nterms = ["x"]\n')
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        load_tagger(rules)


def test_a_watch_list_country_alone_does_not_make_an_item_relevant(tagger: Tagger) -> None:
    tags = tag(
        tagger,
        "Football federations pledged match proceeds to rebuild Ukrainian schools.",
        title="World football goes for goal, in aid of Ukraine",
    )
    assert tags.countries == ["ukraine"] and tags.relevance > 0
    assert tags.relevant is False


@pytest.mark.parametrize(
    ("text", "risk", "term"),
    [
        ("Reports of mass killings near the border.", "mass-killings", "mass killings"),
        (
            "Conflict-related sexual violence rises.",
            "sexual-violence",
            "Conflict-related sexual violence",
        ),
        ("The forced displacement of villagers.", "forced-displacement", "forced displacement"),
        ("Hate speech spreads online.", "incitement", "Hate speech"),
        (
            "Starvation as a method of war is prohibited.",
            "starvation",
            "Starvation as a method of war",
        ),
        ("Activists were arbitrarily detained.", "arbitrary-detention", "arbitrarily detained"),
    ],
)
def test_a_framework_risk_term_makes_an_item_relevant(
    tagger: Tagger, text: str, risk: str, term: str
) -> None:
    tags = tag(tagger, text)
    assert tags.risks == [risk] and tags.relevant is True
    assert tags.matched == {risk: term}
    assert tags.crimes == [] and tags.r2p is False


def test_the_danish_refugee_council_is_not_dr_congo(tagger: Tagger) -> None:
    tags = tag(
        tagger,
        "The Danish Refugee Council (DRC) handed out winter kits in Kharkiv. "
        "DRC teams also run legal aid desks for Ukrainian families.",
    )
    assert "dr-congo" not in tags.countries and tags.countries == ["ukraine"]


def test_drc_counts_in_a_sentence_about_the_country(tagger: Tagger) -> None:
    plain = tag(tagger, "Fighting in the DRC has intensified.")
    assert plain.countries == ["dr-congo"] and plain.matched["dr-congo"] == "DRC"
    beside_the_council = tag(
        tagger,
        "The Danish Refugee Council warned of shortages. "
        "In the DRC, camps around North Kivu's capital are full.",
    )
    assert beside_the_council.countries == ["dr-congo"]


def test_every_tag_records_the_term_that_matched(tagger: Tagger) -> None:
    tags = tag(
        tagger,
        "Officials warned of crimes against humanity and the Responsibility to Protect.",
        title="Sudan: killings in El-Fasher",
    )
    assert tags.matched == {
        "crimes-against-humanity": "crimes against humanity",
        "r2p": "Responsibility to Protect",
        "sudan": "Sudan",
    }
    stored = tags.as_json()
    assert stored["matched"] == tags.matched and stored["risks"] == []
    assert {"crimes", "r2p", "countries", "source"} <= set(stored)


def test_a_context_needs_unless_phrases(tmp_path: Path) -> None:
    rules = tmp_path / "context.toml"
    rules.write_text(
        "[scoring]\ncrime = 3\nr2p = 3\ncountry = 1\nalways_relevant = 5\nthreshold = 1\n"
        '[[rule]]\ntag = "x"\nkind = "country"\nterms = ["X"]\n'
        '[[rule.context]]\nterms = ["X"]\nunless = []\n'
    )
    with pytest.raises(ConfigError, match=r"context\.toml"):
        load_tagger(rules)
