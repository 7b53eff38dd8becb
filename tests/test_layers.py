"""The layer rule (docs/architecture.md): each package imports only the layers below it,
mailer < subscribers < jobs < staff < service, with no exemptions."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("mailer", "subscribers", "jobs", "staff", "service")
FORBIDDEN = {package: set(LAYERS[i + 1 :]) for i, package in enumerate(LAYERS)}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def layer_violations(root: Path) -> list[str]:
    found = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            for name in sorted(imported_packages(path) & forbidden):
                found.append(f"{relative} imports {name}")
    return found


def test_the_packages_respect_the_layer_rule() -> None:
    assert layer_violations(ROOT) == []


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    for package in FORBIDDEN:
        (tmp_path / package).mkdir()
    (tmp_path / "mailer" / "render.py").write_text("from jobs.poll import poll_sources\n")
    (tmp_path / "mailer" / "cli.py").write_text("import service.cli\n")
    (tmp_path / "subscribers" / "web.py").write_text("import jobs.schedule\n")
    (tmp_path / "staff" / "actions.py").write_text("from service.app import create_app\n")
    (tmp_path / "service" / "app.py").write_text("import mailer, staff\n")
    assert layer_violations(tmp_path) == [
        "mailer/cli.py imports service",
        "mailer/render.py imports jobs",
        "subscribers/web.py imports jobs",
        "staff/actions.py imports service",
    ]


def test_every_package_is_in_a_layer() -> None:
    packages = {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in {"tests", "alembic", "bench", "scripts"}
    }
    assert packages == set(LAYERS)
