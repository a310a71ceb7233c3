"""What the playground (`/ui`) reads beyond the protocol: a model's friendly description,
the held-out examples that fit it, and the exact tensors a friendly input becomes.

- `GET /v2/models/{m}/friendly`: input kind and details, output (labels or image),
  attention output, shipped samples (service/friendly/catalog.py).
- `GET /v2/models/{m}/samples`: held-out examples whose shape the model takes, with
  source and licence (service/friendly/samples.py); an empty list when none fit.
- `POST /v2/models/{m}/preprocess`: one image (base64), sequence or text -> the Open
  Inference Protocol input tensors `/predict` would queue for it, unchanged. The page
  shows them ("the 8x8 input the model really got") and builds its tritonclient and
  perf_analyzer snippets from them; `{"inputs": ..., "outputs": ...}` is a valid `/infer` body.
"""

from __future__ import annotations

import asyncio
from typing import Any, Self

import orjson
from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..core.errors import Unprocessable
from ..friendly import catalog, preprocess
from ..friendly.postprocess import Postprocessing
from ..friendly.samples import samples_for
from .deps import ApiKey, AppSettings, Repo

router = APIRouter(tags=["friendly endpoints"], dependencies=[ApiKey])

_FIELD = {"image": "image_b64", "sequence": "frames", "text": "text"}
_UNKNOWN: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown model"},
                                             503: {"description": "Model not ready"}}


class PreprocessRequest(BaseModel):
    """Exactly one of image_b64, frames, text: the one the model's preprocessing takes."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Guten Morgen"},
        {"frames": [[0.1] * 12, [0.2] * 12]},
        {"image_b64": "data:image/png;base64,iVBORw0KGgo..."},
    ]})

    image_b64: str | None = Field(None, description="Image models: a base64 PNG/JPEG (a data: URL is fine).")
    frames: list[list[float]] | None = Field(None, description="Sequence models: one sequence, [time][channels].")
    text: str | None = Field(None, description="Text models: one string.")

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [f for f in _FIELD.values() if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(f"send exactly one of {list(_FIELD.values())}, received {given}")
        return self


@router.get("/v2/models/{model_name}/friendly", summary="What the friendly endpoints take and answer for a model",
            responses=_UNKNOWN)
async def friendly(model_name: str, repo: Repo) -> dict[str, Any]:
    mv = repo.get(model_name)
    return {**catalog.describe(mv.config), "version": str(mv.version)}


@router.get("/v2/models/{model_name}/samples", summary="Held-out examples shipped for a model's input",
            responses=_UNKNOWN)
async def samples(model_name: str, repo: Repo) -> dict[str, Any]:
    config = repo.get(model_name).config
    found = samples_for(config)
    if found is None:
        return {"model_name": model_name, "name": None, "items": [],
                "reason": "no shipped examples fit this model's input (today: 12-channel sequences)"}
    return {"model_name": model_name, **found.document()}


@router.post("/v2/models/{model_name}/preprocess", summary="The exact input tensors a friendly input becomes",
             responses={**_UNKNOWN, 400: {"description": "Corrupt image, wrong channels, NaN/Inf"},
                        413: {"description": "Too long a text or sequence, too large an image"},
                        422: {"description": "A field this model does not take, or no preprocessing"}})
async def preprocessed(model_name: str, body: PreprocessRequest, repo: Repo, settings: AppSettings) -> Response:
    mv = repo.get(model_name)
    config = mv.config
    kind = preprocess.kind_of(config)
    if kind is None:
        raise Unprocessable(f"model {model_name!r} declares no friendly preprocessing (preprocessing.type is None; "
                            "expected 'image', 'sequence' or 'chars'): build its tensors yourself for /infer")
    field = next(f for f in _FIELD.values() if getattr(body, f) is not None)
    if field != _FIELD[kind]:
        raise Unprocessable(f"model {model_name!r} takes {kind} input: send {_FIELD[kind]!r}; received {field!r}")
    answer: dict[str, Any] = {"model_name": model_name, "model_version": str(mv.version), "kind": kind}
    if body.image_b64 is not None:
        data = preprocess.decode_b64(body.image_b64, "image_b64")
        feeds, answer["inverted"] = await asyncio.to_thread(
            preprocess.image_feeds_and_inversion, config, data, "image_b64")
    elif body.frames is not None:
        feeds = preprocess.sequence_feeds(config, body.frames, "frames", settings.max_sequence_length)
    else:
        assert body.text is not None  # the validator demands exactly one field
        tokenized = preprocess.tokenize(config, body.text, "text", settings.max_text_length)
        feeds = preprocess.text_feeds(config, tokenized)
        answer["tokens"], answer["truncated"] = tokenized.tokens, tokenized.truncated
    answer["inputs"] = catalog.oip_inputs(config, feeds)
    answer["outputs"] = [{"name": Postprocessing.from_config(config).output}]
    return Response(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")
