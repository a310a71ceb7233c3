"""`/ui`: the playground page, served from files shipped in the package (service/ui).

Plain HTML, CSS and JavaScript modules: no CDN, no build step, no inline script or
style, so the page's own CSP (api/headers.py, `UI_CSP`) allows scripts, styles
and fetches from this origin only. The page finds every model through the
repository index and draws each from its metadata, config and friendly description
(api/explore.py), so a user's own models show up with no change here.
`/` redirects to it: a person who opens the server's address meets the page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parents[1] / "ui"
STATIC = "/ui/static"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui", status_code=307)


@router.get("/ui")
async def page() -> FileResponse:
    return FileResponse(ASSETS / "index.html", media_type="text/html; charset=utf-8")


def install(app: FastAPI) -> None:
    """Serve the page and its assets."""
    app.include_router(router)
    app.mount(STATIC, StaticFiles(directory=ASSETS), name="playground")
