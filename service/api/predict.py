"""POST /v2/models/{m}[/versions/{v}]/predict: images, sequences and text in; labels out.

One endpoint per model; what it accepts and answers follows the model's declared
`preprocessing` and `postprocessing` (see service/friendly/preprocess.py, images.py and postprocess.py):

- JSON for every model: {"images": [...]} (preprocessed pixel arrays) or
  {"images_b64": [...]} (base64 PNG/JPEG), {"frames": [[...]]} or {"sequences": [...]},
  {"text": "..."} or {"text": [...]}.
- Image models also take multipart uploads (field `file`, repeatable) and raw
  `image/png` / `image/jpeg` bodies.

Each item is queued on its own (one repo.infer per item, in order), so items
batch with other requests' items. Autoencoders (postprocessing type "image")
answer a PNG for a single upload, JSON otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any, Literal

import numpy as np
import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..core.config import ModelConfig
from ..core.errors import InvalidInput, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from ..core.repository import ModelRepository
from ..core.request import Deadline, InferRequest
from ..core.settings import Settings
from ..friendly import preprocess
from ..friendly.postprocess import Postprocessing, image_array, to_png
from .deps import ApiKey, AppSettings, Repo, unless_disconnected
from .schemas import PNG, PredictResponse, Timeout, timeout_renamed
from .tracing_http import traced

router = APIRouter(tags=["friendly endpoints"], dependencies=[ApiKey])

ITEM_FIELDS = {"image": ("images", "images_b64"), "sequence": ("frames", "sequences"), "text": ("text",)}


class PredictRequest(BaseModel):
    """Exactly one of images, images_b64, frames, sequences, text."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": ["Montag", "poniedziałek"], "top_k": 3, "threshold": 0.5},
        {"frames": [[0.1] * 12, [0.2] * 12, [0.3] * 12]},
        {"images": [[[[0.0] * 8] * 8]], "top_k": 3},
        {"images_b64": ["iVBORw0KGgo..."]},
    ]})

    images: list[Any] | None = Field(None, description=(
        "Image models: already-preprocessed pixel arrays, one per item, shaped like the model's input "
        "(e.g. [1, 8, 8], or [8, 8] for one channel), values as in training (e.g. [0, 1], ink bright)."))
    images_b64: list[str] | None = Field(None, description="Image models: base64 PNG/JPEG files (data: URLs allowed).")
    frames: list[list[float]] | None = Field(None, description="Sequence models: one sequence, [time][channels].")
    sequences: list[list[list[float]]] | None = Field(None, description="Sequence models: several sequences.")
    text: str | list[str] | None = Field(None, description="Text models: one string or a list of strings.")
    top_k: int | None = Field(None, ge=1, le=1000, description="How many labels to rank (default from config).")
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="Multi-label cut-off (default from config).")
    format: Literal["json", "png"] | None = Field(None, description="Image-output models: png (one item) or json.")
    upscale: int = Field(1, ge=1, le=64, description="Image-output models: integer PNG enlargement (nearest).")
    timeout_s: Timeout = None

    @model_validator(mode="before")
    @classmethod
    def _timeout_renamed(cls, data: Any) -> Any:
        return timeout_renamed(data)

    @model_validator(mode="after")
    def _one_kind(self) -> PredictRequest:
        given = [f for fields in ITEM_FIELDS.values() for f in fields if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(f"send exactly one of {[f for v in ITEM_FIELDS.values() for f in v]}, received {given}")
        return self


def _openapi() -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": PredictRequest.model_json_schema()},
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
            "image/png": binary,
            "image/jpeg": binary,
        }},
    }


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": PredictResponse, "content": PNG,
          "description": "Labels with probabilities; image-output models may answer image/png"},
    400: {"description": "Corrupt or non-image upload, wrong channels, NaN/Inf"},
    404: {"description": "Unknown model or version"},
    413: {"description": "Too many items, too long a text or sequence, too large an image"},
    415: {"description": "A Content-Type other than JSON, multipart, PNG or JPEG"},
    422: {"description": "Invalid JSON body, empty text, field not taken by this model"},
}


def _sniff(body: bytes) -> str | None:
    """PNG or JPEG by their magic bytes, else None."""
    if body.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if body.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


