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


def test_colour_residual_cancels_the_central_galaxy_and_keeps_a_blue_arc():
    """g - k r with k fitted in the core: a galaxy of one colour (and one PSF) cancels, wherever it is bright;
    an arc bluer than it stays at its own g flux minus k times its r flux."""
    yy, xx = np.mgrid[:101, :101] - 50.0
    galaxy = 400.0 * np.exp(-(xx**2 + yy**2) / (2 * 6.0**2))
    arc = 20.0 * np.exp(-((np.hypot(xx, yy) - 12.0) ** 2) / 2.0)
    cube = np.zeros((2, 3, 101, 101), np.float32)
    cube[:, 0] = 0.3 * galaxy  # g: the galaxy is red (g/r = 0.3) ...
    cube[:, 1] = galaxy
    cube[:, 2] = 1.5 * galaxy
    cube[1, 0] += arc  # ... the arc blue (g/r = 4)
    cube[1, 1] += arc / 4
    residual = pp.colour_residual_band(cube, ["g", "r", "i"], ("g", "r"))
    assert residual.shape == (2, 101, 101) and residual.dtype == np.float32
    np.testing.assert_allclose(residual[0], 0.0, atol=1e-3)  # k = 0.3 exactly: nothing left
    ring = np.abs(np.hypot(xx, yy) - 12.0) < 0.5
    np.testing.assert_allclose(residual[1][ring], (arc - 0.3 * arc / 4)[ring], rtol=0.02)  # the core has no arc
    np.testing.assert_allclose(pp.colour_residual_band(cube, ["g", "r", "i"], ("g", "i"))[0], 0.0, atol=1e-3)
    flipped = cube.copy()
    flipped[:, 0] *= -1  # k would be -0.3: clipped to 0, the g band as it is
    np.testing.assert_array_equal(pp.colour_residual_band(flipped, ["g", "r", "i"], ("g", "r"), "scale"),
                                  flipped[:, 0])
    matched = pp.colour_residual_band(flipped, ["g", "r", "i"], ("g", "r"))  # no r in it: g, perhaps blurred
    np.testing.assert_allclose(matched.sum(axis=(1, 2)), flipped[:, 0].sum(axis=(1, 2)), rtol=1e-4)


def test_colour_residual_settings_and_channels():
    assert pp.resolve_colour_residual("auto", ["g", "r", "i"]) == ("g", "r")
    assert pp.resolve_colour_residual("auto", ["r"]) == () and pp.resolve_colour_residual("none", ["g", "r"]) == ()
    assert pp.resolve_colour_residual("g-i", ["g", "r", "i"]) == ("g", "i")
    for bad in ("g-z", "g-g", "g-r-i", "gr"):
        with pytest.raises(ValueError, match=rf"training.colour_residual: '{bad}': expected auto, none or BLUE-RED"):
            pp.resolve_colour_residual(bad, ["g", "r", "i"], "training.colour_residual")
    assert pp.input_channels(3, "bin2_crop", ("g", "r")) == 8 and pp.input_channels(3, "bin2", ("g", "r")) == 4
    rng = np.random.default_rng(5)
    cube = rng.normal(0.0, 1.0, (3, 3, 101, 101)).astype(np.float32)
    cube[:, :, 45:56, 45:56] += np.float32([[[100.0]], [[300.0]], [[400.0]]])  # a red galaxy
    cube[2, 0, 40:43, 50] = np.nan
    settings = {"input_shape": [49, 49, 8], "bands": ["g", "r", "i"], "preprocess": "bin2_crop",
                "normalization": "sky", "model": "he2020", "stamp_size": 101, "colour_residual": ["g", "r"],
                "colour_residual_match": "psf"}
    check_settings(settings, "m.json")
    x, fraction = pp.prepare_batch(cube, settings)
    plain, plain_fraction = pp.prepare_batch(cube, {**settings, "input_shape": [49, 49, 6], "colour_residual": []})
    assert x.shape == (3, 49, 49, 8) and np.isfinite(x).all()
    np.testing.assert_array_equal(fraction, plain_fraction)  # the non-finite fraction counts the stamp's bands
    # the bands as before, the residual after them in each scale
    np.testing.assert_array_equal(x[..., [0, 1, 2, 4, 5, 6]], plain)
    filled, _ = pp.fill_nonfinite(cube)
    residual = pp.colour_residual_band(filled, ["g", "r", "i"], ("g", "r"))
    np.testing.assert_array_equal(x[..., 3], pp.normalize(pp.resize_stamps(residual, 49, "bin2"), "sky"))
    assert np.abs(x[:, 22:27, 22:27, 7]).max() < 0.2 < x[:, 22:27, 22:27, 5].min()  # the galaxy cancels
    np.testing.assert_array_equal(pp.prepare_batch(cube, settings, sky=pp.sky_statistics(cube, settings))[0], x)
    np.testing.assert_array_equal(pp.preprocess(cube, settings), x)
    # a sidecar written before the PSF match does not name one: its networks read the scaled residual
    old = {k: v for k, v in settings.items() if k != "colour_residual_match"}
    scaled = pp.colour_residual_band(filled, ["g", "r", "i"], ("g", "r"), "scale")
    np.testing.assert_array_equal(pp.prepare_batch(cube, old)[0][..., 3],
                                  pp.normalize(pp.resize_stamps(scaled, 49, "bin2"), "sky"))
    for bad, match in (({"input_shape": [49, 49, 6]}, "expected 2 distinct band names .*colour residual g-r"),
                       ({"colour_residual_match": "psf2"}, r"colour_residual_match: 'psf2', expected one of"),
                       ({"colour_residual": ["g", "z"]}, r"colour_residual: \['g', 'z'\], expected \[\] or two"),
                       ({"colour_residual": ["g"]}, "colour_residual")):
        with pytest.raises(InputError, match=match):
            check_settings({**settings, **bad}, "m.json")



def test_prepare_and_measure_gives_what_prepare_batch_and_sky_statistics_give():
    """A training's first read of an image prepares it and measures its sky in one pass (the colour
    residual computed once): the same input, non-finite fraction and statistics as the two functions."""
    rng = np.random.default_rng(11)
    cube = rng.normal(0.0, 1.0, (4, 3, 101, 101)).astype(np.float32)
    cube[:, :, 46:55, 46:55] += np.float32([[[50.0]], [[150.0]], [[200.0]]])
    cube[1, 2, 3:6, 7] = np.nan
    base = {"bands": ["g", "r", "i"], "normalization": "sky", "model": "he2020", "stamp_size": 101}
    for settings in ({**base, "input_shape": [49, 49, 8], "preprocess": "bin2_crop", "colour_residual": ["g", "r"],
                      "colour_residual_match": "psf"},
                     {**base, "input_shape": [49, 49, 6], "preprocess": "bin2_crop", "colour_residual": []},
                     {**base, "input_shape": [49, 49, 3], "preprocess": "bin2", "colour_residual": []},
                     {**base, "input_shape": [49, 49, 4], "preprocess": "bin2", "colour_residual": ["g", "i"]}):
        x, fraction, sky = pp.prepare_and_measure(cube, settings)
        want_x, want_fraction = pp.prepare_batch(cube, settings)
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(fraction, want_fraction)
        assert fraction[1] > 0 and (fraction[[0, 2, 3]] == 0).all()
        for (median, sigma), (want_median, want_sigma) in zip(sky, pp.sky_statistics(cube, settings), strict=True):
            np.testing.assert_array_equal(median, want_median)
            np.testing.assert_array_equal(sigma, want_sigma)
