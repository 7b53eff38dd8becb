"""Human durations for settings and commands: "90s", "15m", "6h", "2d" or plain seconds."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Read a duration; bare numbers are seconds. Raises ValueError on anything else."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _PATTERN.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a duration (use e.g. 90s, 15m, 6h, 2d)")
        seconds = float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return timedelta(seconds=seconds)
