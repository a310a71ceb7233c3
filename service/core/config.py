"""The model configuration declared next to each model (`<repo>/<name>/config.json`).

It follows Triton's vocabulary (max_batch_size, dynamic_batching, dims without
the batch axis, -1 for variable) so users can read it without our docs.
Variable-length inputs name their axes: every input axis with the same name is
padded to the longest in a batch and outputs with that axis name are cut back.
"""

from __future__ import annotations

import json
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from .config_blocks import (
    ClassificationPostprocessing,
    Postprocessing,
    Preprocessing,
    check_names,
    default_classification,
    empty_as_none,
)
from .datatypes import DATATYPES
from .errors import ConfigError

CONFIG_FILENAME = "config.json"


class TensorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    datatype: str
    dims: list[int]
    axis_names: list[str | None] | None = None
    pad_value: float = 0.0
    # Per-tensor override of the model's NaN/Inf policy (inputs only).
    allow_nonfinite: bool | None = None
    # Value constraints (inputs only), checked before a request is queued so a
    # batch never meets a value the graph cannot take (see constraints.py):
    # every value within [low, high] (an id range is [0, vocab_size - 1]) ...
    value_range: tuple[float, float] | None = None
    # ... every value one of these (a 0/1 mask is [0, 1]) ...
    allowed_values: list[float] | None = None
    # ... every value a valid length of this named axis: 1 <= value <= its length.
    length_of: str | None = None
    description: str = ""

    @field_validator("datatype")
    @classmethod
    def _known_datatype(cls, value: str) -> str:
        if value not in DATATYPES:
            raise ValueError(f"datatype must be one of {list(DATATYPES)}, got {value!r}")
        return value

    @field_validator("dims")
    @classmethod
    def _valid_dims(cls, dims: list[int]) -> list[int]:
        bad = [d for d in dims if d < -1 or d == 0]
        if bad:
            raise ValueError(f"dims must be positive or -1 (variable), got {dims}")
        return dims

    @model_validator(mode="after")
    def _axis_names_match_dims(self) -> TensorSpec:
        if self.axis_names is None:
            return self
        if len(self.axis_names) != len(self.dims):
            raise ValueError(
                f"axis_names has {len(self.axis_names)} entries but dims has {len(self.dims)}"
            )
        for dim, axis in zip(self.dims, self.axis_names):
            if axis is not None and dim != -1:
                raise ValueError(f"axis {axis!r} is named but its dim is {dim}, not -1")
        return self

    @model_validator(mode="after")
    def _constraints_fit(self) -> TensorSpec:
        constrained = self.value_range or self.allowed_values or self.length_of
        if constrained and self.datatype == "BYTES":
            raise ValueError("value constraints apply to numeric tensors, not BYTES")
        if self.value_range is not None and self.value_range[0] > self.value_range[1]:
            raise ValueError(f"value_range low must not exceed high, got {list(self.value_range)}")
        if self.allowed_values is not None and not self.allowed_values:
            raise ValueError("allowed_values must not be empty")
        return self

    @property
    def wire_dims(self) -> list[int]:
        """The dims clients are told, as Triton tells them: one number per item (dims []) is
        `dims: [1]` with `reshape: {shape: []}`, and a trailing axis of 1 is accepted for it."""
        return self.dims or [1]

    def axis_name(self, index: int) -> str | None:
        return None if self.axis_names is None else self.axis_names[index]

    @property
    def variable(self) -> bool:
        return -1 in self.dims


