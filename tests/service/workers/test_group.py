"""A worker's calls to its peers (workers/group.py): fan-out over Unix sockets, and what a restarted worker replays."""

from __future__ import annotations

import asyncio

import orjson

from service.workers import Role
from service.workers.group import Group, changes_every_worker


async def peer(path, status: int, body: bytes, seen: list[bytes]):
    """A fake worker on a Unix socket: records each request and answers `status` with `body`."""

    async def handle(reader, writer):
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 %d X\r\ncontent-length: %d\r\n\r\n%s" % (status, len(body), body))
        await writer.drain()
        writer.close()

    return await asyncio.start_unix_server(handle, str(path))


def test_the_routes_that_change_every_worker():
    for path in ("/v2/repository/models/m/load", "/v2/repository/models/m/unload",
                 "/v2/systemsharedmemory/region/r/register", "/v2/systemsharedmemory/region/r/unregister",
                 "/v2/systemsharedmemory/unregister", "/v2/trace/setting", "/v2/models/m/trace/setting"):
        assert changes_every_worker("POST", path), path
    assert not changes_every_worker("GET", "/v2/trace/setting")
    assert not changes_every_worker("GET", "/v2/systemsharedmemory/status")
    assert not changes_every_worker("POST", "/v2/models/m/infer")


def test_a_change_every_peer_accepts_is_remembered(tmp_path):
    role = Role(0, 3, tmp_path)
    group = Group(role)
    seen: list[bytes] = []

    async def run():
        servers = [await peer(role.socket_path(i), 200, b"{}", seen) for i in (1, 2)]
        body = orjson.dumps({"key": "/k", "offset": 0, "byte_size": 64})
        refused = await group.broadcast("POST", "/v2/systemsharedmemory/region/a%20b/register",
                                        "/v2/systemsharedmemory/region/a b/register",
                                        [(b"authorization", b"Bearer t"), (b"cookie", b"no")], body)
        for server in servers:
            server.close()
        return refused

    assert asyncio.run(run()) is None
    assert len(seen) == 2 and all(s.startswith(b"POST /v2/systemsharedmemory/region/a%20b/register HTTP/1.1") for s in seen)
    assert all(b"authorization: Bearer t" in s and b"cookie" not in s for s in seen)
    assert group.regions() == {"a b": {"key": "/k", "offset": 0, "byte_size": 64}}
    group.remember("/v2/systemsharedmemory/region/a b/unregister", b"")
    assert group.regions() == {}
    group.remember("/v2/systemsharedmemory/region/c/register", b'{"key": "/c", "byte_size": 8}')
    group.remember("/v2/systemsharedmemory/unregister", b"")
    assert group.regions() == {}


def test_trace_settings_are_remembered_per_scope_the_last_value_of_each(tmp_path):
    group = Group(Role(1, 2, tmp_path))
    assert group.traces() == {}
    group.remember("/v2/trace/setting", b'{"trace_level": ["TIMESTAMPS"], "trace_rate": "100"}')
    group.remember("/v2/models/m 1/trace/setting", b'{"trace_rate": "1"}')
    group.remember("/v2/trace/setting", b'{"trace_rate": "10", "trace_count": "5"}')
    group.remember("/v2/models/m 1/trace/setting", b'{"trace_rate": null}')  # cleared: replayed as cleared
    assert group.traces() == {"": {"trace_level": ["TIMESTAMPS"], "trace_rate": "10", "trace_count": "5"},
                              "m 1": {"trace_rate": None}}
    assert Group(Role(0, 2, tmp_path)).traces() == group.traces()  # one file for the group
    assert group.unloaded() == set() and group.regions() == {}


def test_a_peer_that_refuses_is_reported_and_nothing_is_remembered(tmp_path):
    role = Role(0, 2, tmp_path)
    group = Group(role)

    async def run():
        server = await peer(role.socket_path(1), 400, b'{"error": "no"}', [])
        refused = await group.broadcast("POST", "/v2/repository/models/m/unload", "/v2/repository/models/m/unload",
                                        [], b"")
        server.close()
        return refused

    refused = asyncio.run(run())
    assert refused is not None and refused.status == 400
    assert orjson.loads(refused.body) == {"error": 'worker 0 applied it but worker 1 answered 400: {"error": "no"}'}
    assert group.unloaded() == set()


def test_a_peer_being_restarted_is_skipped_and_unloads_are_remembered(tmp_path):
    group = Group(Role(0, 2, tmp_path))  # nobody listens on worker 1's socket
    refused = asyncio.run(group.broadcast("POST", "/v2/repository/models/m/unload", "/v2/repository/models/m/unload",
                                          [], b""))
    assert refused is None and group.unloaded() == {"m"}
    group.remember("/v2/repository/models/m/load", b"")
    assert group.unloaded() == set()


def test_statistics_come_from_every_peer_that_answers(tmp_path):
    role = Role(0, 3, tmp_path)

    async def run():
        server = await peer(role.socket_path(1), 200, b'{"model_stats": [1]}', [])
        documents = await Group(role).statistics("/v2/models/stats", [])
        server.close()
        return documents

    assert asyncio.run(run()) == [{"model_stats": [1]}]
