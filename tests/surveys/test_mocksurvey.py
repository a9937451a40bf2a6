"""The mock KiDS-like survey: determinism, catalogue format, truth, lenses, files."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from helpers.early_runs import early_test
from helpers.workflow_run import copy_workflow, snakemake

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


def test_lenses_present_and_ellipticals_pass_lrg_cut(tile, matched):
    t = tile.truth
    lenses = t[t["is_lens"]]
    assert len(lenses) == 3
    assert lenses["theta_E"].between(1.2, 3.0).all()
    assert (lenses["magnification"] > 2).all()
    assert lenses["ID"].notna().all()
    assert t.loc[~t["is_lens"], "theta_E"].isna().all()
    # the lens hosts' catalogue colours carry their arcs: test_lens_hosts_... below
    ellipticals = matched[(matched["object_type"] == "elliptical") & (matched["MAG_AUTO"] <= 20)]
    assert len(ellipticals) >= 3
    assert lrg_cut(ellipticals).mean() >= 0.8
    spirals = matched[matched["object_type"] == "spiral"]
    assert lrg_cut(spirals).mean() <= 0.1


def _lens_hosts(seeds) -> pd.DataFrame:
    """The lens hosts of the SMALL tile MOCK_3 of each seed: truth, catalogue row and lensfinder's preselection flags."""
    from lensfinder.selection.preselect import preselect

    parts = []
    for seed in seeds:
        t = make_tile("MOCK_3", 3, seed, parse_overrides(SMALL))
        flags, _ = preselect(t.catalog, release="dr4")
        hosts = t.truth[t.truth["is_lens"]].merge(t.catalog, on="ID", how="left", validate="one_to_one")
        parts.append(hosts.merge(flags, on="ID", how="left", validate="one_to_one").assign(seed=seed))
    return pd.concat(parts, ignore_index=True)


def test_lens_hosts_are_in_the_bg_sample_and_their_arcs_make_their_aperture_colours_bluer(monkeypatch):
    """docs/surveys.md: every lens host is in the Li et al. BG sample; its true colours are LRG colours, but its
    blue arcs inside the GAaP aperture make the measured g - r bluer, so most fail the LRG cut's c_par."""
    import lensfinder.surveys.mock.tiles as tiles_module

    seeds = range(7, 13)
    hosts = _lens_hosts(seeds)
    assert len(hosts) == 3 * len(seeds)
    assert hosts["ID"].notna().all() and hosts["bg_li2020"].astype(bool).all()
    # the truth: LRG colours, as the ellipticals'
    true = hosts.assign(COLOUR_GAAP_g_r=hosts["colour_g_r_true"], COLOUR_GAAP_r_i=hosts["colour_r_i_true"],
                        MAG_AUTO=hosts["mag_r_true"])
    assert lrg_cut(true).mean() >= 0.9
    # the catalogue: bluer than the truth, every one of them
    shift = hosts["COLOUR_GAAP_g_r"] - hosts["colour_g_r_true"]
    assert (shift < -0.05).all() and shift.median() < -0.15
    assert (hosts["COLOUR_GAAP_r_i"] - hosts["colour_r_i_true"]).median() < 0

    # the same tiles with arcs of their host's colours: the same detections, and the host's colours come back
    draw = tiles_module.draw_tile_objects

    def host_coloured_arcs(*args, **kwargs):
        truth, components, owner = draw(*args, **kwargs)
        lens = truth["is_lens"]
        for c in ("g_r", "r_i"):
            truth.loc[lens, f"source_colour_{c}_true"] = truth.loc[lens, f"colour_{c}_true"]
        return truth, components, owner

    monkeypatch.setattr(tiles_module, "draw_tile_objects", host_coloured_arcs)
    control = _lens_hosts(seeds)
    np.testing.assert_array_equal(control["MAG_AUTO"], hosts["MAG_AUTO"])
    np.testing.assert_array_equal(control["MAG_GAAP_r"], hosts["MAG_GAAP_r"])
    control_shift = control["COLOUR_GAAP_g_r"] - control["colour_g_r_true"]
    assert control_shift.abs().max() < 0.05
    assert (shift < control_shift - 0.05).all()
    assert lrg_cut(control).mean() >= 0.9 and lrg_cut(hosts).mean() < lrg_cut(control).mean() - 0.2


