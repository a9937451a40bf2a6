"""Stamp images for inspection (lensfinder.plots.stamps)."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np

from lensfinder.plots.stamps import render_stamp_png, stamp_rgb, write_mosaic


def test_render_stamp_png_north_up_and_upscaled(tmp_path):
    image = np.zeros((9, 9))
    image[0, 4] = 100.0  # row 0 is the south edge
    image[5, 5] = np.nan
    path = render_stamp_png(tmp_path / "png" / "s.png", image)
    img = mpimg.imread(path)
    assert img.shape[:2] == (18, 18)
    assert img[-1, 8, 0] > img[0, 8, 0]  # drawn at the bottom of the PNG
    assert not list(tmp_path.rglob("*.part"))


def test_stamp_rgb_colours():
    g, r, i = (np.full((5, 5), v) for v in (1.0, 2.0, 4.0))
    rgb = stamp_rgb(g, r, i)
    assert rgb.shape == (5, 5, 3) and rgb.dtype == np.uint8
    assert rgb[2, 2, 0] >= rgb[2, 2, 1] >= rgb[2, 2, 2]  # i -> red, g -> blue


def test_write_mosaic_arrays_paths_and_empty(tmp_path):
    png = render_stamp_png(tmp_path / "a.png", np.random.default_rng(0).normal(size=(7, 7)), upscale=1)
    write_mosaic([png, np.ones((7, 7))], ["a", "b"], tmp_path / "mosaic.png", title="two")
    write_mosaic([], [], tmp_path / "empty.png")
    for name in ("mosaic.png", "empty.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
