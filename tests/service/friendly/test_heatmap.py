from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from service.friendly import heatmap


def test_size_grows_with_the_tokens_within_bounds():
    assert heatmap.size_for(3) == (360, 280)
    assert heatmap.size_for(20) == (648, 568)
    assert heatmap.size_for(500) == (1360, 1280)


@pytest.mark.parametrize("n", [3, 12, 64])
def test_png_decodes_with_the_expected_size(n):
    tokens = [f"t{i}" for i in range(n)]
    matrix = np.full((n, n), 1.0 / n)
    data = heatmap.render(matrix, tokens, tokens, "layer 0, head 0")
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == heatmap.size_for(n)
    assert len(data) < 200_000


@pytest.mark.filterwarnings("ignore:Glyph")
def test_awkward_tokens_render():
    tokens = ["<cls>", " ", "$", "\t", "ж", "中"]
    data = heatmap.render(np.eye(6), tokens, tokens, "costs $5")
    assert Image.open(io.BytesIO(data)).size == heatmap.size_for(6)


def test_display_token_shows_space_and_escapes_mathtext():
    assert heatmap.display_token(" ") == "␣"
    assert heatmap.display_token("$x$") == r"\$x\$"
    assert heatmap.display_token("\n") == "\\x0a"


def test_shape_must_match_labels():
    with pytest.raises(ValueError, match=r"matrix shape \(2, 2\) does not match 3 x 3 labels"):
        heatmap.render(np.eye(2), ["a", "b", "c"], ["a", "b", "c"])
