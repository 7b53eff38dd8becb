"""Printing text from outside (feeds, feed servers, readers, files, the database) on a
terminal: as plain text, never as rich markup, and without control characters or escape
sequences that could clear the screen, fake a line or hide a hyperlink.

Every CLI command puts outside text into a message or table cell through ``safe``.
"""

from __future__ import annotations

import re

from rich.markup import escape

# ESC sequences (CSI, OSC, DCS, SOS, PM, APC with their terminators, and two-character
# ones), 8-bit CSI/OSC, then any other control or bidirectional-override character.
_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI
    r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|\x9c|$)"  # OSC, DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]?"  # other escapes (and a lone ESC)
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # 8-bit CSI
    r"|[\x90\x98\x9d\x9e\x9f].*?(?:\x07|\x9c|$)",  # 8-bit DCS, SOS, OSC, PM, APC
    re.DOTALL,
)
_LINES = re.compile(r"\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")
_SPACE = re.compile(r"[\t\n\r\x0b\x0c\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def plain(text: object, *, lines: bool = False) -> str:
    """``text`` without escape sequences or control characters: on one line, or with
    its line breaks kept (as ``\\n``) when ``lines``."""
    value = _SEQUENCE.sub("", str(text))
    if lines:
        return "\n".join(plain(line) for line in _LINES.split(value))
    return _CONTROL.sub("", _SPACE.sub(" ", value))


def safe(text: object, *, lines: bool = False) -> str:
    """``text`` made plain and escaped, to place inside a rich markup string or cell."""
    return escape(plain(text, lines=lines))
