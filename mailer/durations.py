"""Human durations for settings and commands: a number and a unit, as in "90s", "15m",
"12h", "14d", "2w". A bare number is refused: read as seconds it once made
``purge --older-than 14`` delete a signup made a minute earlier."""

from __future__ import annotations

import re
from datetime import timedelta

FORMS = "90s, 15m, 12h, 14d, 2w"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_BARE = re.compile(r"^\s*[+-]?\d+(?:\.\d*)?\s*$")


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Read a duration with a unit (s, m, h, d, w); a timedelta passes through.
    Raises ValueError, showing the accepted forms, for anything else."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float) or _BARE.match(text):
        raise ValueError(
            f"{str(text).strip()!r} needs a unit: write the duration as one of {FORMS}"
        )
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration (use one of {FORMS})")
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{text!r} is too long") from None
