"""The JSON admin API under /api/, authenticated by admin API tokens
(``Authorization: Bearer r2p_...``, made with ``r2p-mailer admins token EMAIL``)."""

from __future__ import annotations

from staff.api.routes import router

__all__ = ["router"]
