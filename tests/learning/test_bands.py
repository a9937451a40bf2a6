"""Networks in several bands: per-band normalisation, band cubes through training and scoring, refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.io import InputError, read_cube, read_table, write_cube, write_table
from lensfinder.learning.datasets import CubeReader, ShardSet, toy_lens_images, write_toy_shard
from lensfinder.learning.preprocessing import normalize, prepare_batch, settings_bands
from lensfinder.learning.sidecar import check_settings
from lensfinder.learning.stream import augment_batch

GRI = ("g", "r", "i")


def test_each_band_is_normalised_on_its_own():
    rng = np.random.default_rng(0)
    stamps = rng.normal(size=(4, 3, 12, 12)).astype(np.float32) * np.array([1.0, 10.0, 100.0])[None, :, None, None]
    settings = {"input_shape": [12, 12, 3], "bands": list(GRI), "preprocess": "crop", "normalization": "minmax"}
    x, fraction = prepare_batch(stamps, settings)
    assert x.shape == (4, 12, 12, 3) and x.flags.c_contiguous and not fraction.any()
    np.testing.assert_allclose(x.min(axis=(1, 2)), 0.0)
    np.testing.assert_allclose(x.max(axis=(1, 2)), 1.0, rtol=1e-6)  # the faint g band is stretched too
    np.testing.assert_array_equal(x[..., 1], normalize(stamps[:, 1]))  # channel k is band k
    one = {"input_shape": [12, 12, 1], "preprocess": "crop", "normalization": "asinh"}
    np.testing.assert_array_equal(prepare_batch(stamps[:, 1], one)[0], normalize(stamps[:, 1], "asinh")[..., None])
    with pytest.raises(ValueError, match=r"the network takes 3 band\(s\) \(g,r,i\)"):
        prepare_batch(stamps[:, 1], settings)


def test_nonfinite_fraction_counts_every_band():
    stamps = np.ones((2, 3, 10, 10), np.float32)
    stamps[0, 2, :5] = np.nan  # half of the i band of the first stamp
    settings = {"input_shape": [10, 10, 3], "bands": list(GRI), "preprocess": "crop", "normalization": "minmax"}
    x, fraction = prepare_batch(stamps, settings)
    assert fraction.tolist() == [pytest.approx(50 / 300), 0.0] and np.isfinite(x).all()


def test_augmentation_moves_every_band_alike():
    images = np.random.default_rng(1).normal(size=(6, 9, 9, 3)).astype(np.float32)
    out = augment_batch(images, np.random.default_rng(2))
    plain = [augment_batch(images[..., k], np.random.default_rng(2)) for k in range(3)]
    for k in range(3):
        np.testing.assert_array_equal(out[..., k], plain[k])


def test_sidecar_bands_are_checked():
    base = {"model": "he2020", "stamp_size": 101, "preprocess": "bin2", "normalization": "minmax"}
    assert settings_bands({**base, "input_shape": [49, 49, 1]}) == ("r",)  # sidecars from before bands
    with pytest.raises(InputError, match=r"m\.json: bands: missing, but input_shape \[49, 49, 3\] has 3 channels"):
        check_settings({**base, "input_shape": [49, 49, 3]}, "m.json")
    with pytest.raises(InputError, match=r"bands: \['g', 'r'\], expected 3 distinct band names"):
        check_settings({**base, "input_shape": [49, 49, 3], "bands": ["g", "r"]}, "m.json")


def test_shard_sets_need_one_set_of_bands(tmp_path):
    write_toy_shard(tmp_path / "a", 0, 6, size=21, bands=GRI)
    write_toy_shard(tmp_path / "a", 1, 5, size=21, bands=GRI)
    shards = ShardSet([tmp_path / "a"])
    assert shards.bands == GRI and shards.take([10, 0]).shape == (2, 3, 21, 21)
    images, _ = read_cube(tmp_path / "a" / "shard_001.fits")
    with CubeReader(tmp_path / "a" / "shard_001.fits") as reader:
        np.testing.assert_array_equal(reader.take([4, 1]), images[[4, 1]])
    write_toy_shard(tmp_path / "b", 2, 5, size=21, bands=("g", "r"))
    with pytest.raises(InputError, match=r"shard_002\.fits: bands g,r, but shard_000\.fits has g,r,i"):
        ShardSet([tmp_path / "a", tmp_path / "b"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 3-band he2020 (the default two-scale input) and an r-band one (He et al.'s bin2) trained on the same 3-band toy shards (one epoch each)."""
    root = tmp_path_factory.mktemp("bands")
    for k in range(2):
        write_toy_shard(root / "train", k, 64, seed=4, bands=GRI)
    models = {}
    for name, extra in (("gri", []), ("r", ["--bands", "r", "--preprocess", "bin2"])):
        models[name] = root / f"{name}.keras"
        assert main(["train", "--shards", str(root / "train"), "--out", str(models[name]), "--epochs", "1",
                     "--batch-size", "32", "--seed", "3", "--threads", "2", *extra]) == 0
    return root, models


def test_networks_train_on_the_bands_asked_for(trained):
    _, models = trained
    gri = json.loads(models["gri"].with_suffix(".json").read_text())
    r = json.loads(models["r"].with_suffix(".json").read_text())
    # the default bin2_crop takes each band at two scales, and with g and r the g-r colour residual
    # (colour_residual auto) as a fourth band: 8 channels, 20 x 5 x 5 weights more per channel
    assert gri["bands"] == list(GRI) and gri["colour_residual"] == ["g", "r"] and gri["preprocess"] == "bin2_crop"
    assert gri["input_shape"] == [49, 49, 8] and gri["n_parameters"] == 2_101_372 + 5 * 5 * 20 * 7
    assert r["bands"] == ["r"] and r["colour_residual"] == [] and r["input_shape"] == [49, 49, 1]
    assert r["n_parameters"] == 2_101_372


