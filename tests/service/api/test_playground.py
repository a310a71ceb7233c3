"""/ui serves the playground from the package's own files, under its own strict CSP (in process).

What the page does in a browser is tested in test_playground_browser.py.
"""

from __future__ import annotations

import re

from service.api.playground import ASSETS

UI_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def test_root_redirects_to_the_page(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/ui"


def test_page_loads_only_its_own_files(client):
    page = client.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert set(sources) == {"/ui/static/playground.css", "/ui/static/favicon.svg", "/ui/static/main.js", "/docs"}
    assert "<script>" not in page.text and "style=" not in page.text, "inline code would need 'unsafe-inline'"
    for source in sources:
        assert client.get(source).status_code == 200, source


def test_every_asset_is_served_and_names_no_other_origin():
    files = sorted(p.name for p in ASSETS.iterdir())
    assert {"index.html", "main.js", "api.js", "snippets.js", "views.js", "text.js", "draw.js", "live.js"} <= set(files)
    for path in ASSETS.iterdir():
        # An XML namespace is a name, never fetched.
        text = path.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"""["'`(]\s*(https?:)?//""", text), f"{path.name} names another origin"
        assert "innerHTML" not in text and "eval(" not in text and "setAttribute(\"style\"" not in text, path.name


def test_modules_import_only_each_other(client):
    for path in ASSETS.glob("*.js"):
        for target in re.findall(r'^import .* from "([^"]+)";$', path.read_text(encoding="utf-8"), re.M):
            assert target.startswith("./") and (ASSETS / target[2:]).is_file(), (path.name, target)
            answer = client.get(f"/ui/static/{target[2:]}")
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/javascript")


def test_page_and_assets_carry_the_ui_csp_and_docs_keep_theirs(client):
    for path in ("/ui", "/ui/static/main.js", "/ui/static/playground.css"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == UI_CSP, path
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert "unsafe" not in UI_CSP
    assert "'unsafe-inline'" in client.get("/docs").headers["content-security-policy"]  # Swagger UI's, unchanged
    assert client.get("/v2").headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_page_needs_no_key_but_the_models_do(make_client):
    client = make_client(api_key="s3cret")
    assert client.get("/ui").status_code == 200 and client.get("/ui/static/api.js").status_code == 200
    assert client.post("/v2/repository/index").status_code == 401


def test_page_is_not_in_the_openapi_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/ui" not in paths and "/" not in paths
    assert "/v2/models/{model_name}/preprocess" in paths
