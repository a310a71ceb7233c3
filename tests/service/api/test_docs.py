"""/docs works offline: the page, its initializer and Swagger UI's assets all come from this server."""

from __future__ import annotations

import re


def test_docs_page_uses_only_local_assets(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources == [
        "/docs/static/swagger-ui.css", "/docs/static/favicon.png",
        "/docs/static/swagger-ui-bundle.js", "/docs/init.js",
    ]
    assert "<script>" not in page.text, "an inline script would need 'unsafe-inline' in the CSP"
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200 and len(asset.content) > 100, source


def test_initializer_points_at_the_servers_own_openapi(client):
    init = client.get("/docs/init.js")
    assert init.headers["content-type"].startswith("text/javascript")
    assert 'url: "/openapi.json"' in init.text and "SwaggerUIBundle(" in init.text
    assert client.get("/openapi.json").json()["info"]["title"] == "ortserve"


def test_bundle_is_a_swagger_ui_that_renders_openapi_3_1(client):
    """FastAPI writes OpenAPI 3.1; Swagger UI before 5 shows 'Unable to render this definition'."""
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1.")
    bundle = client.get("/docs/static/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in bundle and len(bundle) > 500_000
    assert r"3\.1\.(?:[1-9]\d*|0)" in bundle, "this Swagger UI does not recognise OpenAPI 3.1 documents"


def test_the_cdn_pages_are_gone(client):
    assert client.get("/redoc").status_code == 404
