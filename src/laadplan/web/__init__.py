"""The web app of ``laadplan serve`` (Dutch): the region's map, a page per gemeente, data quality, contract
management, the placement workflow and the residents' request form.

``mount(app)`` adds the session middleware (:mod:`laadplan.web.session`), the static assets (MapLibre GL JS
bundled from npm, no CDN), the pages (:mod:`laadplan.web.pages`) and the JSON/GeoJSON/vector-tile endpoints
under ``/web/api`` and ``/web/tiles`` (:mod:`laadplan.web.api`).
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"


def mount(app) -> None:
    from fastapi.responses import RedirectResponse
    from fastapi.staticfiles import StaticFiles

    from laadplan.web import api, pages, session

    session.install(app)
    app.mount("/web/static", StaticFiles(directory=str(STATIC)), name="web-static")
    app.include_router(api.router)
    app.include_router(pages.router)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=303)
