"""POST /v2/models/{m}[/versions/{v}]/infer in the OpenAPI document: JSON and binary tensors.

The server answers /infer at its edge (api/infer_endpoint.py) before FastAPI's router;
these routes give the OpenAPI document its entry, and answer the same way when the
routers are mounted in an app of someone else's.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..protocol.binary import HEADER
from ..protocol.execute import answer_infer
from .deps import ApiKey, AppSettings, Repo, unless_disconnected

router = APIRouter(tags=["inference (Open Inference Protocol)"], dependencies=[ApiKey])

_EXAMPLE = {
    "id": "42",
    "inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0.0] * 64}],
    "outputs": [{"name": "probabilities"}],
}
_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "parameters": {"type": "object"},
                        "inputs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "shape", "datatype"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "shape": {"type": "array", "items": {"type": "integer"}},
                                    "datatype": {"type": "string"},
                                    "parameters": {"type": "object"},
                                    "data": {"type": "array"},
                                },
                            },
                        },
                        "outputs": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "example": _EXAMPLE,
            },
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": f"Binary tensor extension: JSON header of `{HEADER}` bytes, then raw tensors.",
            },
        },
    },
    "responses": {
        "400": {"description": "Malformed request: wrong shape, datatype, unknown input, bad binary header"},
        "404": {"description": "Unknown model or version"},
        "503": {"description": "Queue full or model unavailable (Retry-After)"},
        "504": {"description": "The request's timeout passed before it ran"},
    },
}


async def _infer(model_name: str, model_version: str | None, request: Request, repo: Repo,
                 settings: AppSettings) -> Response:
    payload, header_length = await answer_infer(
        repo, model_name, model_version, await request.body(), request.headers.get(HEADER),
        max_depth=settings.max_json_depth, guard=lambda work: unless_disconnected(request, work),
        regions=getattr(request.app.state, "shared_memory", None),
    )
    if header_length is None:
        return Response(payload, media_type="application/json")
    return Response(payload, media_type="application/octet-stream", headers={HEADER: str(header_length)})


@router.post("/v2/models/{model_name}/infer", summary="Infer (latest version)", openapi_extra=_OPENAPI)
async def infer(model_name: str, request: Request, repo: Repo, settings: AppSettings) -> Response:
    return await _infer(model_name, None, request, repo, settings)


@router.post(
    "/v2/models/{model_name}/versions/{model_version}/infer",
    summary="Infer with a named version",
    openapi_extra=_OPENAPI,
)
async def infer_version(
    model_name: str, model_version: str, request: Request, repo: Repo, settings: AppSettings
) -> Response:
    return await _infer(model_name, model_version, request, repo, settings)
