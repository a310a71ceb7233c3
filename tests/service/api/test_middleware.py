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


async def test_admission_limit_rejects_early_with_retry_after():
    import asyncio

    from service.api.middleware import AdmissionMiddleware

    release = asyncio.Event()
    sent: list[dict] = []

    async def slow_app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    rejected = []
    mw = AdmissionMiddleware(slow_app, limit=1, on_reject=lambda: rejected.append(1))
    scope = {"type": "http", "method": "POST", "path": "/v2/models/m/infer", "headers": [(b"content-length", b"2")]}

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    first = asyncio.ensure_future(mw(scope, None, send))
    await asyncio.sleep(0)
    await mw(scope, receive, send)  # over the limit: answered at once, its small body discarded
    assert sent[0]["status"] == 503 and (b"retry-after", b"1") in sent[0]["headers"]
    assert b"limit of 1 concurrent inference requests" in sent[1]["body"]
    assert rejected == [1]
    # Health checks are never subject to the limit.
    health = {**scope, "method": "GET", "path": "/v2/health/ready"}
    release.set()
    await first
    await mw(health, None, send)
    assert sent[-2]["status"] == 200


async def test_an_early_answer_to_a_large_body_is_sent_first_and_completed_after_the_drain():
    chunks = [{"type": "http.request", "body": b"x" * 20_000, "more_body": i < 4} for i in range(5)]
    events: list = []

    async def receive():
        message = chunks.pop(0)
        events.append(("received", len(message["body"])))
        return message

    async def send(message):
        events.append((message["type"], message.get("status"), message.get("more_body", False)))

    scope = {"type": "http", "method": "POST", "path": "/v2/models/m/infer",
             "headers": [(b"content-length", b"100000")]}  # over SMALL_BODY
    from service.api.middleware import RequestContextMiddleware

    mw = RequestContextMiddleware(lambda *a: None, max_body_bytes=100)
    await mw(scope, receive, send)
    assert events == [
        ("http.response.start", 413, False),
        ("http.response.body", None, True),  # the whole answer, before the body is read
        *[("received", 20_000)] * 5,  # then the body is read and discarded
        ("http.response.body", None, False),  # and only then the response completes (and closes)
    ]