def test_kron_radius_is_sextractors_scaled_radius(tile, matched, fixture_rows):
    """KRON_RADIUS is SExtractor's k r_kron (KiDS' PHOT_AUTOPARAMS 2.5, 3.5): the MAG_AUTO aperture's semi-axes in
    units of A and B, at least 3.5, in the real catalogue's range for ordinary galaxies."""
    from photutils.aperture import EllipticalAperture

    cat = tile.catalog
    assert cat["KRON_RADIUS"].min() >= 3.5 - 1e-9
    assert fixture_rows["KRON_RADIUS"].min() >= 3.5
    galaxies = matched[matched["object_type"].isin(["elliptical", "spiral", "edge_on"]) & (matched["Flag"] == 0)
                       & (matched["mag_r_true"] < 22)]
    assert len(galaxies) >= 3
    low, high = fixture_rows["KRON_RADIUS"].min(), fixture_rows["KRON_RADIUS"].max()
    assert galaxies["KRON_RADIUS"].between(3.5, 8.0).all() and low <= galaxies["KRON_RADIUS"].median() <= high
    # the aperture of k r_kron A, k r_kron B holds the MAG_AUTO flux
    to_pix = constants.KIDS_CATALOG_PIXEL_SCALE_ARCSEC / constants.KIDS_COADD_PIXEL_SCALE_ARCSEC
    mags = []
    for _, g in galaxies.iterrows():
        a, b = (g[c] * 3600 / constants.KIDS_COADD_PIXEL_SCALE_ARCSEC * g["KRON_RADIUS"] for c in ("A_WORLD", "B_WORLD"))
        aperture = EllipticalAperture(((g["Xpos"] - 1) * to_pix, (g["Ypos"] - 1) * to_pix), a, b,
                                      theta=np.radians(g["THETA_J2000"] + 90.0))
        mags.append(tile.header["ZEROPT"] - 2.5 * np.log10(aperture.do_photometry(tile.image)[0][0]))
    assert np.median(np.abs(np.array(mags) - galaxies["MAG_AUTO"])) < 1e-3


def test_tile_without_objects_has_empty_tables_with_their_columns(tile, tmp_path):
    empty = ["size_pix=200", "n_galaxies=0", "n_stars=0", "n_lenses=0", "n_bright_stars=0"]
    mock = make_tile("MOCK_0", 0, 1, parse_overrides(empty))
    assert len(mock.truth) == 0
    pd.testing.assert_series_equal(mock.truth.dtypes, tile.truth.dtypes)
    assert list(mock.catalog.columns) == list(CATALOG_COLUMNS)
    pd.testing.assert_series_equal(mock.catalog.dtypes, tile.catalog.dtypes)
    out = {k: tmp_path / f"{k}.{'parquet' if k in ('catalog', 'truth') else 'fits'}"
           for k in ("image", "weight", "mask", "catalog", "truth")}
    rc = main(["mock-survey", "--tile", "MOCK_0", "--index", "0", "--seed", "1",
               "--out-image", str(out["image"]), "--out-weight", str(out["weight"]), "--out-mask", str(out["mask"]),
               "--out-catalog", str(out["catalog"]), "--out-truth", str(out["truth"]),
               *(a for s in empty for a in ("--set", s))])
    assert rc == 0
    truth = pd.read_parquet(out["truth"])
    assert len(truth) == 0 and list(truth.columns) == list(tile.truth.columns)
    assert list(pd.read_parquet(out["catalog"]).columns) == list(CATALOG_COLUMNS)


@pytest.mark.parametrize("index, u_is_worst", [(0, False), (1, True)])
def test_gaap_photometry_is_matched_to_the_worst_psf_of_the_rendered_bands(index, u_is_worst):
    """docs/surveys.md, `--bands`: rendering u as well leaves the images, truth and detections as they were; the
    g, r, i GAaP magnitudes change only where u's PSF is the worst of the tile's rendered bands."""
    cfg = parse_overrides(["size_pix=600", "n_lenses=1"])
    gri = make_tile(f"MOCK_{index}", index, 42, cfg, bands=["g", "r", "i"])
    griu = make_tile(f"MOCK_{index}", index, 42, cfg, bands=["g", "r", "i", "u"])
    fwhm = {band: header["PSF_FWHM"] for band, (_, _, header) in griu.bands.items()}
    assert (max(fwhm, key=fwhm.get) == "u") is u_is_worst
    for band in "gri":
        np.testing.assert_array_equal(griu.bands[band][0], gri.bands[band][0])
    pd.testing.assert_frame_equal(griu.truth, gri.truth)
    pd.testing.assert_series_equal(griu.catalog["ID"], gri.catalog["ID"])
    columns = ["MAG_GAAP_g", "MAG_GAAP_r", "MAG_GAAP_i", "COLOUR_GAAP_g_r", "COLOUR_GAAP_r_i"]
    if u_is_worst:
        change = (griu.catalog[columns] - gri.catalog[columns]).abs().median()
        assert (change[columns[:3]] > 0.01).all(), change
    else:
        pd.testing.assert_frame_equal(griu.catalog[columns], gri.catalog[columns])


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
    # the bound an integer setting has, whatever the bad value
    for value in ("abc", "2.5", "150", "true"):
        with pytest.raises(InputError, match=r"--set: size_pix: expected an integer >= 200, got"):
            parse_overrides([f"size_pix={value}"])
    # a row of tiles past the pole: tile 8 of a field at Dec 89 with four tiles a row
    high = mock_survey_config({"field_dec_deg": 89.0})
    assert tile_center(3, high) == (183.0, 89.0)
    with pytest.raises(InputError, match="tile 4 of field_dec_deg 89.0.* lies at Dec 90 deg"):
        tile_center(4, high)


