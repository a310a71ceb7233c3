"""Tracing on the gRPC front door: the caller's W3C trace context from the call's metadata, and
Triton's TraceSetting messages turned into the settings core/tracing keeps (and back)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.tracing import Tracing
from ._generated import grpc_service_pb2 as pb

if TYPE_CHECKING:
    from ..core.tracing.spans import RequestTrace


def begin(tracing: Tracing, model: str, metadata: Any) -> RequestTrace | None:
    """The call's trace when it is sampled; `traceparent`/`tracestate` are read from its metadata."""
    meta = dict(metadata or ())
    parent, state = meta.get("traceparent"), meta.get("tracestate")
    return tracing.begin(model, parent if isinstance(parent, str) else None,
                         state if isinstance(state, str) else None, {"rpc.system": "grpc"})


def changes(request: pb.TraceSettingRequest) -> dict[str, Any]:
    """{name: value}: trace_level keeps its list, the others their one string; no value = null."""
    out: dict[str, Any] = {}
    for name, setting in request.settings.items():
        values = list(setting.value)
        if not values:
            out[name] = None
        elif name == "trace_level" or len(values) > 1:
            out[name] = values
        else:
            out[name] = values[0]
    return out


def response(document: dict[str, Any]) -> pb.TraceSettingResponse:
    answer = pb.TraceSettingResponse()
    for name, value in document.items():
        answer.settings[name].value.extend(value if isinstance(value, list) else [value])
    return answer
