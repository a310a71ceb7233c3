"""Faults against a real server process: SIGTERM under load, hot reload under load,
broken model files, clients that give up. Each test counts every request it sent."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from scripts.launcher import ServerProcess
from tests.tiny_models import (
    AFFINE_CONFIG,
    SEQUENCE_CONFIG,
    _save,
    affine_graph,
    make_repository,
    sequence_graph,
    write_model,
)

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": "Bearer reload-secret"}
BROKEN = ("corrupt", "truncated", "missing", "mismatched")


def broken_models(repo: Path) -> None:
    """Four copies of `affine`, each broken in its own way."""
    valid = _save(affine_graph(), repo / "affine" / "1" / "model.onnx").read_bytes()
    for name in BROKEN:
        config = {**AFFINE_CONFIG, "name": name}
        if name == "mismatched":  # the graph takes [batch, 4]
            config["input"] = [{"name": "x", "datatype": "FP32", "dims": [5]}]
        write_model(repo, config, affine_graph())
    (repo / "corrupt" / "1" / "model.onnx").write_bytes(b"this is not an ONNX protobuf\x00\xff" * 8)
    (repo / "truncated" / "1" / "model.onnx").write_bytes(valid[: len(valid) // 2])
    (repo / "missing" / "1" / "model.onnx").unlink()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = make_repository(tmp_path_factory.mktemp("faults") / "repo")
    broken_models(root)
    return root


@pytest.fixture(scope="module")
def server(repo):
    with ServerProcess(repo, env={"ORTSERVE_ADMIN_TOKEN": "reload-secret"}) as proc:
        yield proc


def sequence_body(length: int, seed: int = 0) -> dict:
    frames = np.random.default_rng(seed).normal(size=(1, length, 3)).astype(np.float32)
    return {"inputs": [
        {"name": "frames", "shape": [1, length, 3], "datatype": "FP32", "data": frames.ravel().tolist()},
        {"name": "lengths", "shape": [1], "datatype": "INT64", "data": [length]},
    ]}


def metric(text: str, name: str, model: str, version: str = "1") -> float:
    match = re.search(rf'{name}\{{model="{model}",version="{version}"\}} ([\d.e+-]+)', text)
    return float(match.group(1)) if match else 0.0


def scrape(url: str) -> str:
    return httpx.get(f"{url}/metrics", timeout=10).text


# -- SIGTERM under load -------------------------------------------------------


async def _post_all(url: str, body: dict, count: int) -> tuple[list[asyncio.Task], httpx.AsyncClient]:
    client = httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=count))

    async def one():
        try:
            return await client.post("/v2/models/sequence/infer", json=body)
        except httpx.HTTPError as exc:
            return exc

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    return tasks, client


async def _wait_accepted(url: str, count: int, batch: int) -> None:
    """Until every request is in the server: computed or queued, bar one running batch."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as probe:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = (await probe.get("/metrics")).text
            seen = metric(text, "nv_inference_count", "sequence") + metric(text, "ortserve_queue_depth", "sequence")
            if seen + batch >= count and metric(text, "ortserve_queue_depth", "sequence") > 0:
                await asyncio.sleep(0.2)
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the requests never reached the server's queue")


def _classify(result) -> str:
    if isinstance(result, Exception):
        return type(result).__name__
    if result.status_code == 503 and "error" in result.json() and "retry-after" in result.headers:
        return "503 json"
    return str(result.status_code)


# 64 x 800 frames is seconds of work: far more than a 0.2 s drain allows.
@pytest.mark.parametrize("drain_timeout, frames, expect", [(30.0, 400, {"200"}), (0.2, 800, {"200", "503 json"})])
def test_sigterm_under_load_answers_every_accepted_request(tmp_path, drain_timeout, frames, expect):
    repo = tmp_path / "repo"
    write_model(repo, SEQUENCE_CONFIG, sequence_graph())
    proc = ServerProcess(repo, env={"ORTSERVE_DRAIN_TIMEOUT_S": str(drain_timeout)})
    proc.wait_ready()
    sent = 64

    async def scenario():
        tasks, client = await _post_all(proc.url, sequence_body(frames), sent)
        await _wait_accepted(proc.url, sent, SEQUENCE_CONFIG["max_batch_size"])
        proc.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)  # uvicorn notices the signal on its next 0.1 s tick
        refused = 0
        async with httpx.AsyncClient(timeout=2) as late:
            for _ in range(5):
                try:
                    await late.get(f"{proc.url}/v2/health/live")
                except httpx.ConnectError:
                    refused += 1
                await asyncio.sleep(0.05)
        results = await asyncio.gather(*tasks)
        await client.aclose()
        return refused, results

    try:
        refused, results = asyncio.run(scenario())
        code = proc.terminate(timeout=60)
    finally:
        proc.terminate()
    outcomes = [_classify(r) for r in results]
    counts = {o: outcomes.count(o) for o in set(outcomes)}
    print(f"drain_timeout={drain_timeout}: {counts}, refused after SIGTERM: {refused}/5, exit {code}")
    assert len(outcomes) == sent
    # Every accepted request answered: 200, or 503 JSON with Retry-After; no reset, no bare 500.
    assert set(counts) == expect, f"{counts}\n{proc.log()[-3000:]}"
    assert refused == 5, "a new connection after SIGTERM was served"
    assert code in (0, -15), proc.log()[-3000:]  # -15: uvicorn re-raises SIGTERM after a clean drain


