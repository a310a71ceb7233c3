"""A tiny OIP-speaking server on 127.0.0.1, run by uvicorn in a thread.

It answers /infer (JSON or binary), /predict and /metrics. Each successful
inference adds known amounts to Triton-named counters, so the client's
metrics difference can be checked exactly. `delay_s` slows every answer
without blocking the loop; `fail_every` answers 503 to every n-th request.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

QUEUE_US, COMPUTE_US, REQUEST_US = 100.0, 250.0, 400.0  # added per successful request
ROWS_PER_EXEC = 2  # every second request "closes a batch": mean batch size 2


@dataclass
class FakeState:
    delay_s: float = 0.0
    fail_every: int = 0
    requests: int = 0
    success: dict = field(default_factory=lambda: {"digits": 0, "other": 0})
    arrivals: list = field(default_factory=list)


def _metrics_text(state: FakeState) -> str:
    lines = []
    for name, help_text in (
        ("nv_inference_request_success", "ok"), ("nv_inference_count", "items"), ("nv_inference_exec_count", "runs"),
        ("nv_inference_queue_duration_us", "q"), ("nv_inference_compute_infer_duration_us", "c"),
        ("nv_inference_request_duration_us", "r"),
    ):
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        for model, ok in state.success.items():
            value = {
                "nv_inference_request_success": ok,
                "nv_inference_count": ok,
                "nv_inference_exec_count": ok // ROWS_PER_EXEC,
                "nv_inference_queue_duration_us": ok * QUEUE_US,
                "nv_inference_compute_infer_duration_us": ok * COMPUTE_US,
                "nv_inference_request_duration_us": ok * REQUEST_US,
            }[name]
            lines.append(f'{name}_total{{model="{model}",version="1"}} {float(value)}')
    return "\n".join(lines) + "\n"


def build_app(state: FakeState) -> Starlette:
    async def infer(request: Request) -> Response:
        state.arrivals.append(time.monotonic())
        body = await request.body()
        state.requests += 1
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        if state.fail_every and state.requests % state.fail_every == 0:
            return Response(b'{"error": "queue full"}', status_code=503, headers={"retry-after": "1"})
        header = request.headers.get("inference-header-content-length")
        doc = json.loads(body[: int(header)] if header else body)
        if not doc.get("inputs"):
            return Response(b'{"error": "no inputs"}', status_code=400)
        model = request.path_params["model"]
        state.success[model if model in state.success else "other"] += 1
        rows = doc["inputs"][0]["shape"][0]
        if header:  # answer binary: one FP32 [rows, 2] output
            raw = b"\x00\x00\x80\x3f" * (2 * rows)
            out = {"outputs": [{"name": "p", "datatype": "FP32", "shape": [rows, 2],
                                "parameters": {"binary_data_size": len(raw)}}]}
            head = json.dumps(out).encode()
            return Response(head + raw, headers={"inference-header-content-length": str(len(head))})
        out = {"outputs": [{"name": "p", "datatype": "FP32", "shape": [rows, 2], "data": [1.0] * (2 * rows)}]}
        return Response(json.dumps(out).encode(), media_type="application/json")

    async def predict(request: Request) -> Response:
        await request.body()
        state.requests += 1
        return Response(b'{"predictions": []}', media_type="application/json")

    async def metadata(request: Request) -> Response:
        tensor = {"name": "image", "datatype": "FP32", "shape": [-1, 1, 8, 8]}
        output = {"name": "p", "datatype": "FP32", "shape": [-1, 2]}
        return Response(json.dumps({"name": request.path_params["model"], "inputs": [tensor], "outputs": [output],
                                    "max_batch_size": 8}), media_type="application/json")

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(_metrics_text(state))

    return Starlette(routes=[
        Route("/v2/models/{model}/infer", infer, methods=["POST"]),
        Route("/v2/models/{model}/predict", predict, methods=["POST"]),
        Route("/v2/models/{model}", metadata),
        Route("/metrics", metrics),
    ])


@dataclass
class FakeServer:
    url: str
    state: FakeState


@pytest.fixture
def fake_server():
    state = FakeState()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app(state), log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake server did not start")
        time.sleep(0.01)
    yield FakeServer(f"http://127.0.0.1:{port}", state)
    server.should_exit = True
    thread.join(timeout=5)
    sock.close()
