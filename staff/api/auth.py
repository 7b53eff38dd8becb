"""Bearer-token authentication for the JSON admin API, before anything else.

``ApiAuthentication`` (an ASGI middleware on /api/) checks the token before the request
body is read: a request without a valid token gets 401 and its body is never parsed, so
an unauthenticated client learns nothing from validation errors and costs no parsing.
The admin it proves is left in the request state for the ``api_admin`` dependency.

Tokens are checked against their stored SHA-256 (``mailer.admins.admin_for_token``); a
revoked token, or one of a deactivated admin, is refused like a wrong one. The token is
never logged. Every answer says ``Cache-Control: no-store``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from mailer.admins import admin_for_token
from mailer.db import session_scope
from mailer.web.errors import AsciiJSONResponse
from mailer.web.pages import SECURITY_HEADERS, factory_of
from staff.console.session import AdminIdentity

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="An admin API token: `r2p-mailer admins token EMAIL` prints one.",
)
NO_STORE = {"Cache-Control": "no-store"}
MISSING = "Send an admin API token: Authorization: Bearer r2p_... (r2p-mailer admins token EMAIL)"
REFUSED = "This API token is not valid: wrong, revoked, or its admin is deactivated."
PREFIX = "/api/"
STATE = "api_admin"
TOKEN_MAX = 200


def api_error(status: int, detail: str) -> HTTPException:
    headers = {**NO_STORE}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return HTTPException(status_code=status, detail=detail, headers=headers)


def no_store(response: Response) -> None:
    """A router dependency: successful answers carry the same headers as admin pages."""
    response.headers.update(SECURITY_HEADERS)


def bearer_token(authorization: str | None) -> str:
    """The token of ``Authorization: Bearer <token>`` ('' for anything else)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > TOKEN_MAX:
        return ""
    return token


def token_admin(token: str, factory: sessionmaker[Session]) -> AdminIdentity | None:
    if not token:
        return None
    with session_scope(factory) as session:
        admin = admin_for_token(token, now=datetime.now(UTC), session=session)
        return None if admin is None else AdminIdentity(admin.id, admin.email, admin.role)


class ApiAuthentication:
    """Answers 401 to /api/ requests without a valid token, before the body is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (scope["path"] + "/").startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = bearer_token(request.headers.get("authorization"))
        factory = factory_of(request)
        admin = await anyio.to_thread.run_sync(token_admin, token, factory)
        if admin is None:
            response = AsciiJSONResponse(
                {"detail": REFUSED if token else MISSING},
                status_code=401,
                headers={**NO_STORE, "WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[STATE] = admin
        await self.app(scope, receive, send)


def api_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AdminIdentity:
    """The admin ``ApiAuthentication`` proved (checked again if it did not run)."""
    admin = getattr(request.state, STATE, None)
    if isinstance(admin, AdminIdentity):
        return admin
    if credentials is None or not credentials.credentials:
        raise api_error(401, MISSING)
    admin = token_admin(credentials.credentials, factory_of(request))
    if admin is None:
        raise api_error(401, REFUSED)
    return admin
