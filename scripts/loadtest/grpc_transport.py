"""The gRPC side of the load generator: ModelInferRequest bodies and a lean unary caller.

Requests are built with tritonclient's own protobuf classes (not the service's
stubs), so the load test checks the server against Triton's client definitions.
Each body is serialised once; a call sends those bytes as they are (no
serializer) and reads the answer's bytes without decoding them, so the client's
CPU goes to the transport, as with the raw HTTP transport.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import numpy as np

from .payloads import RequestSpec, _rows, datatype_of, encode_tensor

INFER_METHOD = "/inference.GRPCInferenceService/ModelInfer"
PAYLOAD = "grpc"  # the payload name rows and reports carry for gRPC steps
_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


def build_grpc(model: str, version: str | None, inputs: dict[str, np.ndarray], outputs: Sequence[str],
               **_) -> RequestSpec:
    """A ModelInferRequest with every tensor in raw_input_contents, as tritonclient.grpc sends it."""
    from tritonclient.grpc import service_pb2

    request = service_pb2.ModelInferRequest(model_name=model, model_version=version or "")
    for name, array in inputs.items():
        request.inputs.add(name=name, datatype=datatype_of(array), shape=list(array.shape))
        request.raw_input_contents.append(encode_tensor(array))
    for name in outputs:
        request.outputs.add(name=name)
    return RequestSpec(INFER_METHOD, request.SerializeToString(), {}, _rows(inputs), method="GRPC")


def outcome_of(code: grpc.StatusCode) -> str:
    # Success is spelled "200" in every protocol's outcome table (stats count it as ok);
    # failures keep their gRPC names (UNAVAILABLE, DEADLINE_EXCEEDED, ...).
    return "200" if code is grpc.StatusCode.OK else code.name


class GrpcConnection:
    """One call at a time over a channel the pool's connections share (HTTP/2 multiplexes them)."""

    reconnects = 0  # gRPC reconnects inside the channel, out of sight

    def __init__(self, channel: grpc.aio.Channel, timeout_s: float, owns_channel: bool) -> None:
        self._channel = channel
        self._owns = owns_channel
        self._timeout_s = timeout_s
        self._calls: dict[str, grpc.aio.UnaryUnaryMultiCallable] = {}

    async def send(self, spec: RequestSpec) -> str:
        call = self._calls.get(spec.path)
        if call is None:
            call = self._calls[spec.path] = self._channel.unary_unary(spec.path)
        try:
            await call(spec.body, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            return outcome_of(exc.code())
        return "200"

    async def aclose(self) -> None:
        if self._owns:
            await self._channel.close()


def open_connections(target: str, size: int, timeout_s: float, per_channel: int = 16) -> list[GrpcConnection]:
    """`size` call slots over ceil(size / per_channel) channels, so one TCP connection is not the limit."""
    connections = []
    channel = None
    for i in range(size):
        owns = i % per_channel == 0
        if owns:
            channel = grpc.aio.insecure_channel(target, options=_OPTIONS)
        connections.append(GrpcConnection(channel, timeout_s, owns))
    return connections


def probe_grpc(target: str, spec: RequestSpec, timeout_s: float = 30.0) -> str | None:
    """Send one request; return None when it succeeded, else the status and the server's message."""
    with grpc.insecure_channel(target, options=_OPTIONS) as channel:
        try:
            channel.unary_unary(spec.path)(spec.body, timeout=timeout_s)
        except grpc.RpcError as exc:
            return f"{spec.path} answered {exc.code().name}: {exc.details()}"
    return None