async def _parse(request: Request, settings: Settings) -> tuple[PredictRequest | None, list[tuple[bytes, str]]]:
    """The JSON body, or the uploaded files as (bytes, where) pairs."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # No Content-Type, or curl's default for --data-binary: look at the bytes rather than call a PNG invalid JSON.
    if ctype in ("", "application/x-www-form-urlencoded"):
        ctype = _sniff(await request.body()) or ctype or "application/json"
    if ctype == "application/json":
        try:
            return PredictRequest.model_validate_json(await request.body()), []
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
    if ctype == "multipart/form-data":
        form = await request.form(max_files=settings.max_items_per_request, max_fields=64)
        try:
            uploads = form.getlist("file")
            if not uploads:
                raise Unprocessable(f"multipart field 'file' is missing; received fields {sorted(form.keys())}")
            files = []
            for i, upload in enumerate(uploads):
                if isinstance(upload, str):
                    raise InvalidInput(f"file[{i}]: expected a file upload, received a text field")
                files.append((await upload.read(), f"file[{i}] ({upload.filename!r})"))
            return None, files
        finally:
            await form.close()
    if ctype.startswith("image/") or ctype == "application/octet-stream":
        return None, [(await request.body(), "body")]
    raise UnsupportedMediaType(
        f"unsupported Content-Type {ctype!r}; expected application/json, multipart/form-data, image/png or image/jpeg"
    )


def _json_items(body: PredictRequest, config: ModelConfig, kind: str, settings: Settings) -> list[Any]:
    """Per-item feeds (or, for encoded images, (bytes, where) pairs decoded later off the loop)."""
    field = next(f for fields in ITEM_FIELDS.values() for f in fields if getattr(body, f) is not None)
    if field not in ITEM_FIELDS[kind]:
        wanted = " or ".join(repr(f) for f in ITEM_FIELDS[kind]) + (" (or an upload)" if kind == "image" else "")
        raise Unprocessable(f"model {config.name!r} takes {kind} input: send {wanted}; received {field!r}")
    value = getattr(body, field)
    values = [value] if field == "frames" or isinstance(value, str) else value
    if len(values) > settings.max_items_per_request:
        raise PayloadTooLarge(f"{field}: {len(values)} items exceed the limit of {settings.max_items_per_request}")
    if not values:
        raise Unprocessable(f"{field}: empty list; expected at least one item")
    single = value is not values  # {"frames": [...]} or {"text": "..."}: errors name the field itself

    def where(i: int) -> str:
        return field if single else f"{field}[{i}]"

    if field == "images":
        return [preprocess.array_feeds(config, v, where(i)) for i, v in enumerate(values)]
    if field == "images_b64":
        return [(preprocess.decode_b64(v, where(i)), where(i)) for i, v in enumerate(values)]
    if field in ("frames", "sequences"):
        cap = settings.max_sequence_length
        return [preprocess.sequence_feeds(config, v, where(i), cap) for i, v in enumerate(values)]
    return [preprocess.tokenize(config, v, where(i), settings.max_text_length) for i, v in enumerate(values)]


async def _predict(name: str, version: str | None, request: Request, repo: ModelRepository, settings: Settings,
                   top_k: int | None, threshold: float | None, fmt: str | None, upscale: int,
                   trace: Any = None) -> Response:
    mv = repo.get(name, version)  # 404/503 before looking at the body
    config, version = mv.config, str(mv.version)  # every item goes to this one version
    body, files = await _parse(request, settings)
    kind = preprocess.kind_of(config)
    if kind is None:
        raise Unprocessable(
            f"model {name!r} declares no friendly preprocessing (preprocessing.type is None; "
            "expected 'image', 'sequence' or 'chars'): use /infer"
        )
    post = Postprocessing.from_config(config)
    timeout = None
    if body is not None:  # body values win over query parameters
        top_k = body.top_k or top_k
        threshold = body.threshold if body.threshold is not None else threshold
        fmt, timeout = body.format or fmt, body.timeout_s
        upscale = body.upscale if body.upscale != 1 else upscale
        items = _json_items(body, config, kind, settings)
    else:
        if kind != "image":
            raise Unprocessable(f"model {name!r} takes {kind} input as JSON, not file uploads")
        if len(files) > settings.max_items_per_request:
            raise PayloadTooLarge(f"{len(files)} files exceed the limit of {settings.max_items_per_request}")
        items = files
    if post.type == "image":
        fmt = fmt or ("png" if len(files) == 1 else "json")
        if fmt == "png" and len(items) != 1:
            raise Unprocessable(f"format 'png' answers one image, but {len(items)} were sent; use format 'json'")
    elif fmt == "png":
        raise Unprocessable(f"format 'png' is only for models whose postprocessing type is 'image'; "
                            f"{name!r} answers labels")
    inverted = [False] * len(items)
    if any(isinstance(item, tuple) for item in items):  # Pillow decoding is CPU work: keep it off the loop
        decoded = await asyncio.to_thread(
            lambda: [preprocess.image_feeds_and_inversion(config, *it) if isinstance(it, tuple) else (it, False)
                     for it in items])
        items, inverted = [d[0] for d in decoded], [d[1] for d in decoded]
    texts = items if kind == "text" else []
    feeds = [preprocess.text_feeds(config, t) for t in texts] if texts else items
    deadline = None if timeout is None else Deadline.after(timeout)  # one deadline for all the items
    wanted = frozenset([post.output])
    results = await unless_disconnected(request, asyncio.gather(
        *(repo.infer(InferRequest(name, version, f, wanted, deadline, trace=trace)) for f in feeds)))
    encoding = time.monotonic()
    answer = _answer(name, version, config, post, results, texts, fmt, upscale, inverted, top_k, threshold)
    if trace is not None:
        trace.encoded(encoding)
    return answer


def _answer(name: str, version: str, config: ModelConfig, post: Postprocessing, results: list[Any], texts: list[Any],
            fmt: str | None, upscale: int, inverted: list[bool], top_k: int | None,
            threshold: float | None) -> Response:
    outputs = [{k: v[0] if config.batched else v for k, v in r.outputs.items()} for _, r in results]
    if post.type == "image":
        return _image_answer(name, version, post, outputs, fmt, upscale, inverted)
    predictions = [post.classify(o, top_k, threshold) for o in outputs]
    for answer, tokenized in zip(predictions, texts):
        answer["truncated"] = tokenized.truncated
    return _json({"model_name": name, "model_version": version, "predictions": predictions})


def _image_answer(name: str, version: str, post: Postprocessing, outputs: list[dict[str, np.ndarray]], fmt: str | None,
                  upscale: int, inverted: list[bool]) -> Response:
    # An upload inverted to the model's polarity (dark-on-white -> bright-on-dark) is inverted
    # back, so the answer has the polarity of the upload.
    arrays = [image_array(o, post) for o in outputs]
    arrays = [1.0 - a if flip else a for a, flip in zip(arrays, inverted, strict=True)]
    if fmt == "png":
        return Response(to_png(arrays[0], upscale), media_type="image/png")
    low, high = post.value_range
    predictions = [
        {"output": post.output,
         "values": (low + high - np.asarray(o[post.output]) if flip else np.asarray(o[post.output])).tolist(),
         "inverted": flip, "png_b64": base64.b64encode(to_png(a, upscale)).decode("ascii")}
        for o, a, flip in zip(outputs, arrays, inverted, strict=True)
    ]
    return _json({"model_name": name, "model_version": version, "predictions": predictions})


def _json(payload: dict[str, Any]) -> Response:
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


TopK = Query(None, ge=1, le=1000, description="How many labels to rank (default from the model's config)")
Threshold = Query(None, ge=0.0, le=1.0, description="Multi-label cut-off (default from the model's config)")
Format = Query(None, description="Image-output models: 'png' (one item) or 'json'")
Upscale = Query(1, ge=1, le=64, description="Image-output models: integer PNG enlargement")


@router.post("/v2/models/{model_name}/predict", summary="Predict from images, sequences or text",
             openapi_extra=_openapi(), responses=RESPONSES)
async def predict(model_name: str, request: Request, repo: Repo, settings: AppSettings,
                  top_k: int | None = TopK, threshold: float | None = Threshold,
                  format: Literal["json", "png"] | None = Format, upscale: int = Upscale) -> Response:
    return await traced(repo.tracing, model_name, request, lambda trace: _predict(
        model_name, None, request, repo, settings, top_k, threshold, format, upscale, trace))


@router.post("/v2/models/{model_name}/versions/{model_version}/predict", summary="Predict with a named version",
             openapi_extra=_openapi(), responses=RESPONSES)
async def predict_version(model_name: str, model_version: str, request: Request, repo: Repo, settings: AppSettings,
                          top_k: int | None = TopK, threshold: float | None = Threshold,
                          format: Literal["json", "png"] | None = Format, upscale: int = Upscale) -> Response:
    return await traced(repo.tracing, model_name, request, lambda trace: _predict(
        model_name, model_version, request, repo, settings, top_k, threshold, format, upscale, trace))
