"""Bearer-token authentication for the JSON admin API.

Tokens are checked against their stored SHA-256 (``mailer.admins.admin_for_token``); a
revoked token, or one of a deactivated admin, is refused like a wrong one. The token is
never logged. Every answer says ``Cache-Control: no-store``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mailer.admins import admin_for_token
from mailer.db import session_scope
from subscribers.web.admin.session import AdminIdentity
from subscribers.web.pages import SECURITY_HEADERS, factory_of

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="An admin API token: `r2p-mailer admins token EMAIL` prints one.",
)
NO_STORE = {"Cache-Control": "no-store"}
MISSING = "Send an admin API token: Authorization: Bearer r2p_... (r2p-mailer admins token EMAIL)"
REFUSED = "This API token is not valid: wrong, revoked, or its admin is deactivated."


def api_error(status: int, detail: str) -> HTTPException:
    headers = {**NO_STORE}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return HTTPException(status_code=status, detail=detail, headers=headers)


def no_store(response: Response) -> None:
    """A router dependency: successful answers carry the same headers as admin pages."""
    response.headers.update(SECURITY_HEADERS)


def api_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AdminIdentity:
    if credentials is None or not credentials.credentials:
        raise api_error(401, MISSING)
    with session_scope(factory_of(request)) as session:
        admin = admin_for_token(credentials.credentials, now=datetime.now(UTC), session=session)
        if admin is None:
            raise api_error(401, REFUSED)
        return AdminIdentity(admin.id, admin.email)
