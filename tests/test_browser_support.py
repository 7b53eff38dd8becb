"""Browser tests skip without Chromium, saying why, except in CI, where they must fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import REQUIRE_BROWSER, require_chromium

MISSING = Path("/nonexistent/chromium")


def test_browser_tests_skip_with_the_reason_when_chromium_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(REQUIRE_BROWSER, raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed at /nonexistent/chromium"):
        require_chromium(MISSING)


def test_browser_tests_fail_when_ci_requires_them_and_chromium_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(REQUIRE_BROWSER, "1")
    with pytest.raises(pytest.fail.Exception, match="R2P_TEST_REQUIRE_BROWSER=1 but"):
        require_chromium(MISSING)
