"""The typed `preprocessing` and `postprocessing` blocks of a model's config.json.

One pydantic model per kind, chosen by the block's `type`, each with
`extra="forbid"`: a misspelled or unknown key fails when the config loads (the
model becomes UNAVAILABLE with the key named) instead of being silently
ignored. Human-readable remarks belong in `notes`, the one free-text field, so
documentation cannot hide a typo.

    preprocessing.type   "image" | "sequence" | "chars" (alias "text"); absent or {}: none
    postprocessing.type  "softmax" | "sigmoid" | "none" (classification, single or multi-label,
                         optionally with an attention output) | "image" (an image out)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Notes = Annotated[dict[str, str], Field(description="Free-text remarks for people; the server never reads them.")]


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    notes: Notes = {}


class ImagePreprocessing(_Block):
    """PNG/JPEG uploads or pixel arrays -> [C, H, W] (or [H, W, C]) float32, as in training."""

    type: Literal["image"]
    input: str | None = Field(None, description="The image input; default: the first 2-D or 3-D input.")
    height: int | None = Field(None, ge=1)
    width: int | None = Field(None, ge=1)
    channels: int | None = Field(None, ge=1)
    layout: Literal["CHW", "HWC"] = "CHW"
    scale: float = Field(1.0 / 255.0, gt=0, description="Multiplies 8-bit pixel values.")
    # True/False are accepted as "always"/"never"; "auto" inverts uploads whose background is not the trained one.
    invert: Literal["auto", "always", "never"] = "never"
    background: Literal["dark", "light"] = "dark"
    resize: Literal["area", "bilinear", "nearest", "bicubic"] = "area"
    value_range: tuple[float, float] | None = None
    mean: float | list[float] | None = None
    std: float | list[float] | None = None

    @model_validator(mode="before")
    @classmethod
    def _boolean_invert(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("invert"), bool):
            return {**data, "invert": "always" if data["invert"] else "never"}
        return data


class SequencePreprocessing(_Block):
    """Frames [T, channels] (plus a lengths input when the graph has one)."""

    type: Literal["sequence"]
    input: str | None = Field(None, description="The frames input; default: the first variable float input.")
    lengths_input: str | None = Field(None, description="Default: the first scalar integer input, if any.")
    channels: int | None = Field(None, ge=1)
    min_length: int = Field(1, ge=1)
    max_length: int | None = Field(None, ge=1)
    # Only when the service, not the graph, normalises.
    mean: list[float] | None = None
    std: list[float] | None = None

    @model_validator(mode="after")
    def _mean_with_std(self) -> SequencePreprocessing:
        if (self.mean is None) != (self.std is None):
            raise ValueError("mean and std go together: give both or neither")
        return self


class TextPreprocessing(_Block):
    """A string -> character ids (and a mask), exactly as the training tokenizer."""

    type: Literal["chars", "text"]
    vocab: list[str] = []
    pad_id: int = Field(0, ge=0)
    unk_id: int = Field(1, ge=0)
    cls_id: int = Field(2, ge=0)
    add_cls: bool = False
    max_length: int | None = Field(None, ge=1)
    lowercase: bool = False
    truncation: Literal["left", "right"] = "right"
    tokens_input: str | None = Field(None, description="Default: the first variable integer input.")
    mask_input: str | None = Field(None, description="Default: another variable input, if any.")


Preprocessing = Annotated[ImagePreprocessing | SequencePreprocessing | TextPreprocessing, Field(discriminator="type")]


class ClassificationPostprocessing(_Block):
    """Scores -> labels: top label, top-k, and (multi-label) every label over the threshold."""

    type: Literal["softmax", "sigmoid", "none"] = Field(
        "none", description="The activation the service applies; 'none' when the graph already did.")
    output: str | None = Field(None, description="Default: the output with one value per label.")
    applied_in_graph: Literal["softmax", "sigmoid", "none"] = "none"
    multi_label: bool | None = Field(None, description="Default: true when the activation is sigmoid.")
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    top_k: int = Field(5, ge=1)
    attention_output: str | None = Field(None, description="An output [layers, heads, seq, seq] of attentions.")


class ImagePostprocessing(_Block):
    """An image output -> PNG (or JSON values), scaled from value_range to 0..255."""

    type: Literal["image"]
    output: str | None = None
    value_range: tuple[float, float] = (0.0, 1.0)

    @model_validator(mode="after")
    def _increasing(self) -> ImagePostprocessing:
        low, high = self.value_range
        if not low < high:
            raise ValueError(f"value_range must be increasing, got {list(self.value_range)}")
        return self


Postprocessing = Annotated[ClassificationPostprocessing | ImagePostprocessing, Field(discriminator="type")]


def check_names(pre: BaseModel | None, post: BaseModel, inputs: list[str], outputs: list[str]) -> None:
    """The tensors a block names must be the model's own: a misspelled name would silently
    fall back to the detected default, so it fails at load instead (ValueError, as validators raise)."""
    for key in ("input", "lengths_input", "tokens_input", "mask_input"):
        name = getattr(pre, key, None)
        if name is not None and name not in inputs:
            raise ValueError(f"preprocessing.{key} {name!r} is not an input; expected one of {inputs}")
    for key in ("output", "attention_output"):
        name = getattr(post, key, None)
        if name is not None and name not in outputs:
            raise ValueError(f"postprocessing.{key} {name!r} is not an output; expected one of {outputs}")


def empty_as_none(value: Any) -> Any:
    """An absent or empty preprocessing block means the model takes no friendly input."""
    return None if value == {} else value


def default_classification(value: Any) -> Any:
    """A postprocessing block without `type` is plain classification ("none")."""
    if isinstance(value, dict) and "type" not in value:
        return {**value, "type": "none"}
    return value
