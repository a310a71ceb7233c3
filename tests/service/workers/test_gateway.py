from __future__ import annotations

import asyncio

import orjson

from service.workers import Role
from service.workers.gateway import Gateway


async def ready_app(scope, receive, send):
    """A worker's own app: ready, and it says which path it answered."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": orjson.dumps({"ready": True, "path": scope["path"]})})


def call(gateway, path, server=("127.0.0.1", 8000)):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b"", "server": server}
    asyncio.run(gateway(scope, receive, send))
    return sent[0]["status"], orjson.loads(sent[1]["body"])


def test_a_worker_that_never_started_keeps_the_group_not_ready(tmp_path):
    status, body = call(Gateway(ready_app, Role(0, 2, tmp_path)), "/v2/health/ready")
    assert status == 503
    assert body["ready"] is False and body["workers"] == {"count": 2, "ready": 1, "restarting": 0}


def test_a_worker_being_restarted_does_not_make_the_group_unready(tmp_path):
    role = Role(0, 2, tmp_path)
    role.marker(1).touch()  # it served before, so its silence means a restart
    status, body = call(Gateway(ready_app, role), "/v2/health/ready")
    assert status == 200 and body["workers"] == {"count": 2, "ready": 1, "restarting": 1}


def test_requests_from_peers_and_other_routes_pass_straight_through(tmp_path):
    gateway = Gateway(ready_app, Role(0, 2, tmp_path))
    assert call(gateway, "/v2/health/ready", server=(str(tmp_path / "worker-0.sock"), None)) == (
        200, {"ready": True, "path": "/v2/health/ready"})
    assert call(gateway, "/v2/models/m") == (200, {"ready": True, "path": "/v2/models/m"})


def test_the_group_answer_keeps_this_workers_headers(tmp_path):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"x-request-id", b"r1"), (b"content-type", b"text/html"), (b"content-length", b"9")]})
        await send({"type": "http.response.body", "body": b'{"a": 1}\n'})

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/v2/health/ready", "headers": [], "query_string": b"",
             "server": ("127.0.0.1", 8000)}
    asyncio.run(Gateway(app, Role(0, 1, tmp_path))(scope, receive, send))
    body = sent[1]["body"]
    assert sent[0]["headers"] == [(b"x-request-id", b"r1"), (b"content-type", b"application/json"),
                                  (b"content-length", str(len(body)).encode())]
    assert orjson.loads(body) == {"a": 1, "ready": True, "workers": {"count": 1, "ready": 1, "restarting": 0}}
