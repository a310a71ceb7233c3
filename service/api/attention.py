"""POST /v2/models/{m}[/versions/{v}]/attention: a Transformer's attention maps for one text.

The weights are the served model's own attention output (through the same
repository, batcher and runtime as /infer), cut back to the text's length.
JSON gives the tokens, attentions[layer][head][query][key] (filterable, or
averaged over heads), the rollout, the prediction, and a `bertviz` block ready
for BertViz's head_view; format=png draws one labelled heatmap.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import numpy as np
import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..core.config import ModelConfig
from ..core.config_blocks import TextPreprocessing
from ..core.errors import Unprocessable
from ..core.repository import ModelRepository
from ..core.request import Deadline, InferRequest
from ..core.settings import Settings
from ..friendly import attention_maps, heatmap, preprocess
from ..friendly.postprocess import Postprocessing
from .deps import ApiKey, AppSettings, Repo, unless_disconnected
from .schemas import PNG, AttentionResponse, Timeout, timeout_renamed

router = APIRouter(tags=["friendly endpoints"], dependencies=[ApiKey])


class AttentionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Montag", "layers": [1], "average_heads": True},
        {"text": "poniedziałek", "format": "png", "view": "rollout"},
        {"text": "Montag", "format": "png", "view": "head", "layer": 0, "head": 2},
    ]})

    text: str = Field(description="The text to analyse (truncated to the model's max_length as in prediction).")
    layers: list[int] | None = Field(None, description="JSON: layer indices to return (default: all).")
    heads: list[int] | None = Field(None, description="JSON: head indices to return (default: all).")
    average_heads: bool = Field(False, description="JSON: average the selected heads into one.")
    format: Literal["json", "png"] = Field("json", description="json, or one heatmap as image/png")
    view: Literal["head", "mean", "rollout"] = Field(
        "mean", description="png: one head, the mean of a layer's heads, or the rollout over all layers")
    layer: int | None = Field(None, description="png: the layer for view head/mean (default: the last)")
    head: int | None = Field(None, description="png: the head for view head (default: 0)")
    bertviz: bool = Field(True, description="JSON: include the BertViz head_view block")
    top_k: int | None = Field(None, ge=1, le=1000, description="prediction: how many labels to rank")
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="prediction: multi-label cut-off")
    timeout_s: Timeout = None

    @model_validator(mode="before")
    @classmethod
    def _timeout_renamed(cls, data: Any) -> Any:
        return timeout_renamed(data)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": AttentionResponse, "content": PNG,
          "description": "Tokens, attentions, rollout, prediction (JSON) or a heatmap (image/png)"},
    404: {"description": "Unknown model or version"},
    413: {"description": "Text or attention response over the limit"},
    422: {"description": "Not a Transformer with an attention output, empty text, layer/head out of range"},
}


async def _attention(name: str, version: str | None, body: AttentionRequest, request: Request,
                     repo: ModelRepository, settings: Settings) -> Response:
    mv = repo.get(name, version)
    config, version = mv.config, str(mv.version)
    output = attention_maps.attention_output(config)
    if output is None:
        raise Unprocessable(
            f"model {name!r} has no attention output; declare postprocessing.attention_output "
            f"(an output shaped [layers, heads, seq, seq]); outputs: {[s.name for s in config.output]}"
        )
    if preprocess.kind_of(config) != "text":
        raise Unprocessable(f"model {name!r}: attention maps need a text model (preprocessing.type 'chars')")
    tokenized = preprocess.tokenize(config, body.text, "text", settings.max_text_length)
    feeds = preprocess.text_feeds(config, tokenized)
    deadline = None if body.timeout_s is None else Deadline.after(body.timeout_s)
    _, result = await unless_disconnected(request, repo.infer(InferRequest(name, version, feeds, None, deadline)))
    outputs = {k: v[0] if config.batched else v for k, v in result.outputs.items()}
    weights = attention_maps.as_maps(outputs[output])
    tokens = tokenized.tokens
    if body.format == "png":
        matrix, title = attention_maps.view(weights, body.view, body.layer, body.head)
        prediction = _prediction(config, outputs, body)
        if prediction is not None:
            title += f"\n{body.text[:40]!r} -> {prediction['label']} ({prediction['probability']:.2f})"
        png = await asyncio.to_thread(heatmap.render, matrix, tokens, tokens, f"{name}: {title}")
        return Response(png, media_type="image/png")
    selection = attention_maps.select(weights, body.layers, body.heads, body.average_heads)
    layers, heads, seq = selection.weights.shape[:3]
    attention_maps.check_budget(layers, heads, seq, 2 if body.bertviz else 1, settings.max_attention_elements)
    payload = {
        "model_name": name,
        "model_version": version,
        "text": body.text,
        "tokens": tokens,
        "ids": tokenized.ids,
        "truncated": tokenized.truncated,
        "max_length": _max_length(config),  # tokens kept, as in prediction
        "layers": selection.layers,
        "heads": selection.heads,
        "shape": list(selection.weights.shape),
        "attentions": selection.weights.astype(np.float32),
        "rollout": attention_maps.rollout(weights).astype(np.float32),
        "prediction": _prediction(config, outputs, body),
    }
    if body.bertviz:
        payload["bertviz"] = {"attention": attention_maps.bertviz(selection), "tokens": tokens}
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


def _max_length(config: ModelConfig) -> int | None:
    pre = config.preprocessing
    return pre.max_length if isinstance(pre, TextPreprocessing) else None


def _prediction(config: ModelConfig, outputs: dict[str, np.ndarray], body: AttentionRequest) -> dict[str, Any] | None:
    post = Postprocessing.from_config(config)
    if post.output not in outputs or post.type == "image":
        return None
    return post.classify(outputs, body.top_k, body.threshold)


@router.post("/v2/models/{model_name}/attention", summary="Attention maps for a text", responses=_RESPONSES)
async def attention(model_name: str, body: AttentionRequest, request: Request, repo: Repo,
                    settings: AppSettings) -> Response:
    return await _attention(model_name, None, body, request, repo, settings)


@router.post("/v2/models/{model_name}/versions/{model_version}/attention",
             summary="Attention maps for a text (named version)", responses=_RESPONSES)
async def attention_version(model_name: str, model_version: str, body: AttentionRequest, request: Request,
                            repo: Repo, settings: AppSettings) -> Response:
    return await _attention(model_name, model_version, body, request, repo, settings)
