"""The mock KiDS-like survey: determinism, catalogue format, truth, lenses, files."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from lensfinder import constants
from lensfinder.cli import main
from lensfinder.io import InputError
from lensfinder.cli.options import parse_key_values
from lensfinder.surveys.designation import DESIGNATIONS, iau_names
from lensfinder.surveys.mock.catalog import CATALOG_COLUMNS
from lensfinder.surveys.mock.sky import MASK_HALO, add_noise
from lensfinder.surveys.mock.tiles import CONFIG_KEYS, MockSurveyConfig, make_tile, mock_survey_config, tile_center

SMALL = ["size_pix=600", "n_lenses=3", "n_bright_stars=1", "n_stars=12"]
# KiDS DR4 precision with the mock survey's own prefix: a mock object never claims to be a KiDS source
ID_PATTERN = re.compile(r"^(KiDSDR4|MOCK) J\d{6}\.\d{3}[+-]\d{6}\.\d{2}$")


def parse_overrides(items):
    """Settings from ``key=value`` strings, as ``lensfinder mock-survey --set`` reads them."""
    return mock_survey_config(parse_key_values(items, "--set", valid=CONFIG_KEYS), "--set")


def lrg_cut(df: pd.DataFrame) -> np.ndarray:
    """Li et al. 2020 LRG cut (eq. 1 with r_auto <= 20), written out independently here."""
    g_r, r_i, r = df["COLOUR_GAAP_g_r"], df["COLOUR_GAAP_r_i"], df["MAG_AUTO"]
    c_par = 0.7 * g_r + 1.2 * (r_i - 0.18)
    c_perp = r_i - g_r / 4.0 - 0.18
    return ((df["SG2DPHOT"] == 0) & (r <= 20) & (r < 14 + c_par / 0.3) & (c_perp.abs() < 0.2)).to_numpy()


@pytest.fixture(scope="module")
def tile():
    return make_tile("MOCK_3", 3, 7, parse_overrides(SMALL))


@pytest.fixture(scope="module")
def matched(tile):
    truth = tile.truth[tile.truth["ID"].notna()]
    return truth.merge(tile.catalog, on="ID", how="inner", validate="one_to_one")


@pytest.fixture(scope="module")
def fixture_rows(test_data):
    return pd.read_csv(test_data / "kids_dr4_sample.csv")


def test_same_seed_same_tile_and_other_seed_differs(tile):
    again = make_tile("MOCK_3", 3, 7, parse_overrides(SMALL))
    np.testing.assert_array_equal(again.image, tile.image)
    np.testing.assert_array_equal(again.weight, tile.weight)
    np.testing.assert_array_equal(again.mask, tile.mask)
    pd.testing.assert_frame_equal(again.catalog, tile.catalog)
    pd.testing.assert_frame_equal(again.truth, tile.truth)
    other = make_tile("MOCK_3", 3, 8, parse_overrides(SMALL))
    assert not np.array_equal(other.image, tile.image)


def test_image_header_wcs_and_noise(tile):
    from astropy.stats import sigma_clipped_stats
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    h = tile.header
    assert tile.image.dtype == np.float32 and tile.image.shape == (600, 600)
    assert tile.weight.dtype == np.float32 and tile.mask.dtype == np.int16
    assert 0.55 <= h["PSF_FWHM"] <= 0.9
    assert h["ZEROPT"] == constants.MOCK_ZEROPOINT_MAG
    assert h["PIXSCALE"] == constants.KIDS_COADD_PIXEL_SCALE_ARCSEC
    wcs = WCS(h)
    assert np.allclose(proj_plane_pixel_scales(wcs) * 3600, 0.2)
    ra, dec = wcs.pixel_to_world_values(299.5, 299.5)
    assert (ra, dec) == pytest.approx(tile_center(3, MockSurveyConfig()), abs=1e-9)
    # background-subtracted, and the noise matches the weight map (depth ~25 mag)
    _, median, std = sigma_clipped_stats(tile.image, sigma=3)
    assert abs(median) < 0.3 * std
    sigma_weight = np.median(1 / np.sqrt(tile.weight))
    assert std == pytest.approx(sigma_weight, rel=0.1)
    assert 24.8 <= h["DEPTH5"] <= 25.2
    n_ap = np.pi * 1.0**2 / 0.2**2
    depth = 30 - 2.5 * np.log10(5 * h["SKYSIG"] * np.sqrt(n_ap))
    assert depth == pytest.approx(h["DEPTH5"], abs=1e-6)


def test_chip_gaps_scale_the_objects_poisson_noise_with_the_sky():
    """A chip gap (one exposure of five missing) has 5/4 of the background variance, and the light of the
    objects there is made of 4/5 of the electrons, so its Poisson variance is 5/4 too."""
    sigma_bg, gain, level = 2.0, 3.0, 60.0
    sigma_map = np.full((400, 400), sigma_bg, dtype=np.float32)
    sigma_map[:, 200:] *= np.float32(np.sqrt(5 / 4))
    image = np.full((400, 400), level, dtype=np.float32)
    noisy, weight = add_noise(image, sigma_map, sigma_bg, gain, np.random.default_rng(5))
    full_depth = sigma_bg ** 2 + level / gain
    assert np.var(noisy[:, :200]) == pytest.approx(full_depth, rel=0.02)
    assert np.var(noisy[:, 200:]) == pytest.approx(5 / 4 * full_depth, rel=0.02)
    np.testing.assert_allclose(weight, 1 / sigma_map.astype(float) ** 2, rtol=1e-6)  # the sky alone, as in KiDS


def test_bright_star_has_masked_halo(tile):
    t = tile.truth
    bright = t[(t["object_type"] == "star") & (t["mag_r_true"] < 17)]
    assert len(bright) >= 1
    for _, s in bright.iterrows():
        yi, xi = int(round(s["y_pix"])), int(round(s["x_pix"]))
        if 0 <= yi < 600 and 0 <= xi < 600:
            assert tile.mask[yi, xi] & MASK_HALO
    assert (tile.mask > 0).mean() < 0.2
    assert (tile.weight > 0).all()


def test_catalog_has_kids_dr4_columns_and_dtypes(tile, fixture_rows):
    cat = tile.catalog
    required = ["ID", "KIDS_TILE", "RAJ2000", "DECJ2000", "MAG_AUTO", "MAGERR_AUTO", "FLUX_RADIUS", "CLASS_STAR",
                "SG2DPHOT", "COLOUR_GAAP_g_r", "COLOUR_GAAP_r_i", "MAG_GAAP_u", "MAG_GAAP_g", "MAG_GAAP_r",
                "MAG_GAAP_i", "MASK", "IMAFLAGS_ISO", "Flag", "Z_B", "Xpos", "Ypos"]
    assert set(required) <= set(cat.columns)
    assert list(cat.columns) == list(CATALOG_COLUMNS)
    # every column we write exists in the real catalogue, with the same kind of dtype
    missing = [c for c in cat.columns if c not in fixture_rows.columns]
    assert not missing
    for col in cat.columns:
        assert cat[col].dtype.kind == fixture_rows[col].dtype.kind, col
    assert cat["ID"].map(lambda s: bool(ID_PATTERN.match(s))).all() and cat["ID"].str.startswith("MOCK J").all()
    assert fixture_rows["ID"].map(lambda s: bool(ID_PATTERN.match(s))).all()
    assert cat["ID"].is_unique
    assert (cat["KIDS_TILE"] == "MOCK_3").all()
    assert cat["CLASS_STAR"].between(0, 1).all()
    assert set(cat["SG2DPHOT"].unique()) <= {0, 1}
    # Xpos/Ypos are on the 0.213"/px grid, not the coadd's
    assert cat["Xpos"].max() < 600 * 0.2 / 0.213 + 2
    assert len(cat) > 30


def test_mock_ids_are_the_designations_of_the_measured_positions(tile):
    # the real-KiDS check of the same function is tests/inspection/test_catalogue_names.py
    cat = tile.catalog
    assert cat["ID"].tolist() == iau_names(cat["RAJ2000"], cat["DECJ2000"], DESIGNATIONS["mock"])
    assert not cat["ID"].str.contains("KiDS").any()


def test_measured_positions_and_magnitudes_agree_with_truth(matched):
    m = matched[matched["object_type"].isin(["star", "elliptical", "spiral", "edge_on", "ring"])
                & (matched["mag_r_true"] < 22)]
    assert len(m) >= 10
    sep = np.hypot((m["ra"] - m["RAJ2000"]) * np.cos(np.radians(m["dec"])), m["dec"] - m["DECJ2000"]) * 3600
    assert np.median(sep) < 0.1
    assert np.quantile(sep, 0.9) < 0.4
    stars = matched[(matched["object_type"] == "star") & (matched["mag_r_true"].between(17, 22))]
    assert len(stars) >= 3
    assert np.median(np.abs(stars["MAG_AUTO"] - stars["mag_r_true"])) < 0.1
    assert stars["CLASS_STAR"].median() > 0.8
    galaxies = matched[matched["object_type"].isin(["elliptical", "spiral"]) & (matched["mag_r_true"] < 21)]
    assert galaxies["CLASS_STAR"].median() < 0.2
    # FLUX_RADIUS in 0.213"/px: a star's half-light radius is about half the FWHM
    assert 0.3 < (stars["FLUX_RADIUS"] * 0.213).median() < 0.8


def test_truth_ids_link_to_catalogue(tile):
    t = tile.truth
    ids = t["ID"].dropna()
    assert ids.is_unique
    assert set(ids) <= set(tile.catalog["ID"])
    assert (t.loc[t["ID"].notna(), "detected"]).all()
    assert t["detected"].mean() > 0.6
    assert set(t["object_type"]) >= {"elliptical", "spiral", "edge_on", "merger", "ring", "star", "lens"}


def test_lenses_present_and_hosts_pass_lrg_cut(tile, matched):
    t = tile.truth
    lenses = t[t["is_lens"]]
    assert len(lenses) == 3
    assert lenses["theta_E"].between(1.2, 3.0).all()
    assert (lenses["magnification"] > 2).all()
    assert lenses["ID"].notna().all()
    assert t.loc[~t["is_lens"], "theta_E"].isna().all()
    hosts = matched[matched["object_type"].isin(["lens", "elliptical"]) & (matched["MAG_AUTO"] <= 20)]
    assert len(hosts) >= 5
    assert lrg_cut(hosts).mean() >= 0.8
    assert lrg_cut(matched[matched["is_lens"]]).mean() >= 0.6
    spirals = matched[matched["object_type"] == "spiral"]
    assert lrg_cut(spirals).mean() <= 0.1


def test_default_counts_scale_with_area():
    default = MockSurveyConfig().counts()
    assert default.lenses == 5 and default.stars == 60 and default.elliptical >= 40
    small = parse_overrides(["size_pix=1000"]).counts()
    assert small.stars == 15 and small.lenses == 5


def test_bad_overrides_name_the_key():
    with pytest.raises(InputError, match="unknown key 'n_galaxy'"):
        parse_overrides(["n_galaxy=3"])
    with pytest.raises(InputError, match="psf_fwhm_arcsec"):
        parse_overrides(["psf_fwhm_arcsec=[0.9, 0.5]"])
    with pytest.raises(InputError, match="n_lenses"):
        parse_overrides(["n_lenses=-1"])
    with pytest.raises(InputError, match="expected key=value"):
        parse_overrides(["size_pix"])
    with pytest.raises(InputError, match="settings: unknown key 'bogus'"):
        mock_survey_config({"bogus": 1})
    assert mock_survey_config({"n_lenses": 2}).n_lenses == 2
    for key, value, expected in (("tiles_per_row", 0, "an integer >= 1"), ("tile_spacing_deg", 0.0, "a spacing > 0"),
                                 ("field_dec_deg", 91.0, r"a declination in \[-90, 90\]")):
        with pytest.raises(InputError, match=f"settings: {key}: expected {expected}"):
            mock_survey_config({key: value})
    # a row of tiles past the pole: tile 8 of a field at Dec 89 with four tiles a row
    high = mock_survey_config({"field_dec_deg": 89.0})
    assert tile_center(3, high) == (183.0, 89.0)
    with pytest.raises(InputError, match="tile 4 of field_dec_deg 89.0.* lies at Dec 90 deg"):
        tile_center(4, high)


def test_cli_writes_tile_files(tmp_path, capsys):
    from astropy.io import fits

    out = {k: tmp_path / f"{k}.{'parquet' if k in ('catalog', 'truth') else 'fits'}"
           for k in ("image", "weight", "mask", "catalog", "truth")}
    rc = main(["mock-survey", "--tile", "MOCK_0", "--index", "0", "--seed", "1",
               "--out-image", str(out["image"]), "--out-weight", str(out["weight"]), "--out-mask", str(out["mask"]),
               "--out-catalog", str(out["catalog"]), "--out-truth", str(out["truth"]),
               "--set", "size_pix=300", "--set", "n_lenses=1", "--set", "psf_fwhm_arcsec=[0.6, 0.6]"])
    assert rc == 0
    with fits.open(out["image"]) as hdul:
        assert hdul[0].data.dtype.kind == "f" and hdul[0].data.shape == (300, 300)
        assert hdul[0].header["PSF_FWHM"] == pytest.approx(0.6)
    with fits.open(out["mask"]) as hdul:
        assert hdul[0].data.dtype.kind == "i" and hdul[0].data.dtype.itemsize == 2
    cat = pd.read_parquet(out["catalog"])
    truth = pd.read_parquet(out["truth"])
    assert "is_lens" in truth and "is_lens" not in cat and "theta_E" not in cat
    assert truth["is_lens"].sum() == 1
    rc = main(["mock-survey", "--tile", "MOCK_0", "--index", "0",
               "--out-image", str(out["image"]), "--out-weight", str(out["weight"]), "--out-mask", str(out["mask"]),
               "--out-catalog", str(out["catalog"]), "--out-truth", str(out["truth"]), "--set", "bogus=1"])
    assert rc == 2
    assert "bogus" in capsys.readouterr().err


def test_tiles_hold_the_confusers_a_search_meets():
    """Satellites and chance companions near the ellipticals, clumpy irregulars (issue 13)."""
    from lensfinder.surveys.mock.galaxies import PopulationCounts, draw_tile_objects

    counts = PopulationCounts(elliptical=30, spiral=12, edge_on=0, merger_pairs=0, ring=0, faint=0, stars=0,
                              bright_stars=0, lenses=0)
    truth, comps, owner = draw_tile_objects(counts, 2000, 0.2, 30.0, np.random.default_rng(5))
    sats = truth[truth["object_type"] == "satellite"]
    centrals = truth[(truth["object_type"] == "elliptical") & (truth["group_id"] >= 0)]
    assert len(sats) and len(centrals) == sats["group_id"].nunique()
    merged = sats.merge(centrals, on="group_id", suffixes=("", "_c"))
    dist = np.hypot(merged["x_pix"] - merged["x_pix_c"], merged["y_pix"] - merged["y_pix_c"]) * 0.2
    assert dist.between(0.5, 5.0).all()
    assert (merged["mag_r_true"] - merged["mag_r_true_c"]).between(1.0, 6.0).all()
    assert (merged["colour_g_r_true"] < 0.9).any() and (merged["colour_g_r_true"] > 1.2).any()  # blue and red
    irregular = truth.index[truth["object_type"] == "irregular"]
    assert len(irregular) == 4  # a third of the spirals
    knots = [c for c, o in zip(comps, owner) if o in set(irregular) and c.kind == "knots"]
    assert len(knots) == 4 and all(15 <= len(k.params["dx"]) <= 60 for k in knots)
    from lensfinder.surveys.mock.render import render_components

    image = np.zeros((300, 300))
    knot = knots[0]
    knot.x_pix = knot.y_pix = 150.0
    rendered = render_components(image, [knot], 0.2)
    assert rendered[0] == pytest.approx(knot.flux) and image.sum() == pytest.approx(knot.flux)
