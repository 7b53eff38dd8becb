"""Where the program finds its templates and Alembic migrations, installed or in a checkout.

A built wheel carries ``templates/``, ``alembic/`` and ``alembic.ini`` inside the package as
``mailer/_resources/`` (setup.py copies them there at build time); a checkout or an editable
install has no such folder and reads them from the repository root, where they live.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _resource_root() -> Path:
    packaged = files("mailer").joinpath("_resources")
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "templates").is_dir() and (checkout / "alembic.ini").is_file():
        return checkout
    raise RuntimeError(
        f"r2p-mailer's templates and migrations are missing: neither {packaged} "
        f"nor {checkout}/templates exists; reinstall the package"
    )


RESOURCE_ROOT = _resource_root()
TEMPLATES_DIR = RESOURCE_ROOT / "templates"
ALEMBIC_DIR = RESOURCE_ROOT / "alembic"
ALEMBIC_INI = RESOURCE_ROOT / "alembic.ini"
