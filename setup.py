"""Build hook: ship the top-level ``templates/``, ``alembic/`` and ``alembic.ini`` in the wheel.

They stay at the repository root; a wheel carries them as package data under
``mailer/_resources/`` so that an installed program finds them (see mailer/resources.py).
All metadata is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PROJECT_DIR = Path(__file__).resolve().parent
RESOURCES = ("templates", "alembic", "alembic.ini")


class BuildPyWithResources(build_py):
    """build_py that also copies RESOURCES into mailer/_resources/ of the build."""

    def run(self) -> None:
        super().run()
        # An editable install reads them from the checkout instead.
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "mailer" / "_resources"
        for name in RESOURCES:
            source = PROJECT_DIR / name
            if source.is_dir():
                shutil.copytree(
                    source,
                    target / name,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
            elif source.is_file():
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)
            else:
                raise FileNotFoundError(f"{source} is missing: it must ship in the wheel")


setup(cmdclass={"build_py": BuildPyWithResources})