#: settings that ran into NaN pixels, negative Einstein radii or a photutils traceback: (key, value, expected)
BAD_DETECTION_AND_NOISE_SETTINGS = [
    ("read_noise_fraction", 1, r"a fraction of the background variance in \[0, 1\)"),
    ("read_noise_fraction", 1.5, r"a fraction of the background variance in \[0, 1\)"),
    ("read_noise_fraction", -0.5, r"a fraction of the background variance in \[0, 1\)"),
    ("read_noise_fraction", float("nan"), r"a fraction of the background variance in \[0, 1\)"),
    ("theta_E_arcsec", [-1, 1], r"Einstein radii with 0 < low <= high"),
    ("theta_E_arcsec", [0, 0], r"Einstein radii with 0 < low <= high"),
    ("theta_E_arcsec", [3, 1], r"a range \[low, high\]"),
    ("theta_E_arcsec", [1, float("inf")], r"a range \[low, high\]"),
    ("detect_npixels", 0, "an integer >= 1"),
    ("deblend_nlevels", 0, "an integer >= 1"),
    ("deblend_contrast", 2, r"a flux fraction in \[0, 1\]"),
    ("deblend_contrast", -0.1, r"a flux fraction in \[0, 1\]"),
]


@pytest.mark.parametrize("key, value, expected", BAD_DETECTION_AND_NOISE_SETTINGS)
def test_bad_detection_and_noise_settings_are_refused_naming_the_key(key, value, expected):
    with pytest.raises(InputError, match=rf"^config: mock.params: {key}: expected .*{expected}.*, got "):
        mock_survey_config({key: value}, "config: mock.params")


def test_detection_and_noise_settings_at_their_bounds_make_a_tile():
    cfg = mock_survey_config({"size_pix": 200, "n_lenses": 1, "read_noise_fraction": 0.0, "theta_E_arcsec": [0.5, 0.5],
                              "detect_npixels": 1, "deblend_nlevels": 1, "deblend_contrast": 1.0})
    mock = make_tile("MOCK_0", 0, 1, cfg)
    assert np.isfinite(mock.image).all() and mock.header["GAIN"] > 0
    assert mock.truth.loc[mock.truth["is_lens"], "theta_E"].tolist() == [0.5]
    assert mock_survey_config({"read_noise_fraction": 0.99, "deblend_contrast": 0.0}).deblend_contrast == 0.0


@early_test(12, prepare=copy_workflow)
def test_dry_run_names_bad_detection_and_noise_settings(workdir):
    """mock.params are checked when the workflow reads its configuration (workflow/rules/common.smk)."""
    for key, value in (("read_noise_fraction", "1.5"), ("theta_E_arcsec", "[-1, 1]"), ("detect_npixels", "0"),
                       ("deblend_nlevels", "0"), ("deblend_contrast", "2")):
        (workdir / "bad.yaml").write_text(f"mock: {{params: {{size_pix: 900, {key}: {value}}}}}\n")
        result = snakemake(workdir, "-n", "--configfile", "bad.yaml", check=False)
        assert result.returncode != 0
        assert f"config: mock.params: {key}: expected " in result.stdout + result.stderr, key


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


def test_detection_area_is_the_same_on_the_sky_at_every_pixel_scale():
    """At Euclid's 0.1"/px, KiDS's 5 connected pixels (a quarter of KiDS's area) detect noise peaks and
    galaxies' knots: the default area is 0.2 arcsec^2 in the preset's pixels, so a Euclid tile holds about
    as many detections as objects, as a KiDS tile does."""
    cfg = parse_overrides(["preset=euclid", "size_pix=600", "n_lenses=1", "n_bright_stars=0"])
    assert cfg.detection_npixels(0.1) == 20 and cfg.detection_npixels(0.2) == 5
    assert parse_overrides(["detect_npixels=7"]).detection_npixels(0.1) == 7
    euclid = make_tile("MOCK_0", 0, 7, cfg)
    kids_area_in_pixels = make_tile("MOCK_0", 0, 7, parse_overrides(
        ["preset=euclid", "size_pix=600", "n_lenses=1", "n_bright_stars=0", "detect_npixels=5"]))
    n_objects = len(euclid.truth)
    assert len(euclid.catalog) < 2 * n_objects
    assert len(kids_area_in_pixels.catalog) > 2 * len(euclid.catalog)
