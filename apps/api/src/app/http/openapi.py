"""An OpenAPI document that matches the API: the one error body, and the error statuses each operation returns.

FastAPI documents a 422 with its own list-of-errors body, which this app never sends, and none of
the other errors. The generated document is rewritten once:

- every error response has the body `{"detail": "<message>"}` (`ErrorBody`);
- an operation that needs credentials (it carries a `security` requirement) documents 401, 403
  (missing permission, or a cookie request without its CSRF header) and 429 (sign-in throttling);
- an operation with parameters or a body documents 422; one with a body documents 400 (not JSON)
  and 413;
- an operation with a path parameter documents 404 (another org's object is 404 too);
- 409 and other statuses particular to an operation are declared on its route (`responses=`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_BODY_REF = {"$ref": "#/components/schemas/ErrorBody"}
_ERROR_BODY_SCHEMA = {
    "title": "ErrorBody",
    "type": "object",
    "properties": {"detail": {"type": "string", "title": "Detail"}},
    "required": ["detail"],
}
_DESCRIPTIONS = {
    "400": "The body is not JSON (or not UTF-8)",
    "401": "No, unknown, expired or revoked credentials",
    "403": "Missing permission, or a cookie request without its X-CSRF-Token",
    "404": "Not found, or another org's",
    "409": "Conflicts with the current state",
    "413": "Request body over the configured limit",
    "422": "Invalid input",
    "429": "Too many requests (see Retry-After)",
}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _error_response(status: str, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or _DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": ERROR_BODY_REF}},
    }


def _document_errors(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses: set[str] = set()
    if operation.get("security"):
        statuses |= {"401", "403", "429"}
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add("422")
    if operation.get("requestBody"):
        statuses |= {"400", "413"}
    if any(p.get("in") == "path" for p in operation.get("parameters", [])) or "{" in path:
        statuses.add("404")
    # Sorted: a set's order changes with every interpreter's hash seed, and the document must not.
    for status in sorted(statuses):
        responses.setdefault(status, {})
    for status, response in responses.items():
        if status[0] == "4":
            description = response.get("description")
            generic = description in (None, "", "Validation Error")
            responses[status] = _error_response(status, None if generic else description)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes, tags=app.openapi_tags
    )
    components = schema.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["ErrorBody"] = _ERROR_BODY_SCHEMA
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                _document_errors(path, item[method])
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
