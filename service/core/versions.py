"""What the repository holds: each model's entry, its loaded versions, and their states."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from .batching import Batcher
from .config import ModelConfig
from .runtime import OrtRuntime


class State(str, Enum):
    LOADING = "LOADING"
    READY = "READY"
    UNAVAILABLE = "UNAVAILABLE"
    UNLOADED = "UNLOADED"


@dataclass
class ModelVersion:
    name: str
    version: int
    config: ModelConfig
    state: State = State.LOADING
    reason: str = ""
    runtime: OrtRuntime | None = None
    batcher: Batcher | None = None
    executor: ThreadPoolExecutor | None = None

    @property
    def label(self) -> str:
        """The version as answers and metrics spell it."""
        return str(self.version)

    @property
    def provider(self) -> str | None:
        return self.runtime.provider if self.runtime else None


@dataclass
class ModelEntry:
    name: str
    config: ModelConfig | None = None
    versions: dict[int, ModelVersion] = field(default_factory=dict)
    state: State = State.LOADING
    reason: str = ""

    def latest_ready(self) -> ModelVersion | None:
        ready = [v for v in self.versions.values() if v.state is State.READY]
        return max(ready, key=lambda v: v.version) if ready else None


def is_version(name: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²', which int() refuses."""
    return name.isascii() and name.isdigit()


def version_dirs(model_dir: Path) -> list[int]:
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and is_version(p.name) and int(p.name) > 0)
