"""The console tests' usual app: one admin account (``AMINA``), and a client logged in
as them. A module that needs other accounts defines its own ``site``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Db
from tests.support.browser import Reader, Site
from tests.support.console import admin_site, log_in


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db) as site:
        yield site


@pytest.fixture
def reader(site: Site) -> Reader:
    return log_in(site)
