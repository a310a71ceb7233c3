"""Labelled attention heatmaps as PNG bytes, drawn with Pillow.

matplotlib's tick machinery spent about 0.9 s on a 64-token map (two Tick objects and a
text layout per label, all drawn twice by tight_layout); Pillow draws the same picture
in a few milliseconds. matplotlib still supplies the colour map and DejaVu Sans.

Fonts: DejaVu Sans has Latin, Greek, Cyrillic, Arabic and Hebrew, but no CJK, Devanagari
or Thai, which drew as empty boxes. Debian's fonts-noto-core (Noto Sans Arabic, Hebrew,
Devanagari, Thai) and fonts-wqy-microhei (WenQuanYi Micro Hei: Chinese, Japanese kana,
Korean Hangul) fill the gaps: each character is drawn with the first font that has it.
scripts/serve.sh, scripts/install-dev.sh and the Docker image install them.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.ft2font import FT2Font
from PIL import Image, ImageDraw, ImageFont

CELL_PIXELS = 16    # per token: a 12-pixel label fits, up to the model's 64 tokens
LABEL_PIXELS = 12
MARGIN = {"left": 80, "right": 80, "top": 36, "bottom": 80}  # labels, title and colour bar
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
FALLBACK_FILES = (  # after DejaVu Sans, in this order
    "NotoSansArabic-Regular.ttf", "NotoSansHebrew-Regular.ttf", "NotoSansDevanagari-Regular.ttf",
    "NotoSansThai-Regular.ttf", "wqy-microhei.ttc",
)
BACKGROUND, INK = (255, 255, 255), (20, 20, 20)
# FreeType faces are not thread-safe, and renders run in worker threads: one at a time.
_LOCK = threading.Lock()


def font_files(dirs: Sequence[Path] = FONT_DIRS) -> list[Path]:
    """DejaVu Sans (shipped with matplotlib), then every installed fallback font."""
    found = [Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"]
    for name in FALLBACK_FILES:
        path = next((p for d in dirs if d.is_dir() for p in d.rglob(name)), None)
        if path is not None:
            found.append(path)
    return found


@lru_cache(maxsize=1)
def _fonts() -> list[tuple[ImageFont.FreeTypeFont, frozenset[int]]]:
    # Basic layout: labels are drawn one character at a time, so raqm's shaping has nothing to do.
    return [(ImageFont.truetype(str(path), LABEL_PIXELS, layout_engine=ImageFont.Layout.BASIC),
             frozenset(FT2Font(str(path)).get_charmap())) for path in font_files()]


def font_for(ch: str) -> ImageFont.FreeTypeFont:
    """The first font that has a glyph for `ch` (DejaVu Sans when none has: it draws a box)."""
    fonts = _fonts()
    return next((font for font, charmap in fonts if ord(ch) in charmap), fonts[0][0])


def missing_glyphs(text: str) -> str:
    """The characters of `text` that no installed font can draw."""
    return "".join(ch for ch in text if not ch.isspace() and all(ord(ch) not in cm for _, cm in _fonts()))


def display_token(token: str) -> str:
    """Make a token readable as a label: visible space, no control characters."""
    if token == " ":
        return "␣"
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in token)


def cell_for(tokens: int) -> int:
    """Pixels per token: a map about 640 px wide, never below CELL_PIXELS (the label height plus room)."""
    return int(np.clip(640 // max(tokens, 1), CELL_PIXELS, 3 * CELL_PIXELS))


def size_for(tokens: int) -> tuple[int, int]:
    """(width, height) in pixels of the PNG for `tokens` rows/columns."""
    side = max(tokens, 1) * cell_for(tokens)
    return side + MARGIN["left"] + MARGIN["right"], side + MARGIN["top"] + MARGIN["bottom"]


def _text_image(text: str) -> Image.Image:
    """`text` drawn character by character, each in the first font that has it (transparent background)."""
    pieces = [(ch, font_for(ch)) for ch in text] or [(" ", _fonts()[0][0])]
    width = max(1, round(sum(font.getlength(ch) for ch, font in pieces)))
    # Fonts differ in ascent (Devanagari's head line sits high): align every piece on one baseline.
    ascent = max(font.getmetrics()[0] for _, font in pieces)
    descent = max(font.getmetrics()[1] for _, font in pieces)
    image = Image.new("LA", (width, ascent + descent), (0, 0))
    draw, x = ImageDraw.Draw(image), 0.0
    for ch, font in pieces:
        draw.text((x, ascent), ch, font=font, fill=(INK[0], 255), anchor="ls")
        x += font.getlength(ch)
    return image


def _paste(canvas: Image.Image, text: str, anchor: tuple[float, float], align: str, rotate: bool = False) -> None:
    """Draw `text` with its right-middle ("right"), centre ("center") or top-centre ("top") at `anchor`."""
    label = _text_image(text)
    if rotate:
        label = label.rotate(90, expand=True)
    x, y = anchor
    w, h = label.size
    left = {"right": x - w, "center": x - w / 2, "top": x - w / 2}[align]
    top = {"right": y - h / 2, "center": y - h / 2, "top": y}[align]
    canvas.paste(Image.new("RGB", label.size, INK), (round(left), round(top)), label.getchannel("A"))


def render(matrix: np.ndarray, rows: Sequence[str], columns: Sequence[str], title: str = "",
           vmax: float | None = None) -> bytes:
    """[rows, columns] weights -> PNG: queries down the side, keys along the bottom, with a colour bar."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (len(rows), len(columns)):
        raise ValueError(f"matrix shape {matrix.shape} does not match {len(rows)} x {len(columns)} labels")
    with _LOCK:
        return _render(matrix, rows, columns, title, vmax)


