"""`/docs`: Swagger UI from assets the server ships, so it works offline.

The assets come from the `fastapi-offline` wheel (Swagger UI 5: FastAPI writes
OpenAPI 3.1, which Swagger UI 4, e.g. the `swagger-ui-bundle` wheel, refuses to
render). Only its static files are used; the page is ours and has no inline script
(the initializer is its own file), so its CSP can stay strict: scripts, styles and
fetches from this origin only.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
STATIC = "/docs/static"

_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{title}} - API docs</title>
<link rel="stylesheet" href="{STATIC}/swagger-ui.css">
<link rel="icon" type="image/png" href="{STATIC}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{STATIC}/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""

_INIT = """window.ui = SwaggerUIBundle({
  url: %s,
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"""

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def docs_page() -> HTMLResponse:
    return HTMLResponse(_PAGE.replace("{title}", "ortserve"))


@router.get("/docs/init.js")
async def docs_init() -> Response:
    return Response(_INIT % '"/openapi.json"', media_type="text/javascript")


def install(app: FastAPI) -> None:
    """Serve the page, its initializer and the bundled assets."""
    app.include_router(router)
    app.mount(STATIC, StaticFiles(directory=ASSETS), name="swagger-ui")
