"""Topic and language choices come from the relevance rules, not from a list in code."""

from __future__ import annotations

from pathlib import Path

import pytest

from subscribers.choices import (
    ChoiceError,
    clean_topics,
    describe,
    read_choices,
    vocabulary,
)


def test_it_offers_every_crime_r2p_and_watch_list_tag_of_the_packaged_rules() -> None:
    known = vocabulary()
    assert [t.tag for t in known.themes] == [
        "genocide",
        "war-crimes",
        "crimes-against-humanity",
        "ethnic-cleansing",
        "r2p",
    ]
    labels = {t.tag: t.label for t in known.countries}
    assert labels["sudan"] == "Sudan"
    assert labels["central-african-republic"] == "Central African Republic"
    assert labels["israel-opt"] == "Israel and the Occupied Palestinian Territory"
    assert labels["dr-congo"] == "DR Congo"
    assert len(labels) == 19
    assert [t.label for t in known.countries] == sorted(labels.values())


def test_it_follows_an_edited_relevance_file(tmp_path: Path) -> None:
    rules = tmp_path / "relevance.toml"
    rules.write_text(
        "[scoring]\ncrime = 3\nr2p = 3\ncountry = 1\nalways_relevant = 5\nthreshold = 1\n"
        '[[rule]]\ntag = "genocide"\nkind = "crime"\nterms = ["genocide"]\n'
        '[[rule]]\ntag = "south-sudan"\nlabel = "South Sudan"\nkind = "country"\n'
        'terms = ["South Sudan"]\n'
    )
    known = vocabulary(rules)
    # Labels come from the file; a rule without one is named after its tag.
    assert [(t.tag, t.label) for t in known.themes] == [("genocide", "Genocide")]
    assert [(t.tag, t.label) for t in known.countries] == [("south-sudan", "South Sudan")]
    with pytest.raises(ChoiceError, match="sudan"):
        clean_topics(["sudan"], known)


def test_it_keeps_known_topics_once_in_form_order() -> None:
    known = vocabulary()
    assert clean_topics(["sudan", "Genocide ", "sudan", ""], known) == ("genocide", "sudan")


def test_it_refuses_unknown_topics_and_languages() -> None:
    known = vocabulary()
    with pytest.raises(ChoiceError, match="atlantis"):
        clean_topics(["genocide", "atlantis"], known)
    with pytest.raises(ChoiceError, match="Unknown language: xx"):
        read_choices(
            language="xx", digest=True, alerts=True, everything=True, topics=[], known=known
        )


def test_it_needs_something_to_send() -> None:
    known = vocabulary()
    with pytest.raises(ChoiceError, match="digest, urgent alerts, or both"):
        read_choices(
            language="en", digest=False, alerts=False, everything=True, topics=[], known=known
        )
    with pytest.raises(ChoiceError, match="at least one topic"):
        read_choices(
            language="en", digest=True, alerts=False, everything=False, topics=[], known=known
        )


def test_everything_ignores_ticked_topics_and_describes_itself() -> None:
    known = vocabulary()
    choices = read_choices(
        language="fr", digest=True, alerts=False, everything=True, topics=["sudan"], known=known
    )
    assert choices.topics == ()
    assert describe(choices, known) == "The weekly digest on every topic we follow."
    chosen = read_choices(
        language="fr",
        digest=True,
        alerts=True,
        everything=False,
        topics=["sudan", "genocide"],
        known=known,
    )
    assert describe(chosen, known) == "The weekly digest and urgent alerts on: Genocide, Sudan."
