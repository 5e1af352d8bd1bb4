"""The HTML pages: Jinja2 templates under templates/pages/, one shared layout (base.html).

Pages are plain HTML and CSS (templates/pages/static/pages.css; DIGEST_TEMPLATES may
override any of them by name, the stylesheets too): no JavaScript,
so they work in every browser and with every screen reader. Every value is
escaped. Other areas' pages extend "pages/base.html" and render through
`Pages.render`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask

from digest.render.templates import environment, templates_root
from digest.settings import Settings
from subscribers import cadence, status


def static_folder() -> Path:
    return templates_root() / "pages" / "static"


def static_files(settings: Settings) -> StaticFiles:
    """/static: the publisher's pages/static (DIGEST_TEMPLATES) first, file by file, then the shipped one."""
    files = StaticFiles(directory=static_folder())
    if settings.templates is not None and (settings.templates / "pages" / "static").is_dir():
        files.all_directories = [settings.templates / "pages" / "static", *files.all_directories]
    return files


class Pages:
    def __init__(self, settings: Settings, root: Path | None = None):
        self._environment = environment("markup", root, settings.templates)
        self.site = {
            "newsletter_name": settings.newsletter_name,
            "postal_address": settings.postal_address,
            "base_url": settings.base_url,
            "language": settings.language,
        }

    def html(self, name: str, **context: Any) -> str:
        # reader_status: a page that compares a reader's status does so by name (reader_status.ACTIVE).
        # cadences: the choices of the cadence field (subscribers.cadence), name -> label.
        return self._environment.get_template(f"pages/{name}").render(
            site=self.site, reader_status=status, cadences=cadence.LABELS, **context
        )

    def render(
        self,
        name: str,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
        **context: Any,
    ) -> HTMLResponse:
        return HTMLResponse(
            self.html(name, **context), status_code=status_code, headers=dict(headers or {}), background=background
        )
