"""`/dashboard`: the AI insights dashboard, a static page that reads `api.get_dashboard` as the signed-in user.

The page (api/static/dashboard.html and dashboard.js) keeps the user's token in the browser (entered in
its form, or passed in the URL fragment `#token=...&org=...`, which never reaches a server) and calls
the RPC gateway with it, so RLS decides what every panel shows. Its charts are drawn by plotly.js from
the installed `plotly` package, served here: nothing is fetched from a CDN.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from salesflow.api.errors import ApiError

router = APIRouter()
_STATIC = resources.files("salesflow.api") / "static"
# the page may load only what this server serves (no CDN, no inline script)
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'")


@cache
def plotly_js() -> Path:
    """plotly.min.js as the `plotly` distribution ships it (found without importing plotly's Python side)."""
    spec = importlib.util.find_spec("plotly")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    raise ApiError(503, "PGRST000", "plotly.min.js is not installed", hint="pip install the plotly package")


@router.get("/dashboard", include_in_schema=False)
async def dashboard() -> HTMLResponse:
    return HTMLResponse((_STATIC / "dashboard.html").read_text(encoding="utf-8"),
                        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-store"})


@router.get("/dashboard/dashboard.js", include_in_schema=False)
async def dashboard_js() -> Response:
    return Response((_STATIC / "dashboard.js").read_text(encoding="utf-8"), media_type="text/javascript")


@router.get("/dashboard/plotly.min.js", include_in_schema=False)
async def plotly() -> FileResponse:
    return FileResponse(plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})
