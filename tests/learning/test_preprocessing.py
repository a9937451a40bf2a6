"""Stamp resizing, normalisation, NaN handling and the settings sidecar (numpy only)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lensfinder.learning import preprocessing as pp
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


SETTINGS = {"model": "he2020", "input_shape": [49, 49, 1], "stamp_size": 101, "preprocess": "bin2",
            "normalization": "minmax", "seed": 1}


def test_settings_round_trip_and_mismatch(tmp_path):
    model = tmp_path / "he2020.keras"
    path = pp.write_settings(SETTINGS, model)
    assert path == tmp_path / "he2020.json"
    got = pp.read_settings(model, normalization="minmax", preprocess="bin2", input_size=49)
    assert got["normalization"] == "minmax" and got["settings_version"] == pp.SETTINGS_VERSION
    with pytest.raises(InputError, match=r"he2020.json: normalization: .*'minmax'.*'asinh'"):
        pp.read_settings(model, normalization="asinh")
    with pytest.raises(InputError, match="input_shape"):
        pp.read_settings(model, input_size=101)
    with pytest.raises(InputError, match="preprocess"):
        pp.read_settings(model, preprocess="crop")


def test_bad_sidecars(tmp_path):
    with pytest.raises(InputError, match="settings file not found"):
        pp.read_settings(tmp_path / "none.keras")
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(InputError, match="a.json: not readable JSON"):
        pp.read_settings(tmp_path / "a.keras")
    (tmp_path / "b.json").write_text(json.dumps({**SETTINGS, "normalization": "zscale"}))
    with pytest.raises(InputError, match="b.json: normalization"):
        pp.read_settings(tmp_path / "b.keras")
    (tmp_path / "c.json").write_text(json.dumps({"model": "he2020"}))
    with pytest.raises(InputError, match="c.json: missing key"):
        pp.read_settings(tmp_path / "c.keras")


def test_weights_hash_is_that_of_the_model_file_written(tmp_path):
    import zipfile

    from lensfinder.learning.models import file_hash

    model = tmp_path / "net.keras"

    def save(weights: bytes):
        with zipfile.ZipFile(model, "w") as archive:  # the layout of a .keras file
            archive.writestr("config.json", "{}")
            archive.writestr("model.weights.h5", weights)

    pp.write_settings({**SETTINGS, "weights_hash": "copied"}, model)  # no model yet: no hash, not a copied one
    assert "weights_hash" not in pp.read_settings(model)
    save(b"weights v1")
    pp.write_settings({**SETTINGS, "weights_hash": "copied"}, model)
    settings = pp.read_settings(model)
    assert settings["weights_hash"] == file_hash(model)
    pp.check_weights_hash(settings, file_hash(model), model)
    save(b"weights v2")
    with pytest.raises(InputError, match=r"net.keras: weights hash \w+, but its settings .*net.json were written "
                                         r"for weights \w+: the model file was replaced"):
        pp.check_weights_hash(settings, file_hash(model), model)


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
    pp.check_settings(settings, "m.json")
    with pytest.raises(InputError, match=r"m.json: bands: .* expected 1 distinct band names .*bin2_crop"):
        pp.check_settings({**settings, "input_shape": [49, 49, 3]}, "m.json")