def test_a_network_to_start_from_needs_the_same_colour_residual(trained):
    from lensfinder.learning.training import initial_weights

    _, models = trained
    shape, same = [49, 49, 8], ("he2020", GRI, "bin2_crop", "sky")
    assert initial_weights(models["gri"], same[0], shape, *same[1:], colour_residual=("g", "r"))["weights_hash"]
    with pytest.raises(InputError, match=r"gri.keras: init weights: colour_residual \['g', 'r'\], but this "
                                         r"training's is \['g', 'i'\]"):
        initial_weights(models["gri"], same[0], shape, *same[1:], colour_residual=("g", "i"))
    # trained with the PSF match (the default): a training that would scale alone is refused
    with pytest.raises(InputError, match=r"gri.keras: init weights: colour_residual_match 'psf', but this "
                                         r"training's is 'scale'"):
        initial_weights(models["gri"], same[0], shape, *same[1:], colour_residual=("g", "r"),
                        colour_residual_match="scale")


def test_scoring_takes_the_model_bands_and_refuses_missing_ones(trained, capsys):
    root, models = trained
    images, is_lens, _ = toy_lens_images(24, 101, np.random.default_rng(9), bands=GRI)
    write_cube(images, root / "gri.fits", 0.2, 30.0, bands=GRI)
    write_cube(images[:, 1], root / "r.fits", 0.2, 30.0)  # today's r-band layout
    write_cube(images[:, [0, 2]], root / "gi.fits", 0.2, 30.0, bands=("g", "i"))
    index = pd.DataFrame({"object_id": [f"o{k}" for k in range(24)], "is_lens": is_lens})
    for name in ("gri", "r", "gi"):
        write_table(index, root / f"{name}.parquet")

    def infer(cube, model):
        out = root / f"p_{cube}_{model}.parquet"
        rc = main(["infer", "--stamps", str(root / f"{cube}.fits"), "--index", str(root / f"{cube}.parquet"),
                   "--model", str(models[model]), "--out", str(out), "--threads", "2"])
        return rc, out

    rc, out = infer("gri", "gri")
    assert rc == 0 and read_table(out)["p_cnn"].between(0, 1).all()
    # the r network picks r from the colour cube: the same scores as on the r-band cube
    (rc1, from_gri), (rc2, from_r) = infer("gri", "r"), infer("r", "r")
    assert rc1 == rc2 == 0
    np.testing.assert_array_equal(read_table(from_gri)["p_cnn"], read_table(from_r)["p_cnn"])
    rc, out = infer("r", "gri")
    assert rc == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "r.fits: stamps in band(s) r, but gri.keras was trained on g,r,i (missing: g,i)" in err
    assert infer("gi", "r")[0] == 2
    assert "gi.fits: stamps in band(s) g,i, but r.keras was trained on r (missing: r)" in capsys.readouterr().err


def test_scoring_matches_the_residual_with_the_stamps_moffat_fits(trained):
    """An index with its tiles' Moffat fits (psf_moffat_fwhm_arcsec_{band}, psf_moffat_beta_{band}: the stamp
    index's, and the independent set's rows on survey hosts) makes scoring match the residual's g and r with
    them: those rows score as their inputs prepared with the fits do, the rows without fits (NaN) as with no
    fits at all."""
    from lensfinder.learning.inference import Scorer

    root, models = trained
    images, is_lens, _ = toy_lens_images(16, 101, np.random.default_rng(11), bands=GRI)
    write_cube(images, root / "fits.fits", 0.2, 30.0, bands=GRI)
    index = pd.DataFrame({"object_id": [f"o{k}" for k in range(16)], "is_lens": is_lens, "pixel_scale_arcsec": 0.2})
    write_table(index, root / "nofits.parquet")
    fitted = np.arange(16) % 2 == 1
    for band, (fwhm, beta) in (("g", (0.9, 2.5)), ("r", (0.7, 4.5)), ("i", (0.8, 3.5))):
        index[f"psf_moffat_fwhm_arcsec_{band}"] = np.where(fitted, fwhm, np.nan)
        index[f"psf_moffat_beta_{band}"] = np.where(fitted, beta, np.nan)
    write_table(index, root / "fits.parquet")
    scores = {}
    for name in ("nofits", "fits"):
        out = root / f"p_{name}.parquet"
        assert main(["infer", "--stamps", str(root / "fits.fits"), "--index", str(root / f"{name}.parquet"),
                     "--model", str(models["gri"]), "--out", str(out), "--threads", "2"]) == 0
        scores[name] = read_table(out)["p_cnn"].to_numpy()
    np.testing.assert_array_equal(scores["fits"][~fitted], scores["nofits"][~fitted])
    assert not np.allclose(scores["fits"][fitted], scores["nofits"][fitted], rtol=0, atol=1e-6)
    scorer = Scorer(models["gri"])
    psf = scorer.stamp_psfs(index[fitted])
    assert psf[0].shape == (8, 4) and psf[1] == 0.2  # g then r: FWHM and beta of each
    x, _ = scorer.prepare(images[fitted], GRI, psf=psf)
    direct = scorer.probabilities(scorer.forward()(x))
    np.testing.assert_allclose(scores["fits"][fitted], direct, rtol=0, atol=1e-6)
