"""The documentation matches the tree: docs/architecture.md names every module of the five
packages and names none that does not exist; docs/settings.md documents every ``R2P_*``
setting; no document points outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

from mailer.config import ENV_PREFIX, Settings
from tests.test_layers import LAYERS

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SETTINGS = ROOT / "docs" / "settings.md"
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
NAMED_PATH = re.compile(r"`((?:" + "|".join(LAYERS) + r")/[\w/]*\.py)`")


def named_modules(text: str) -> set[str]:
    return set(NAMED_PATH.findall(text))


def package_modules(root: Path) -> set[str]:
    """Every module but the packages' ``__init__.py`` files (the directories are named)."""
    return {
        str(path.relative_to(root))
        for package in LAYERS
        for path in (root / package).rglob("*.py")
        if path.name != "__init__.py"
    }


def test_architecture_names_only_modules_that_exist() -> None:
    missing = sorted(m for m in named_modules(ARCHITECTURE.read_text()) if not (ROOT / m).exists())
    assert missing == []


def test_architecture_names_every_module() -> None:
    unnamed = sorted(package_modules(ROOT) - named_modules(ARCHITECTURE.read_text()))
    assert unnamed == []


def test_the_module_check_sees_a_new_module(tmp_path: Path) -> None:
    (tmp_path / "staff").mkdir()
    (tmp_path / "staff" / "__init__.py").write_text("")
    (tmp_path / "staff" / "reports.py").write_text("")
    assert package_modules(tmp_path) == {"staff/reports.py"}
    assert named_modules("| reports | `staff/reports.py` |") == {"staff/reports.py"}


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"\bR2P_[A-Z0-9_]+", SETTINGS.read_text()))
    settings = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert sorted(settings - documented) == []


def test_no_document_points_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared|DESIGN\.md|STYLE\.md|\]\(\.\./")
    cited = [str(doc.relative_to(ROOT)) for doc in DOCUMENTS if outside.search(doc.read_text())]
    assert cited == []