class DynamicBatching(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Only used while the runtime is busy: an idle model dispatches at once.
    max_queue_delay_microseconds: int = Field(500, ge=0)
    max_queue_size: int = Field(1024, gt=0)
    # Concurrent executions of this model (Triton's instance_group count).
    instance_count: int = Field(1, ge=1, le=16)
    # Upper bounds on the longest named (padded) axis, ascending: requests share a batch
    # only within one bucket, so a short text does not pay for a long one's padding.
    # Lengths past the last bound form one more bucket. Empty: one bucket for all.
    length_buckets: list[Annotated[int, Field(gt=0)]] = []

    @field_validator("length_buckets")
    @classmethod
    def _ascending(cls, value: list[int]) -> list[int]:
        if any(b <= a for a, b in pairwise(value)):
            raise ValueError(f"must be strictly ascending, got {value}")
        return value


class Warmup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_sizes: list[int] = [1]
    sequence_length: int = Field(8, ge=1)


class VersionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    all: dict[str, Any] | None = None
    latest: int | None = Field(None, ge=1)
    specific: list[int] | None = None

    def select(self, available: list[int]) -> list[int]:
        ordered = sorted(available)
        if self.specific is not None:
            return [v for v in ordered if v in self.specific]
        if self.latest is not None:
            return ordered[-self.latest :]
        return ordered


class ResponseCache(BaseModel):
    """Triton's `response_cache` block: answers to repeated requests come from the server's cache."""

    model_config = ConfigDict(extra="forbid")

    enable: bool = False


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    platform: str = "onnx_onnxv1"
    description: str = ""
    max_batch_size: int = Field(0, ge=0)
    dynamic_batching: DynamicBatching = DynamicBatching()
    input: list[TensorSpec] = Field(min_length=1)
    output: list[TensorSpec] = Field(min_length=1)
    warmup: Warmup = Warmup()
    version_policy: VersionPolicy = VersionPolicy()
    allow_nonfinite: bool = False
    # Float inputs on the tensor API (/infer, gRPC): "triton" takes any value as Triton does
    # (NaN, Inf, outside value_range; counted in ortserve_out_of_range_inputs), "strict" checks
    # them as the friendly endpoints always do. Integer constraints are checked on every path.
    tensor_api_checks: Literal["triton", "strict"] = "triton"
    labels: list[str] = []
    # Typed per kind (service/core/config_blocks.py): an unknown key fails at load, naming it.
    preprocessing: Annotated[Preprocessing | None, BeforeValidator(empty_as_none)] = None
    postprocessing: Annotated[Postprocessing, BeforeValidator(default_classification)] = (
        ClassificationPostprocessing())
    provenance: dict[str, Any] = {}
    # Cache this model's answers (core/cache.py; the size limit is the server's response_cache_bytes).
    response_cache: ResponseCache = ResponseCache()
    # False marks a model whose answer to one input may change (sampling or state in the graph):
    # it refuses response_cache.enable, since a cached answer would freeze one of them.
    deterministic: bool = True

    @field_validator("platform")
    @classmethod
    def _onnx_only(cls, value: str) -> str:
        if value != "onnx_onnxv1":
            raise ValueError(f"platform must be 'onnx_onnxv1', got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        for kind, specs in (("input", self.input), ("output", self.output)):
            names = [s.name for s in specs]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} names: {dupes}")
        input_axes = {a for s in self.input for a in (s.axis_names or []) if a}
        for spec in self.output:
            unknown = {a for a in (spec.axis_names or []) if a} - input_axes
            if unknown:
                raise ValueError(
                    f"output {spec.name!r} names axes {sorted(unknown)} that no input declares"
                )
        for spec in self.input:
            if spec.length_of is not None and spec.length_of not in input_axes:
                raise ValueError(
                    f"input {spec.name!r}: length_of names axis {spec.length_of!r}, "
                    f"but the inputs declare only {sorted(input_axes)}"
                )
        check_names(self.preprocessing, self.postprocessing, [s.name for s in self.input],
                    [s.name for s in self.output])
        if self.response_cache.enable and not self.deterministic:
            raise ValueError(
                "response_cache.enable is true but the model is marked non-deterministic (deterministic: false): "
                "the same input may get another answer, so a cached one would be wrong; remove one of the two")
        too_big = [b for b in self.warmup.batch_sizes if self.max_batch_size and b > self.max_batch_size]
        if too_big:
            raise ValueError(f"warmup batch sizes {too_big} exceed max_batch_size {self.max_batch_size}")
        return self

    def input_spec(self, name: str) -> TensorSpec | None:
        return next((s for s in self.input if s.name == name), None)

    def output_spec(self, name: str) -> TensorSpec | None:
        return next((s for s in self.output if s.name == name), None)

    @property
    def batched(self) -> bool:
        return self.max_batch_size > 0

    # Built once per loaded config: every request reads them.
    @cached_property
    def input_names(self) -> list[str]:
        return [s.name for s in self.input]

    @cached_property
    def output_datatypes(self) -> dict[str, str]:
        return {s.name: s.datatype for s in self.output}


def _problem(err: ErrorDetails) -> str:
    # pydantic's "Extra inputs are not permitted" hides that the key is simply unknown (often misspelled).
    return "unknown key" if err["type"] == "extra_forbidden" else err["msg"]


def load_model_config(model_dir: Path) -> ModelConfig:
    """Read and validate `<model_dir>/config.json`; raise ConfigError naming the problem."""
    path = Path(model_dir) / CONFIG_FILENAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"model {model_dir.name!r}: missing {CONFIG_FILENAME}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"model {model_dir.name!r}: unreadable {CONFIG_FILENAME}: {exc}") from None
    try:
        config = ModelConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {_problem(err)}" for err in exc.errors()
        )
        raise ConfigError(f"model {model_dir.name!r}: invalid {CONFIG_FILENAME}: {problems}") from None
    if config.name != model_dir.name:
        raise ConfigError(
            f"model {model_dir.name!r}: config name must equal the folder name "
            f"{model_dir.name!r}, got {config.name!r}"
        )
    return config
