"""Private files: what r2p-mailer creates under var/ (the SQLite database, the secret key,
the development Maildir) is readable by its own user only, folders 0700 and files 0600,
whatever the umask. Existing folders and files keep the mode the operator gave them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a folder; created 0700 if missing (its parents get the usual mode)."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            return path  # made by another process at the same moment
        path.chmod(DIR_MODE)
    return path


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 unless it exists; True if this call made it."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def write_once(path: Path, content: str) -> str:
    """Put ``content`` at ``path`` unless a file is there already, and return what the
    file holds. The content is written in full to a 0600 temporary file and then linked
    into place, so however many processes race, one wins and every other one reads the
    winner's complete file: never an empty or half-written one."""
    private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: read its key
            os.link(temporary, path)
    finally:
        Path(temporary).unlink()
    return path.read_text(encoding="utf-8")