def test_sigterm_serves_a_request_read_before_it_and_queued_after(tmp_path):
    """Headers in before SIGTERM, body after: the request was accepted and must be served, not
    answered 503 because the queues closed while it was still on its way to them (the race
    `docker stop` under load hit once in three runs; tests/deploy/test_compose_engine.py)."""
    repo = tmp_path / "repo"
    write_model(repo, AFFINE_CONFIG, affine_graph())
    proc = ServerProcess(repo)
    proc.wait_ready()
    body = b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}'
    head = (f"POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    try:
        with socket.create_connection(("127.0.0.1", proc.port), timeout=30) as s:
            s.sendall(head)
            time.sleep(0.3)  # the server has the headers: the request's task is running
            proc.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # uvicorn notices the signal on its next 0.1 s tick, then drains
            s.sendall(body)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        code = proc.terminate(timeout=60)
    finally:
        proc.terminate()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert code in (0, -15), proc.log()[-3000:]


# -- hot reload under load ---------------------------------------------------------


def test_hot_reload_under_load_fails_no_request(server, repo):
    x = [[1.0, 2.0, 3.0, 4.0]]
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": x}], "outputs": [{"name": "y"}]}
    offsets = {"2": 10.0, "3": 100.0}

    async def scenario():
        results, stop = [], asyncio.Event()
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            async def worker():
                while not stop.is_set():
                    sent_at = time.monotonic()
                    r = await client.post("/v2/models/affine/infer", json=body)
                    results.append((sent_at, r))

            workers = [asyncio.create_task(worker()) for _ in range(4)]
            await asyncio.sleep(0.5)
            _save(affine_graph(offset=100.0), repo / "affine" / "3" / "model.onnx")
            r = await client.post("/v2/repository/models/affine/load", headers=ADMIN)
            loaded_at = time.monotonic()
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*workers)
        return r, loaded_at, results

    load, loaded_at, results = asyncio.run(scenario())
    assert load.status_code == 200, load.text
    assert load.json()["versions"] == ["1", "2", "3"]
    failures = [(r.status_code, r.text) for _, r in results if r.status_code != 200]
    after = sum(sent_at > loaded_at for sent_at, _ in results)
    print(f"hot reload: {len(results)} requests ({after} sent after the load returned), {len(failures)} failed")
    assert not failures, f"{len(failures)} of {len(results)} failed: {failures[:3]}"
    assert len(results) > 20
    for sent_at, r in results:
        doc = r.json()
        version = doc["model_version"]
        np.testing.assert_allclose(doc["outputs"][0]["data"], [v * 2 + offsets[version] for v in x[0]])
        if sent_at > loaded_at:
            assert version == "3", "a request sent after the load returned reached the old version"
    assert {r.json()["model_version"] for _, r in results} == {"2", "3"}


# -- broken model files ------------------------------------------------------------


def test_broken_models_are_unavailable_with_a_reason_and_others_serve(server):
    ready = httpx.get(f"{server.url}/v2/health/ready", timeout=10)
    assert ready.status_code == 200  # strict_readiness is off: one broken model does not fail the server
    models = ready.json()["models"]
    expected = {
        "corrupt": "cannot load model.onnx",
        "truncated": "cannot load model.onnx",
        "missing": "missing model.onnx",
        "mismatched": "input 'x' shape: dim 1 = 5 but the graph has 4",
    }
    for name, why in expected.items():
        assert models[f"{name}/1"]["state"] == "UNAVAILABLE"
        assert why in models[f"{name}/1"]["reason"], models[f"{name}/1"]
        meta = httpx.get(f"{server.url}/v2/models/{name}", timeout=10).json()
        assert meta["state"] == "UNAVAILABLE" and why in meta["reason"]
        assert httpx.get(f"{server.url}/v2/models/{name}/ready", timeout=10).status_code == 503
        body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
        r = httpx.post(f"{server.url}/v2/models/{name}/infer", json=body, timeout=10)
        assert r.status_code == 503 and why in r.json()["error"] and "retry-after" in r.headers
        r = httpx.post(f"{server.url}/v2/models/affine/versions/1/infer", json=body, timeout=10)
        assert r.status_code == 200
    assert models["sequence/1"]["state"] == "READY"


# -- clients that give up ----------------------------------------------------------


def test_abandoned_requests_are_dropped_before_they_run(server):
    before = metric(scrape(server.url), "nv_inference_count", "sequence")
    sent = 64

    async def scenario():
        async with httpx.AsyncClient(base_url=server.url, timeout=0.3,
                                     limits=httpx.Limits(max_connections=sent)) as client:
            async def one(i):
                try:
                    return (await client.post("/v2/models/sequence/infer", json=sequence_body(800, i))).status_code
                except httpx.TimeoutException:
                    return "gave up"

            return await asyncio.gather(*(one(i) for i in range(sent)))

    outcomes = asyncio.run(scenario())
    gave_up = outcomes.count("gave up")
    assert gave_up > 16, outcomes
    time.sleep(1.0)  # the server notices every disconnect
    # One more request, so the dispatcher prunes the abandoned ones and the count settles.
    assert httpx.post(f"{server.url}/v2/models/sequence/infer", json=sequence_body(10), timeout=30).status_code == 200
    text = scrape(server.url)
    computed = metric(text, "nv_inference_count", "sequence") - before - 1
    print(f"disconnect: {sent} sent, {gave_up} clients gave up, {computed:.0f} computed, {sent - computed:.0f} dropped")
    assert metric(text, "ortserve_queue_depth", "sequence") == 0
    assert computed < sent
    # Only work already dispatched when its client left was computed: the rest was dropped.
    assert sent - computed >= gave_up - 2 * SEQUENCE_CONFIG["max_batch_size"], (computed, gave_up)
