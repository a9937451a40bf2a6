"""Stamp resizing, normalisation and NaN handling (numpy only); the sidecar's check of the bands of bin2_crop."""

from __future__ import annotations

import numpy as np
import pytest

from lensfinder.learning import preprocessing as pp
from lensfinder.learning.sidecar import check_settings
from lensfinder.io import InputError


@pytest.fixture
def stamps():
    return np.random.default_rng(1).normal(5.0, 2.0, size=(3, 101, 101)).astype(np.float32)


def test_bin2_crops_to_98_and_averages_2x2(stamps):
    out = pp.resize_stamps(stamps, 49, "bin2")
    assert out.shape == (3, 49, 49) and out.dtype == np.float32
    # the crop keeps pixels 1..98 (one dropped below, two above)
    np.testing.assert_allclose(out[:, 0, 0], stamps[:, 1:3, 1:3].mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(out[:, 48, 48], stamps[:, 97:99, 97:99].mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(out.sum(axis=(1, 2)) * 4, stamps[:, 1:99, 1:99].sum(axis=(1, 2)), rtol=1e-5)


def test_crop_is_central(stamps):
    out = pp.resize_stamps(stamps, 49, "crop")
    assert out.shape == (3, 49, 49)
    assert out[0, 24, 24] == stamps[0, 50, 50]  # centre stays the centre


def test_resize_identity_and_errors(stamps):
    assert pp.resize_stamps(stamps, 101, "bin2") is not None
    np.testing.assert_array_equal(pp.resize_stamps(stamps, 101, "crop"), stamps)
    with pytest.raises(ValueError, match="at least 98x98"):
        pp.resize_stamps(stamps[:, :97, :97], 49, "bin2")  # He et al.'s 97x97 stamps
    with pytest.raises(ValueError, match="smaller"):
        pp.resize_stamps(stamps, 120, "crop")
    with pytest.raises(ValueError, match="preprocess"):
        pp.resize_stamps(stamps, 49, "zoom")


def test_normalisations_are_per_image_and_flux_scale_invariant(stamps):
    scaled = stamps * np.array([1.0, 3.0, 0.1], dtype=np.float32)[:, None, None]
    for method in pp.NORMALIZATIONS:
        out = pp.normalize(scaled, method)
        assert out.dtype == np.float32 and out.shape == stamps.shape
        np.testing.assert_allclose(out, pp.normalize(stamps, method), atol=1e-4)
    mm = pp.normalize(scaled, "minmax")
    np.testing.assert_allclose(mm.min(axis=(1, 2)), 0)
    np.testing.assert_allclose(mm.max(axis=(1, 2)), 1)
    li = pp.normalize(scaled, "li2020")
    np.testing.assert_allclose(li.max(axis=(1, 2)), 255, rtol=1e-6)  # each image fills [0, 255]
    np.testing.assert_allclose(li, 255 * mm, rtol=1e-5, atol=1e-4)
    asinh = pp.normalize(stamps, "asinh")
    np.testing.assert_allclose(np.median(asinh, axis=(1, 2)), 0, atol=1e-6)


def test_sky_normalisation_is_in_units_of_the_border_noise():
    rng = np.random.default_rng(3)
    images = rng.normal(5.0, 2.0, (2, 50, 50)).astype(np.float32)
    images[:, 20:30, 20:30] += np.float32(1000.0)  # a bright core does not set the scale
    images[:, 24, 10] += np.float32(20.0)          # a 10-sigma pixel
    out = pp.normalize(images, "sky")
    np.testing.assert_allclose(out[:, 24, 10] * pp.SKY_CLIP[1], (images[:, 24, 10] - 5.0) / 2.0, atol=0.5)
    assert out.max() == 1.0 and out.min() >= pp.SKY_CLIP[0] / pp.SKY_CLIP[1]
    np.testing.assert_allclose(np.median(out[:, :5], axis=(1, 2)), 0, atol=0.02)


def test_constant_and_empty_images():
    flat = np.full((2, 10, 10), 7.0, dtype=np.float32)
    for method in pp.NORMALIZATIONS:
        out = pp.normalize(flat, method)
        assert np.isfinite(out).all() and (out == 0).all()
    assert pp.normalize(np.zeros((0, 10, 10)), "minmax").shape == (0, 10, 10)
    with pytest.raises(ValueError, match="normalization"):
        pp.normalize(flat, "zscale")


def test_fill_nonfinite_counts(stamps):
    bad = stamps.copy()
    bad[1, :10, :] = np.nan
    bad[2, 0, 0] = np.inf
    filled, fraction = pp.fill_nonfinite(bad)
    assert np.isfinite(filled).all() and filled[1, 0, 0] == 0
    np.testing.assert_allclose(fraction, [0, 10 / 101, 1 / 101**2])
    x = pp.preprocess(bad, {"input_shape": [49, 49, 1], "preprocess": "bin2", "normalization": "minmax"})
    assert x.shape == (3, 49, 49, 1) and np.isfinite(x).all()


def test_bin2_crop_gives_each_band_at_both_scales():
    """bin2_crop: the binned field's bands, then the centre's at full resolution, the centre normalised
    by the whole stamp's border (its own border would lie on the galaxy)."""
    rng = np.random.default_rng(4)
    cube = rng.normal(0.0, 1.0, (2, 3, 101, 101)).astype(np.float32) * np.float32([1, 2, 4])[:, None, None]
    cube[:, :, 30:71, 30:71] += np.float32(500.0)  # a galaxy wider than the crop's border
    settings = {"input_shape": [49, 49, 6], "bands": ["g", "r", "i"], "preprocess": "bin2_crop",
                "normalization": "sky", "model": "he2020", "stamp_size": 101}
    x, fraction = pp.prepare_batch(cube, settings)
    assert x.shape == (2, 49, 49, 6) and x.dtype == np.float32 and (fraction == 0).all()
    binned = pp.normalize(pp.resize_stamps(cube, 49, "bin2"), "sky")
    np.testing.assert_array_equal(x[..., :3], np.moveaxis(binned, 1, -1))
    np.testing.assert_array_equal(x[..., 3:], np.moveaxis(pp.normalize(cube, "sky")[..., 26:75, 26:75], 1, -1))
    assert (x[:, 24, 24, 3:] == 1.0).all()  # the galaxy is far above the whole stamp's sky
    np.testing.assert_array_equal(pp.preprocess(cube, settings), x)
    both = pp.resize_stamps(cube[:, 1], 49, "bin2_crop")
    assert both.shape == (2, 2, 49, 49) and both[0, 1, 24, 24] == cube[0, 1, 50, 50]
    assert pp.input_channels(3, "bin2_crop") == 6 and pp.input_channels(3, "bin2") == 3
    assert pp.resize_stamps(cube, 101, "bin2_crop").shape == (2, 6, 101, 101)  # ResNet-18 input: twice
    with pytest.raises(ValueError, match="at least 98x98"):
        pp.resize_stamps(cube[:, :, :97, :97], 49, "bin2_crop")
    bad = cube.copy()
    bad[1, 2, 0, :] = np.nan  # outside the crop, inside the stamp: counted and filled
    x_bad, fraction = pp.prepare_batch(bad, settings)
    assert np.isfinite(x_bad).all() and fraction[0] == 0 and fraction[1] == pytest.approx(101 / (3 * 101**2))
    check_settings(settings, "m.json")
    with pytest.raises(InputError, match=r"m.json: bands: .* expected 1 distinct band names .*bin2_crop"):
        check_settings({**settings, "input_shape": [49, 49, 3]}, "m.json")
