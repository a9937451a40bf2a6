"""Stamp images for inspection (lensfinder.plots.stamps)."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np

from lensfinder.plots.stamps import (
    composite_bands,
    render_band_png,
    render_stamp_png,
    stamp_composite,
    stamp_rgb,
    write_mosaic,
)


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


def test_composite_channels_follow_the_bands():
    assert composite_bands(["g", "r", "i"]) == (("i",), ("r",), ("g",))
    assert composite_bands(["u", "g", "r", "i", "z"]) == (("i",), ("r",), ("g",))
    assert composite_bands(["g", "r", "z"]) == (("z",), ("r",), ("g",))
    assert composite_bands(["H", "VIS", "J", "Y"]) == (("H",), ("J",), ("VIS",))
    assert composite_bands(["r", "g"]) == (("r",), ("g", "r"), ("g",))
    assert composite_bands(["VIS"]) == (("VIS",), ("VIS",), ("VIS",))


def test_stamp_composite_is_the_lupton_rgb_of_i_r_g_on_one_flux_scale():
    rng = np.random.default_rng(0)
    stamp = rng.uniform(0, 10, (3, 6, 6))
    np.testing.assert_array_equal(stamp_composite(stamp, ["g", "r", "i"]), stamp_rgb(*stamp))
    # g, r, z in the cube's order i, r, g slots: z -> red
    np.testing.assert_array_equal(stamp_composite(stamp[[2, 1, 0]], ["z", "r", "g"]), stamp_rgb(*stamp))
    # a zero point 2.5 mag fainter: the same sky in 10x the counts
    scaled = stamp * np.array([10.0, 1.0, 1.0])[:, None, None]
    np.testing.assert_array_equal(stamp_composite(scaled, ["g", "r", "i"], zeropoints=[32.5, 30.0, 30.0]),
                                  stamp_rgb(*stamp))


def test_render_band_png_grey_for_one_band_colour_for_three(tmp_path):
    rng = np.random.default_rng(1)
    one = render_band_png(tmp_path / "one.png", rng.normal(size=(1, 9, 9)), ["r"])
    plain = render_stamp_png(tmp_path / "plain.png", np.random.default_rng(1).normal(size=(9, 9)))
    assert one.read_bytes() == plain.read_bytes()
    stamp = np.zeros((3, 9, 9))
    stamp[2, 4, 4] = 100.0  # an i-band source only
    img = mpimg.imread(render_band_png(tmp_path / "gri.png", stamp, ["g", "r", "i"], upscale=1))
    assert img[4, 4, 0] > 0 and img[4, 4, 1] == img[4, 4, 2] == 0  # red, in the centre (north up)


def test_write_mosaic_arrays_paths_and_empty(tmp_path):
    png = render_stamp_png(tmp_path / "a.png", np.random.default_rng(0).normal(size=(7, 7)), upscale=1)
    rgb = stamp_composite(np.random.default_rng(1).uniform(size=(3, 7, 7)), ["g", "r", "i"])
    write_mosaic([png, np.ones((7, 7)), rgb], ["a", "b", "c"], tmp_path / "mosaic.png", title="three")
    write_mosaic([], [], tmp_path / "empty.png")
    for name in ("mosaic.png", "empty.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mosaic_title_clears_the_stamp_labels(tmp_path, monkeypatch):
    import lensfinder.plots.stamps as stamps
    from lensfinder.plots.style import save_figure

    kept = []
    monkeypatch.setattr(stamps, "save_figure", lambda fig, path, **kw: kept.append(fig) or save_figure(fig, path, **kw))
    for n in (3, 100):  # 100: the inspection mosaic of a default run
        write_mosaic([np.ones((7, 7))] * n, [f"obj-{k:04d}" for k in range(n)], tmp_path / "m.png",
                     title=f"{n} objects to inspect")
    for fig in kept:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)  # the saved figure is closed: draw it again
        canvas.draw()
        renderer = canvas.get_renderer()
        title = fig._suptitle.get_window_extent(renderer)
        labels = [text for ax in fig.axes for text in ax.texts]
        assert [text.get_text() for text in labels] == [f"obj-{k:04d}" for k in range(len(labels))]
        boxes = [text.get_window_extent(renderer) for text in labels]
        assert title.y0 > max(box.y1 for box in boxes)
        assert title.y1 <= fig.bbox.y1
        # each label sits above its own stamp, clear of the stamp and of the next row's label
        images = [image.get_window_extent(renderer) for ax in fig.axes for image in ax.images]
        assert len(images) == len(labels)
        for box, image in zip(boxes, images):
            assert image.y1 < box.y0 and image.x0 < (box.x0 + box.x1) / 2 < image.x1
        assert min(box.y0 for box in boxes) > 0 and max(box.x1 for box in boxes) <= fig.bbox.x1 + 1
