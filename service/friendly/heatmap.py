"""Labelled attention heatmaps as PNG bytes (matplotlib, Agg backend, no pyplot state).

A fresh Figure per call and no pyplot: rendering is safe in a worker thread,
so the API can run it off the event loop.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: no display, no GUI toolkit

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Characters outside the bundled font (CJK, Thai, ...) draw as boxes; that is not worth a warning per call.
warnings.filterwarnings("ignore", message=r"Glyph .* missing from", category=UserWarning)

DPI = 80
CELL_PIXELS = 22  # per token, so labels stay legible; bounded both ways


def display_token(token: str) -> str:
    """Make a token readable as a tick label: visible space, no mathtext, no control characters."""
    if token == " ":
        return "␣"
    token = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in token)
    return token.replace("$", r"\$")


def size_for(tokens: int) -> tuple[int, int]:
    """(width, height) in pixels of the PNG for `tokens` rows/columns (room for the colour bar)."""
    side = int(np.clip(128 + CELL_PIXELS * tokens, 280, 1280))
    return side + DPI, side


def render(matrix: np.ndarray, rows: Sequence[str], columns: Sequence[str], title: str = "",
           vmax: float | None = None) -> bytes:
    """[rows, columns] weights -> PNG: queries down the side, keys along the bottom, with a colour bar."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (len(rows), len(columns)):
        raise ValueError(f"matrix shape {matrix.shape} does not match {len(rows)} x {len(columns)} labels")
    n = max(len(rows), len(columns))
    width, height = size_for(n)
    fontsize = float(np.clip(11 - n / 10, 5, 10))
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="viridis", vmin=0.0, vmax=vmax if vmax is not None else max(matrix.max(), 1e-9),
                        interpolation="nearest", aspect="equal")
    axes.set_xticks(range(len(columns)), [display_token(t) for t in columns], fontsize=fontsize, rotation=90)
    axes.set_yticks(range(len(rows)), [display_token(t) for t in rows], fontsize=fontsize)
    axes.set_xlabel("key (attended to)", fontsize=fontsize + 1)
    axes.set_ylabel("query", fontsize=fontsize + 1)
    if title:
        axes.set_title(title.replace("$", r"\$"), fontsize=fontsize + 1)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
