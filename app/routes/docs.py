"""/docs: Swagger UI on the service's own OpenAPI document, from the swagger-ui-bundle-v2
package's files, served by the service itself: nothing is fetched from a CDN, so the page
works where the deployment has no internet. Off with APP_DOCS=false (the chart's default)."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]  # no type information shipped
from starlette.requests import Request
from starlette.responses import Response

from app.http.openapi import Operation
from app.http.responses import Fixed

# Relative addresses, so the page works under a path prefix (root_path) too.
_PAGE = b"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>data-service API</title>
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
"""
# The document's address is resolved against the page's (/docs), so it is /openapi.json.
_INIT = b"""window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis],
});
"""
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


class DocsPage:
    """The page and its assets, by path, read once at start."""

    def __init__(self, assets: Path | None = None) -> None:
        folder = Path(str(swagger_ui_bundle.swagger_ui_path)) if assets is None else assets
        self._files = {
            "/docs": Fixed(_PAGE, "text/html; charset=utf-8"),
            "/docs/init.js": Fixed(_INIT, "text/javascript; charset=utf-8"),
            **{f"/docs/{name}": Fixed((folder / name).read_bytes(), kind) for name, kind in _ASSETS.items()},
        }

    async def serve(self, request: Request) -> Response:
        return self._files[request.scope["route"].path].answer(request)

    @property
    def operations(self) -> list[Operation]:
        """Public and left out of the OpenAPI document (they are not the API)."""
        return [
            Operation("GET", path, self.serve, path, "", {200: None}, public=True, documented=False)
            for path in self._files
        ]
