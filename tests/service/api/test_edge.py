"""The edge (api/edge.py): ids, security headers, limits and dispatch, through the whole app."""

from __future__ import annotations

X = {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/v2", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = client.get("/v2").headers["x-request-id"]
    assert len(generated) == 32
    # Ids with odd characters are replaced rather than echoed into headers and logs.
    assert client.get("/v2", headers={"X-Request-ID": "a b\tc"}).headers["x-request-id"] != "a b\tc"


def test_security_headers(client):
    headers = client.get("/v2").headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["content-security-policy"].startswith("default-src 'none'")
    # The docs page loads this origin's bundled Swagger UI; still no inline script, nothing remote.
    docs_csp = client.get("/docs").headers["content-security-policy"]
    assert docs_csp == (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'"
    )


def test_body_limit_by_content_length(make_client):
    client = make_client(max_body_bytes=100)
    r = client.post("/v2/models/affine/infer", content=b"x" * 200)
    assert r.status_code == 413
    assert r.json() == {"error": "request body of 200 bytes exceeds the limit of 100 bytes"}


def test_body_limit_when_streamed_without_length(make_client):
    client = make_client(max_body_bytes=100)

    def chunks():
        for _ in range(10):
            yield b"x" * 50

    r = client.post("/v2/models/affine/infer", content=chunks())
    assert r.status_code == 413
    assert "exceeds the limit of 100 bytes" in r.json()["error"]


def test_api_key_guards_inference_only(make_client):
    client = make_client(api_key="k")
    assert client.post("/v2/models/affine/infer", json={"inputs": [X]}).status_code == 401
    assert client.post("/v2/models/affine/infer", json={"inputs": [X]}, headers={"X-API-Key": "k"}).status_code == 200
    assert client.post("/v2/models/affine/infer", json={"inputs": [X]},
                       headers={"Authorization": "Bearer k"}).status_code == 200
    assert client.get("/v2/health/ready").status_code == 200


def test_unknown_route_is_json(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.json() == {"error": "no route for GET /nope"}


def test_cors_off_by_default_and_configurable(client, make_client):
    origin = {"Origin": "https://example.org"}
    assert "access-control-allow-origin" not in client.get("/v2", headers=origin).headers
    cors = make_client(cors_origins=["https://example.org"])
    assert cors.get("/v2", headers=origin).headers["access-control-allow-origin"] == "https://example.org"


def test_openapi_lists_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v2", "/v2/health/ready", "/v2/models/{model_name}/infer",
                 "/v2/models/{model_name}/versions/{model_version}/infer", "/v2/repository/index", "/metrics"):
        assert path in paths
    example = paths["/v2/models/{model_name}/infer"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert example["inputs"][0]["datatype"] == "FP32"


def test_an_inference_request_holds_one_slot_while_it_runs(make_client):
    client = make_client(max_inflight_requests=1)
    counter = client.app.state.admission
    seen = []
    repo = client.app.state.repository
    original = repo.infer

    async def spy(request):
        seen.append(counter.inflight)
        return await original(request)

    repo.infer = spy
    assert client.post("/v2/models/affine/infer", json={"inputs": [X]}).status_code == 200
    assert seen == [1] and counter.inflight == 0


def test_the_edge_hands_infer_to_the_endpoint_with_the_tail_headers(client):
    r = client.post("/v2/models/affine/infer", json={"inputs": [X]}, headers={"X-Request-ID": "r-1"})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "r-1" and r.headers["x-frame-options"] == "DENY"
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