def _render(matrix: np.ndarray, rows: Sequence[str], columns: Sequence[str], title: str,
            vmax: float | None) -> bytes:
    width, height = size_for(max(len(rows), len(columns)))
    top = vmax if vmax is not None else max(float(matrix.max(initial=0.0)), 1e-9)
    colours = matplotlib.colormaps["viridis"]
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    n = max(len(rows), len(columns), 1)
    x0, y0, cell = MARGIN["left"], MARGIN["top"], cell_for(n)
    if matrix.size:
        cells = (colours(np.clip(matrix / top, 0.0, 1.0))[..., :3] * 255).round().astype(np.uint8)
        heat = Image.fromarray(cells, "RGB").resize((len(columns) * cell, len(rows) * cell), Image.Resampling.NEAREST)
        canvas.paste(heat, (x0, y0))
    rotate = max((len(t) for t in columns), default=0) > 2  # one-character tokens stay upright
    for i, token in enumerate(rows):
        _paste(canvas, display_token(token), (x0 - 4, y0 + (i + 0.5) * cell), "right")
    for j, token in enumerate(columns):
        _paste(canvas, display_token(token), (x0 + (j + 0.5) * cell, y0 + len(rows) * cell + 3), "top", rotate)
    bottom, middle = y0 + n * cell, x0 + n * cell / 2
    _paste(canvas, "key (attended to)", (middle, bottom + MARGIN["bottom"] - 24), "top")
    _paste(canvas, "query", (18, y0 + n * cell / 2), "center", rotate=True)
    if title:
        _paste(canvas, title, (middle, 10), "top")
    # Colour bar: top value at the top, 0 at the bottom, three labels.
    bar_x, bar_h = width - MARGIN["right"] + 16, bottom - y0
    ramp = (colours(np.linspace(1.0, 0.0, bar_h))[:, :3] * 255).round().astype(np.uint8)
    canvas.paste(Image.fromarray(np.repeat(ramp[:, None], 14, axis=1), "RGB"), (bar_x, y0))
    for fraction in (0.0, 0.5, 1.0):
        _paste(canvas, f"{top * fraction:.2g}", (bar_x + 38, y0 + (1 - fraction) * (bar_h - 1)), "center")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
