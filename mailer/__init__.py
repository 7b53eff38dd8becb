"""r2p-mailer: feeds in, digests and urgent alerts out, for Responsibility to Protect readers."""

from __future__ import annotations

__version__ = "0.1.0"
