"""Shared schemas of the friendly endpoints: the response models, so `/docs` shows every
answer's shape, and the request fields every endpoint spells the same way.

The hot paths (predict, attention) still serialise with orjson and only name
these models in the OpenAPI schema: validating every answer through pydantic
would cost CPU per request for no change in the bytes. The encoding endpoints
return the models themselves.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

PNG = {"image/png": {"schema": {"type": "string", "format": "binary"}}}

# The friendly endpoints' deadline, in seconds, and named so: /infer's `parameters.timeout`
# is Triton's, in microseconds.
Timeout = Annotated[float | None, Field(gt=0, le=600, description=(
    "Give up after this many seconds (504). /infer's `parameters.timeout` is Triton's, in microseconds."))]


def timeout_renamed(data: Any) -> Any:
    """A body still sending `timeout` is told its new name, not pydantic's "extra inputs are not permitted"."""
    if isinstance(data, dict) and "timeout" in data:
        raise ValueError("'timeout' is now 'timeout_s' (seconds); /infer's parameters.timeout is in microseconds")
    return data


class ScoredLabel(BaseModel):
    label: str
    probability: float


class Classification(BaseModel):
    """One item's answer from a classifier."""

    label: str = Field(description="The most probable label.")
    probability: float
    top_k: list[ScoredLabel] = Field(description="The k most probable labels, best first.")
    threshold: float | None = Field(
        None, description="Multi-label models, or when a threshold was sent: the cut-off applied.")
    labels: list[ScoredLabel] | None = Field(
        None, description="With `threshold`: every label at or above it, best first.")
    probabilities: dict[str, float] = Field(description="Every label's probability, in label order.")
    truncated: bool | None = Field(None, description="Text models: the text was cut to the model's max_length.")


class ImageOutput(BaseModel):
    """One item's answer from an image-output model (format json)."""

    output: str = Field(description="The output tensor's name.")
    values: list[Any] = Field(description="The output tensor of this item, as nested lists, in the upload's polarity.")
    inverted: bool = Field(
        description="The upload was inverted to the model's polarity (e.g. dark-on-white), and the answer back."
    )
    png_b64: str = Field(description="The output as a base64 PNG (value * 255).")


class PredictResponse(BaseModel):
    model_name: str
    model_version: str
    predictions: list[Classification] | list[ImageOutput] = Field(description="One per item, in order.")


class BertViz(BaseModel):
    """BertViz `head_view(attention, tokens)` arguments: one [1, heads, seq, seq] array per layer."""

    attention: list[list[list[list[list[float]]]]]
    tokens: list[str]


class AttentionResponse(BaseModel):
    model_name: str
    model_version: str
    text: str
    tokens: list[str] = Field(description="One per position, <unk> for unknown characters.")
    ids: list[int]
    truncated: bool
    max_length: int | None = Field(description="Tokens kept, as in prediction.")
    layers: list[int] = Field(description="The layers returned.")
    heads: list[int | Literal["mean"]] = Field(description='The heads returned, or ["mean"] when averaged.')
    shape: list[int] = Field(description="Of `attentions`: [layers, heads, seq, seq].")
    attentions: list[list[list[list[float]]]] = Field(description="attentions[layer][head][query][key].")
    rollout: list[list[float]] = Field(description="Attention rollout over all layers, [seq, seq].")
    prediction: Classification | None
    bertviz: BertViz | None = Field(None, description="With bertviz=true (the default).")


class Mode(str, Enum):
    one_hot = "one-hot"
    multi_hot = "multi-hot"


class EncodeResponse(BaseModel):
    mode: Mode
    format: Literal["dense", "sparse"]
    size: int = Field(description="The vocabulary size.")
    vectors: list[list[float]] | None = Field(None, description="format dense: one 0/1 vector per item.")
    indices: list[list[int]] | None = Field(None, description="format sparse: one ascending index list per item.")
    ignored: list[str] = Field(description="Unknown labels dropped (with unknown='ignore').")
    vocabulary: list[str] = Field(description="The vocabulary used, in order.")


class DecodeResponse(BaseModel):
    mode: Mode
    labels: list[list[str]] = Field(
        description="One list per item, in vocabulary order; one-hot: one label, or none for an all-zero vector.")
