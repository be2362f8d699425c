"""`/docs` served from local files, so it works offline, under the same Content-Security-Policy as the page.

FastAPI's default docs page loads Swagger UI from a CDN and starts it with an inline script;
`swagger-ui-bundle` ships the same files in a wheel, and `app/web/static/js/docs.js` starts it
from a file, because the policy allows no inline script. The security schemes declared in
`app.http.deps` give it its Authorize button. What is typed there is not persisted
(`persistAuthorization` stays off): it lives in the tab's memory and is gone on reload.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from app import __version__

router = APIRouter(include_in_schema=False)

ASSETS = "/docs-assets"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SellerCollection API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="/static/js/docs.js?v={version}"></script>
</body>
</html>
"""


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(_PAGE.format(assets=ASSETS, version=escape(__version__)))


def install(app: FastAPI) -> None:
    """Serve `/docs` from local assets. Create `app` with `docs_url=None`."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
    app.include_router(router)
