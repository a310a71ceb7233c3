"""Run records (models/results/<name>.json) and the markdown report built from them (models/RESULTS.md).

Each training command saves its own record, so per-model commands refresh
their section and `python -m models.train all` rewrites the whole report.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPORT = Path(__file__).resolve().parent / "RESULTS.md"


def save(name: str, record: dict, folder: Path | None = None) -> Path:
    folder = Path(folder or RESULTS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load(name: str, folder: Path | None = None) -> dict | None:
    path = Path(folder or RESULTS_DIR) / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
