"""One-hot and multi-hot encoding: POST /v2/encoding/{one-hot|multi-hot}/{encode|decode}.

The vocabulary is a model's label list ({"model": "langid_transformer"}) or the
caller's ({"vocabulary": [...]}). Nesting says single item or batch on the way
in; answers are always batches (`vectors`/`indices`, `labels`: one per item):

- one-hot encode:   "labels": "ru" (one item) or ["ru", "bg"] (a batch, one label each)
- multi-hot encode: "labels": ["ru", "bg"] (one item) or [["ru", "bg"], ["en"]] (a batch)
- decode:           "vectors": [...] or [[...], ...] (dense), or "indices": [...] or [[...], ...] (sparse)
"""

from __future__ import annotations

from typing import Any, Literal, Self, cast

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..core.errors import PayloadTooLarge, Unprocessable
from ..core.repository import ModelRepository
from ..core.settings import Settings
from ..friendly import onehot
from .deps import ApiKey, AppSettings, Repo
from .schemas import DecodeResponse, EncodeResponse, Mode

router = APIRouter(tags=["encoding"], dependencies=[ApiKey])


class VocabularySource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="Use this model's label list as the vocabulary.")
    version: str | None = Field(None, description="The model version (default: the latest ready).")
    vocabulary: list[str] | None = Field(None, description="Or give the ordered vocabulary here.")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.model is None) == (self.vocabulary is None):
            raise ValueError("send exactly one of 'model' (use its labels) or 'vocabulary' (a list of labels)")
        return self


class EncodeRequest(VocabularySource):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"model": "langid_transformer", "labels": [["bg", "ru"], ["en"]], "format": "dense"},
        {"vocabulary": ["cat", "dog", "bird"], "labels": ["dog", "bird"], "format": "sparse"},
    ]})

    labels: str | list[str] | list[list[str]] = Field(description=(
        "one-hot: a label, or a list of labels (one per item); "
        "multi-hot: a list of labels (one item), or a list of such lists (a batch)."))
    format: Literal["dense", "sparse"] = Field("dense", description="dense 0/1 vectors, or sparse index lists")
    unknown: Literal["error", "ignore"] = Field("error", description="unknown labels: 422, or drop them")


class DecodeRequest(VocabularySource):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"model": "langid_transformer", "vectors": [[0.9, 0.1, 0.7]], "threshold": 0.5},
        {"vocabulary": ["cat", "dog", "bird"], "indices": [1, 2]},
    ]})

    vectors: list[float] | list[list[float]] | None = Field(None, description="dense: one vector or a batch")
    indices: list[int] | list[list[int]] | None = Field(None, description="sparse: one index list or a batch")
    threshold: float = Field(0.5, description="multi-hot: values at or above it decode to their label")

    @model_validator(mode="after")
    def _one_input(self) -> Self:
        if (self.vectors is None) == (self.indices is None):
            raise ValueError("send exactly one of 'vectors' (dense) or 'indices' (sparse)")
        return self


def _vocabulary(body: VocabularySource, repo: ModelRepository) -> onehot.Vocabulary:
    if body.vocabulary is not None:
        return onehot.Vocabulary(body.vocabulary, "request's vocabulary")
    assert body.model is not None  # the validator demands exactly one source
    config = repo.get(body.model, body.version).config
    if not config.labels:
        raise Unprocessable(f"model {body.model!r} declares no labels; send a 'vocabulary' instead")
    return onehot.Vocabulary(config.labels, f"labels of model {body.model!r}")


def _check_size(items: int, size: int, settings: Settings) -> None:
    if items > settings.max_items_per_request:
        raise PayloadTooLarge(f"{items} items exceed the limit of {settings.max_items_per_request}")
    if items * size > settings.max_tensor_elements:
        raise PayloadTooLarge(
            f"{items} items x {size} labels = {items * size} values exceed the limit of {settings.max_tensor_elements}"
        )


@router.post("/v2/encoding/{mode}/encode", summary="Labels -> one-hot or multi-hot vectors")
async def encode(mode: Mode, body: EncodeRequest, repo: Repo, settings: AppSettings) -> EncodeResponse:
    """One vector (or index list) per item, always as a batch, whatever the nesting of `labels`."""
    vocab = _vocabulary(body, repo)
    multi = mode is Mode.multi_hot
    labels = body.labels
    items: list[list[str]]
    if multi:
        if isinstance(labels, str):
            raise Unprocessable("labels: multi-hot takes a list of labels per item, received a string")
        single = not labels or isinstance(labels[0], str)
        items = [cast(list[str], labels)] if single else cast(list[list[str]], labels)
    else:
        if labels and not isinstance(labels, str) and not isinstance(labels[0], str):
            raise Unprocessable("labels: one-hot takes one label per item (a string or a list of strings)")
        items = [[labels]] if isinstance(labels, str) else [[label] for label in cast(list[str], labels)]
    _check_size(len(items), len(vocab), settings)
    encoded = onehot.encode(vocab, items, multi=multi, unknown=body.unknown)
    dense = body.format == "dense"
    return EncodeResponse(
        mode=mode, format=body.format, size=len(vocab),
        vectors=encoded.dense(len(vocab)).tolist() if dense else None,
        indices=None if dense else encoded.indices,
        ignored=encoded.ignored, vocabulary=vocab.labels,
    )


@router.post("/v2/encoding/{mode}/decode", summary="One-hot or multi-hot vectors -> labels")
async def decode(mode: Mode, body: DecodeRequest, repo: Repo, settings: AppSettings) -> DecodeResponse:
    """One label list per item, always as a batch; an all-zero one-hot vector decodes to []."""
    vocab = _vocabulary(body, repo)
    multi = mode is Mode.multi_hot
    data = body.vectors if body.vectors is not None else body.indices
    assert data is not None  # the validator demands exactly one of them
    single = not data or not isinstance(data[0], list)
    rows: list[Any] = [data] if single else list(data)
    _check_size(len(rows), len(vocab), settings)
    if body.vectors is not None:
        labels = onehot.decode_dense(vocab, cast(list[list[float]], rows), multi=multi, threshold=body.threshold)
    else:
        labels = onehot.decode_sparse(vocab, cast(list[list[int]], rows), multi=multi)
    return DecodeResponse(mode=mode, labels=labels)
