from __future__ import annotations

import io
import time
import unicodedata

import numpy as np
import pytest
from PIL import Image

from service.friendly import heatmap

# One word per script the language-id model knows beyond Latin, Greek and Cyrillic.
SCRIPTS = {"Han": "月曜日", "Kana": "ひらがな", "Hangul": "월요일", "Arabic": "الاثنين", "Hebrew": "יום שני",
           "Devanagari": "सोमवार", "Thai": "วันจันทร์", "Greek": "Δευτέρα", "Cyrillic": "понедельник"}


def test_size_keeps_a_legible_cell_per_token():
    assert heatmap.size_for(6) == (6 * 48 + 160, 6 * 48 + 116)   # few tokens: large cells
    assert heatmap.size_for(20) == (20 * 32 + 160, 20 * 32 + 116)
    assert heatmap.size_for(64) == (64 * 16 + 160, 64 * 16 + 116)  # the model's max length: 16 px per label
    assert heatmap.cell_for(64) >= heatmap.LABEL_PIXELS + 2


@pytest.mark.parametrize("n", [3, 12, 64])
def test_png_decodes_with_the_expected_size(n):
    tokens = [f"t{i}" for i in range(n)]
    matrix = np.full((n, n), 1.0 / n)
    data = heatmap.render(matrix, tokens, tokens, "layer 0, head 0")
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == heatmap.size_for(n)
    assert len(data) < 200_000


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_script_has_a_font(script):
    missing = heatmap.missing_glyphs(SCRIPTS[script])
    assert missing == "", (f"no installed font draws {missing!r} ({script}); install Debian's fonts-noto-core "
                           "and fonts-wqy-microhei (scripts/install-dev.sh does)")


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_labels_are_drawn_glyphs_not_boxes(script):
    # A missing glyph draws the same box for every character; real glyphs differ from each other.
    first, second = [ch for ch in SCRIPTS[script] if unicodedata.category(ch).startswith("L")][:2]
    drawn = [np.asarray(heatmap._text_image(ch).getchannel("A")) for ch in (first, second)]
    assert all(d.max() > 128 for d in drawn)  # ink
    tofu = np.asarray(heatmap._text_image("\U000e0fff").getchannel("A"))  # no font has this private code point
    for glyph in drawn:
        assert glyph.shape != tofu.shape or not np.array_equal(glyph, tofu)
    assert not np.array_equal(*drawn) or drawn[0].shape != drawn[1].shape


def test_a_64_token_map_renders_in_under_0_3_s():
    text = "".join(SCRIPTS.values()) + " poniedziałek Montag 12345"
    tokens = list(text[:64])
    matrix = np.random.default_rng(0).random((64, 64))
    heatmap.render(matrix, tokens, tokens, "warm-up")  # fonts load once per process
    best = min(_timed(lambda: heatmap.render(matrix, tokens, tokens, "rollout")) for _ in range(3))
    assert best < 0.3


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_labels_sit_beside_their_rows():
    # A dark label column left of each row: the label of row i is drawn at row i's height.
    tokens = list("abcdefgh")
    image = np.asarray(Image.open(io.BytesIO(heatmap.render(np.eye(8), tokens, tokens))).convert("L"))
    cell, top, left = heatmap.cell_for(8), heatmap.MARGIN["top"], heatmap.MARGIN["left"]
    for i in range(8):
        band = image[top + i * cell + 2 : top + (i + 1) * cell - 2, left - 20 : left - 2]
        assert band.min() < 128, f"no label ink beside row {i}"


def test_awkward_tokens_render():
    tokens = ["<cls>", " ", "$", "\t", "ж", "中"]
    data = heatmap.render(np.eye(6), tokens, tokens, "costs $5")
    assert Image.open(io.BytesIO(data)).size == heatmap.size_for(6)


def test_display_token_shows_space_and_control_characters():
    assert heatmap.display_token(" ") == "␣"
    assert heatmap.display_token("$x$") == "$x$"
    assert heatmap.display_token("\n") == "\\x0a"


def test_shape_must_match_labels():
    with pytest.raises(ValueError, match=r"matrix shape \(2, 2\) does not match 3 x 3 labels"):
        heatmap.render(np.eye(2), ["a", "b", "c"], ["a", "b", "c"])
