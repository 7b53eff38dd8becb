"""/admin/api: the JSON admin API's reference, for logged-in admins.

Each operation is read from the app's own OpenAPI document (so it cannot drift from the
code), and the document itself is at /admin/api/openapi.json for tools. FastAPI's public
/docs, /redoc and /openapi.json are switched off (service/app.py): they would publish the
admin API's shape to anyone, and Swagger UI loads its scripts from a CDN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from mailer.web.pages import SECURITY_HEADERS
from staff.console.auth import require_admin
from staff.console.session import AdminIdentity
from staff.console.views import page

router = APIRouter(include_in_schema=False)
Admin = Annotated[AdminIdentity, Depends(require_admin)]
METHODS = ("get", "post", "put", "patch", "delete")
API = "/api/"


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    parameters: list[Field]
    body: list[Field]
    responses: list[tuple[str, str]]


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type(schema: dict[str, Any]) -> str:
    """A short type label: string, integer, list of string, AlertOut, string or null."""
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    if "anyOf" in schema:
        return " or ".join(_type(part) for part in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(str(value) for value in schema["enum"])
    return str(schema.get("type", "any"))


def _body_fields(operation: dict[str, Any], schemas: dict[str, Any]) -> list[Field]:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = schemas.get(_ref_name(schema["$ref"]), {})
    required = set(schema.get("required", []))
    return [
        Field(name, _type(field), name in required, field.get("description", ""))
        for name, field in schema.get("properties", {}).items()
    ]


def operations(document: dict[str, Any]) -> list[Operation]:
    """Every operation in an OpenAPI 3 document, in its order."""
    schemas = document.get("components", {}).get("schemas", {})
    found = []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            parameters = [
                Field(
                    f"{p['name']} ({p.get('in', '')})",
                    _type(p.get("schema", {})),
                    bool(p.get("required")),
                    p.get("description", ""),
                )
                for p in operation.get("parameters", [])
            ]
            responses = [
                (code, answer.get("description", ""))
                for code, answer in operation.get("responses", {}).items()
            ]
            found.append(
                Operation(
                    method.upper(),
                    path,
                    operation.get("summary", ""),
                    operation.get("description", ""),
                    parameters,
                    _body_fields(operation, schemas),
                    responses,
                )
            )
    return found


def admin_api_document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with only the admin API's paths (not the reader pages,
    /healthz or /metrics, which FastAPI lists too)."""
    document = dict(app.openapi())
    document["paths"] = {
        path: item for path, item in document.get("paths", {}).items() if path.startswith(API)
    }
    return document


@router.get("/admin/api")
def reference(request: Request, admin: Admin) -> Response:
    context = {
        "operations": operations(admin_api_document(request.app)),
        "base_url": str(request.base_url),
    }
    return page(request, "api.html", context, admin=admin, section="api")


@router.get("/admin/api/openapi.json")
def openapi_document(request: Request, admin: Admin) -> Response:
    return JSONResponse(admin_api_document(request.app), headers=SECURITY_HEADERS)
