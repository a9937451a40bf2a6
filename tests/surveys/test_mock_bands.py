"""The mock survey in g, r, i: per-band images on one WCS, colours by type, colours measured from the images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.io import InputError
from lensfinder.surveys.mock.bands import band_magnitude_offsets, component_band_fluxes
from lensfinder.surveys.mock.tiles import make_tile, mock_survey_config
from lensfinder.surveys.presets import get_preset

SMALL = {"size_pix": 600, "n_lenses": 3, "n_bright_stars": 1, "n_stars": 12}


@pytest.fixture(scope="module")
def tile():
    return make_tile("MOCK_3", 3, 7, mock_survey_config(SMALL))


@pytest.fixture(scope="module")
def matched(tile):
    truth = tile.truth[tile.truth["ID"].notna()]
    return truth.merge(tile.catalog, on="ID", how="inner", validate="one_to_one")


def test_every_preset_band_on_one_wcs_with_its_own_seeing_and_depth(tile):
    kids = get_preset("kids")
    assert list(tile.bands) == list(kids.bands) and tile.detection_band == "r"
    ref = {k: tile.header[k] for k in ("CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "CDELT1", "CDELT2", "CTYPE1")}
    for band, (image, weight, header) in tile.bands.items():
        assert image.shape == tile.image.shape and image.dtype == np.float32 and weight.dtype == np.float32
        assert {k: header[k] for k in ref} == ref and header["FILTER"] == band
        lo, hi = kids.band(band).psf_fwhm_range_arcsec
        assert lo <= header["PSF_FWHM"] <= hi
        lo, hi = kids.band(band).depth_range_mag
        assert lo <= header["DEPTH5"] <= hi
        # the noise of each band follows its own depth (i is about 1.3 mag shallower than r)
        assert np.median(1 / np.sqrt(weight)) == pytest.approx(header["SKYSIG"], rel=0.05)
    assert tile.bands["i"][2]["SKYSIG"] > 2.5 * tile.bands["r"][2]["SKYSIG"]
    assert tile.bands["r"][0] is tile.image
    assert not np.array_equal(tile.bands["g"][0], tile.image)


def test_r_band_does_not_depend_on_the_other_bands():
    cfg = mock_survey_config({**SMALL, "size_pix": 300})
    alone = make_tile("MOCK_1", 1, 3, cfg, bands=["r"])
    three = make_tile("MOCK_1", 1, 3, cfg)
    assert list(alone.bands) == ["r"] and list(three.bands) == ["g", "r", "i"]
    np.testing.assert_array_equal(alone.image, three.image)
    np.testing.assert_array_equal(alone.weight, three.weight)
    pd.testing.assert_frame_equal(alone.truth, three.truth)


def test_component_fluxes_follow_the_owner_colours_and_arcs_the_source_colours(tile):
    from lensfinder.surveys.mock.galaxies import draw_tile_objects

    cfg = mock_survey_config(SMALL)
    truth, comps, owner = draw_tile_objects(cfg.counts(), 600, 0.2, 30.0, np.random.default_rng(4))
    r = np.array([c.flux for c in comps])
    g = component_band_fluxes(comps, owner, truth, "g")
    i = component_band_fluxes(comps, owner, truth, "i")
    lensed = np.array([c.kind == "lensed" for c in comps])
    own = np.asarray(owner)
    assert lensed.any()
    np.testing.assert_allclose(-2.5 * np.log10(g[lensed] / r[lensed]),
                               truth["source_colour_g_r_true"].to_numpy()[own[lensed]])
    np.testing.assert_allclose(-2.5 * np.log10(r[~lensed] / i[~lensed]),
                               truth["colour_r_i_true"].to_numpy()[own[~lensed]])
    # blue arcs around red lenses
    lens = truth["is_lens"].to_numpy()
    assert (truth.loc[lens, "source_colour_g_r_true"] < truth.loc[lens, "colour_g_r_true"] - 0.5).all()
    assert band_magnitude_offsets("r", [1.0], [0.5])[0] == 0.0
    with pytest.raises(ValueError, match="band 'q'"):
        band_magnitude_offsets("q", [1.0], [0.5])


def test_catalogue_colours_are_measured_in_matched_apertures(matched):
    bright = matched[(matched["MAG_AUTO"] < 22) & (matched["Flag"] == 0)
                     & matched["object_type"].isin(["elliptical", "spiral", "irregular", "star"])]
    assert len(bright) >= 10
    d_gr = bright["COLOUR_GAAP_g_r"] - bright["colour_g_r_true"]
    d_ri = bright["COLOUR_GAAP_r_i"] - bright["colour_r_i_true"]
    # measured, not copied: close to the truth, with the scatter of real photometry
    assert abs(d_gr.median()) < 0.05 and abs(d_ri.median()) < 0.05
    assert (d_gr.abs() < 0.2).mean() > 0.9 and (d_gr != 0).all()
    np.testing.assert_allclose(matched["COLOUR_GAAP_g_r"], matched["MAG_GAAP_g"] - matched["MAG_GAAP_r"])
    red = matched[(matched["object_type"] == "elliptical") & (matched["MAG_AUTO"] < 21)]
    blue = matched[matched["object_type"].isin(["spiral", "irregular"]) & (matched["MAG_AUTO"] < 21)]
    assert red["COLOUR_GAAP_g_r"].median() > blue["COLOUR_GAAP_g_r"].median() + 0.5
    # the error grows as the band gets shallower (i is 1.3 mag shallower than r)
    assert (matched["MAGERR_GAAP_i"] > matched["MAGERR_GAAP_r"]).mean() > 0.9


def test_cli_writes_one_file_per_band(tmp_path, capsys):
    from astropy.io import fits

    bands = ["g", "r", "i"]
    paths = {k: [str(tmp_path / f"T.{b}{s}") for b in bands]
             for k, s in (("image", ".fits"), ("weight", ".weight.fits"), ("mask", ".mask.fits"))}
    common = ["mock-survey", "--tile", "MOCK_0", "--index", "0", "--seed", "1",
              "--out-catalog", str(tmp_path / "c.parquet"), "--out-truth", str(tmp_path / "t.parquet"),
              "--set", "size_pix=250", "--set", "n_lenses=1"]
    rc = main([*common, "--bands", *bands, "--out-image", *paths["image"], "--out-weight", *paths["weight"],
               "--out-mask", *paths["mask"]])
    assert rc == 0
    for b, image, mask in zip(bands, paths["image"], paths["mask"]):
        assert fits.getheader(image)["FILTER"] == b and fits.getheader(mask)["FILTER"] == b
    masks = [fits.getdata(m) for m in paths["mask"]]
    assert all(np.array_equal(masks[0], m) for m in masks)
    rc = main([*common, "--bands", *bands, "--out-image", *paths["image"][:2], "--out-weight", *paths["weight"],
               "--out-mask", *paths["mask"]])
    assert rc == 2 and "--out-image: expected 3 path(s)" in capsys.readouterr().err
    rc = main([*common, "--bands", "g", "q", "--out-image", "a", "b", "--out-weight", "a", "b", "--out-mask", "a", "b"])
    assert rc == 2 and "'q'" in capsys.readouterr().err


def test_other_preset_renders_its_bands_at_its_pixel_scale():
    hsc = get_preset("hsc")
    t = make_tile("MOCK_0", 0, 1, mock_survey_config({"preset": "hsc", "size_pix": 300, "n_lenses": 1}))
    assert list(t.bands) == list(hsc.bands)
    assert t.header["PIXSCALE"] == hsc.pixel_scale_arcsec and t.header["ZEROPT"] == hsc.band("r").zeropoint_mag
    with pytest.raises(InputError, match="preset"):
        mock_survey_config({"preset": "sdss"})


def test_euclid_detects_in_vis_and_keeps_r_band_truth():
    t = make_tile("MOCK_0", 0, 2, mock_survey_config({"preset": "euclid", "size_pix": 400, "n_lenses": 1}))
    assert t.detection_band == "VIS" and list(t.bands) == ["VIS"] and t.header["FILTER"] == "VIS"
    lens = t.truth[t.truth["is_lens"]].iloc[0]
    # the truth stays in r: the lens's total r magnitude is its own light plus its (magnified) arcs
    own = lens["mag_r_true"]
    arcs = lens["mag_source"] - 2.5 * np.log10(lens["magnification"])
    assert lens["mag_r_total_true"] == pytest.approx(-2.5 * np.log10(10 ** (-0.4 * own) + 10 ** (-0.4 * arcs)),
                                                     abs=0.02)
    assert lens["magnification"] > 1.5
