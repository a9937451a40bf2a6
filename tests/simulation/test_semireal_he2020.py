"""Semi-real He et al. (2020) recipe, second-stage augmentation and tile ePSFs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder import simulation as sim
from lensfinder.io import InputError, read_table, write_cube, write_table
from lensfinder.simulation.semireal import augment_image, host_flux, host_stamp, sky_sigma

TILE = "MOCK_T"


def _index(n, psf, disk):
    return pd.DataFrame({
        "object_id": [f"KiDS-{i}" for i in range(n)], "tile": TILE, "ra": 0.0, "dec": 0.0, "x_pix": 0.0,
        "y_pix": 0.0, "edge": False, "masked_fraction": 0.0, "nan_fraction": 0.0, "psf_fwhm_arcsec": psf,
        "zeropoint_mag": 30.0, "pixel_scale_arcsec": 0.2, "lrg_li2020": ~np.asarray(disk), "disk": disk})


@pytest.fixture(scope="module")
def host_dir(tmp_path_factory):
    """12 simulated ellipticals (LRG flag) + 4 bulge+disk galaxies (``disk`` flag), 101 x 101 px."""
    ell, m1 = sim.simulate_shard("skeleton", 12, 7, 0, params={"lens_fraction": 0.0,
                                 "negative_mix": {"elliptical": 1.0}}, progress=False)
    disks, m2 = sim.simulate_shard("skeleton", 4, 7, 1, params={"lens_fraction": 0.0,
                                   "negative_mix": {"bulge_disk": 1.0}}, progress=False)
    path = tmp_path_factory.mktemp("stamps")
    write_cube(np.concatenate([ell, disks]), path / "t.fits", 0.2, 30.0)
    psf = np.concatenate([m1["psf_fwhm_arcsec"], m2["psf_fwhm_arcsec"]])
    write_table(_index(16, psf, [False] * 12 + [True] * 4), path / "t.parquet")
    return path


@pytest.fixture(scope="module")
def he_shard(host_dir):
    params = {"host_stamps": [str(host_dir)], "psf_model": "gaussian", "disk_flag": "disk", "disk_fraction": 0.4}
    return sim.simulate_shard("he2020_semireal", 16, 3, 0, params=params, progress=False)


def test_he2020_semireal_shard(he_shard):
    images, meta = he_shard
    assert images.shape == (16, 101, 101) and meta["is_lens"].sum() == 8
    lenses, negs = meta[meta["is_lens"]], meta[~meta["is_lens"]]
    assert lenses["host_row"].between(0, 11).all()  # LRG hosts only
    assert lenses["theta_E"].between(1.4, 5.0).all() and lenses["z_s"].notna().all()
    assert (lenses["n_subhalo"] > 0).any() and (lenses["gamma1"] == 0).all()
    assert set(negs["kind"]) == {"host", "host_disk"}
    assert negs.loc[negs["kind"] == "host_disk", "host_row"].between(12, 15).all()
    assert negs.loc[negs["kind"] == "host", "host_row"].between(0, 11).all()
    assert meta["aug_rotation_deg"].between(0, 360).all() and meta["aug_rotation_deg"].nunique() == 16
    for e in ("left", "right", "bottom", "top"):
        assert meta[f"aug_crop_{e}"].between(0, 5).all()
    assert (meta["aug_rot90"] == 0).all() and not meta["aug_flip"].any() and (meta["aug_flux_scale"] == 1).all()
    assert meta["arc_peak_ratio"].isna().all() and negs["arc_flux_ratio"].isna().all()


def test_he2020_semireal_flux_ratio(he_shard):
    _, meta = he_shard
    lenses = meta[meta["is_lens"]]
    assert lenses["arc_flux_ratio"].between(0.02, 0.12).all()
    arcs = sim.render_images(lenses, noiseless=True, with_hosts=False)
    for k, i in enumerate(lenses.index):
        r = meta.loc[i]
        flux = host_flux(host_stamp(r["host_file"], r["host_row"]), 3.0, 0.2)
        assert r["host_flux"] == pytest.approx(flux, rel=1e-9)
        assert arcs[k].sum(dtype=np.float64) / flux == pytest.approx(r["arc_flux_ratio"], rel=1e-4)


def test_he2020_semireal_rerenders_from_metadata(he_shard, tmp_path):
    images, meta = he_shard
    path = tmp_path / "m.parquet"
    write_table(meta, path)
    back = pd.read_parquet(path)
    for i in range(len(back)):
        np.testing.assert_array_equal(sim.render_from_metadata(back.iloc[i]), images[i])
    np.testing.assert_array_equal(sim.render_images(back.iloc[::-1]), images[::-1])


def test_negatives_are_rotated_cropped_hosts(he_shard):
    images, meta = he_shard
    for i in meta.index[~meta["is_lens"]][:3]:
        r = meta.loc[i]
        crop = tuple(int(r[f"aug_crop_{e}"]) for e in ("left", "right", "bottom", "top"))
        expected = augment_image(host_stamp(r["host_file"], r["host_row"]), r["aug_rotation_deg"], 0, 0, crop,
                                 1.0, r["aug_seed"])
        np.testing.assert_array_equal(images[i], expected)


def _blob(n=101, sky=1.0, seed=0):
    """An elongated Gaussian galaxy left of the centre on Gaussian sky noise."""
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    gal = 400.0 * np.exp(-0.5 * (((xx + 15) / 6.0) ** 2 + (yy / 3.0) ** 2))
    return (gal + np.random.default_rng(seed).normal(0, sky, (n, n))).astype(np.float32), gal


def test_augment_image_rotation_crop_shift_and_fill():
    img, gal = _blob()
    # 90 deg through the interpolation path agrees with the exact rotation away from the edges
    near = augment_image(gal.astype(np.float32), 90.0 + 1e-7, order=3)
    np.testing.assert_allclose(near[5:-5, 5:-5], np.rot90(gal, -1)[5:-5, 5:-5], atol=1e-3 * gal.max())
    np.testing.assert_array_equal(augment_image(gal.astype(np.float32), 90.0), np.rot90(gal.astype(np.float32), -1))
    # 45 deg: the galaxy keeps its flux, the empty corners get the image's noise level
    out = augment_image(img, 45.0, seed=3)
    assert out[15:86, 15:86].sum() == pytest.approx(gal.sum(), rel=0.02)
    corner = out[:12, :12]
    assert np.std(corner) == pytest.approx(sky_sigma(img), rel=0.25) and abs(np.mean(corner)) < 0.3
    # crops are refilled with noise, the rest untouched
    cropped = augment_image(img, 0.0, crop=(2, 0, 5, 1), seed=4)
    np.testing.assert_array_equal(cropped[5:-1, 2:], img[5:-1, 2:])
    assert not np.array_equal(cropped[:5], img[:5]) and np.std(cropped[:5]) == pytest.approx(1.0, rel=0.2)
    # whole-pixel shifts are exact, the flux rescale multiplies
    shifted = augment_image(img, 0.0, 3, -2, flux_scale=1.1, seed=5)
    np.testing.assert_allclose(shifted[:-2, 3:], 1.1 * img[2:, :-3], rtol=1e-6)
    np.testing.assert_array_equal(augment_image(img, 45.0, seed=3), out)  # seeded


# ---------------------------------------------------------------- ePSF


@pytest.fixture(scope="module")
def mock_tile(tmp_path_factory):
    """A small mock-survey tile with enough stars for an ePSF (files as the workflow writes them)."""
    from lensfinder.surveys.mock.tiles import MockSurveyConfig, make_tile, write_tile

    d = tmp_path_factory.mktemp("survey")
    cfg = MockSurveyConfig(size_pix=600, n_stars=40, n_bright_stars=0, n_lenses=0)
    tile = make_tile(TILE, 0, 3, cfg)
    (d / "tiles").mkdir()
    (d / "catalog").mkdir()
    write_tile(tile, d / "tiles" / f"{TILE}.fits", d / "tiles" / f"{TILE}.weight.fits",
               d / "tiles" / f"{TILE}.mask.fits", d / "catalog" / f"{TILE}.parquet", d / "truth.parquet")
    return d, tile


def test_epsf_matches_the_tile_seeing(mock_tile):
    from lensfinder.simulation.epsf import build_tile_psf, kernel_fwhm_arcsec, tile_psf_kernel

    d, tile = mock_tile
    psf = tile_psf_kernel(str(d / "tiles" / f"{TILE}.fits"), str(d / "catalog" / f"{TILE}.parquet"))
    true_fwhm = float(tile.header["PSF_FWHM"])
    assert psf.method == "epsf" and psf.n_stars >= 10
    assert psf.kernel.shape == (25, 25) and psf.kernel.sum() == pytest.approx(1.0)
    assert kernel_fwhm_arcsec(psf.kernel, 0.2) == pytest.approx(true_fwhm, rel=0.10)
    # too few stars: the header seeing (a Moffat with the tile's beta)
    fallback = build_tile_psf(tile.image, tile.header, tile.catalog, {"min_stars": 1000})
    assert fallback.method == "fallback_moffat" and fallback.n_stars == 0
    assert kernel_fwhm_arcsec(fallback.kernel, 0.2) == pytest.approx(true_fwhm, rel=0.05)


def test_psf_stars_are_read_from_the_sg2dphot_bitmap(mock_tile):
    """KiDS's SG2DPHOT is a bitmap (1 a high-confidence star, 2 unreliable, 4 a star by the star/galaxy
    separation; 5 = 1 + 4): the stars of a catalogue flagged 5, as real DR4 stars can be, are still PSF stars;
    2 + 1 (unreliable) and 4 alone are not. The mock writes 1."""
    from astropy.wcs import WCS

    from lensfinder.simulation.epsf import EPSF_DEFAULTS, select_psf_stars

    _, tile = mock_tile
    wcs = WCS(tile.header).celestial
    chosen = {}
    for flag in (1, 5, 3, 4):
        catalog = tile.catalog.assign(SG2DPHOT=np.where(tile.catalog["SG2DPHOT"] == 1, flag, 0))
        x, _ = select_psf_stars(catalog, tile.image, wcs, dict(EPSF_DEFAULTS), 0.2)
        chosen[flag] = len(x)
    assert chosen[1] >= 10 and chosen[5] == chosen[1] and chosen[3] == chosen[4] == 0


def test_a_moffat_fitted_to_the_tiles_stars_finds_its_psf(mock_tile):
    """tile_moffat: the tile's FWHM to 0.01" and beta to 0.4 from its stars (a pixel-integrated Moffat2D;
    a profile at pixel centres reads the FWHM 0.01-0.02" too large), with uncertainties that cover them."""
    from lensfinder.simulation.tile_moffat import tile_moffat

    from astropy.wcs import WCS

    _, tile = mock_tile
    fit = tile_moffat(tile.image, WCS(tile.header).celestial, float(tile.header["PIXSCALE"]), tile.catalog)
    true_fwhm, true_beta = float(tile.header["PSF_FWHM"]), float(tile.header["MOFFBETA"])
    assert fit.n_stars >= 10
    assert abs(fit.fwhm_arcsec - true_fwhm) < 0.01 and abs(fit.beta - true_beta) < 0.4
    assert 0 < fit.fwhm_err_arcsec < 0.01 and 0 < fit.beta_err < 0.4


def test_star_moffats_are_pixel_integrated_and_skip_what_they_cannot_fit():
    """Stars drawn pixel-integrated (the mock survey's render_stars) at two PSFs: each fitted to 0.005" and
    0.15 in beta; a star too near the edge or on a NaN is skipped; fewer than three: NaN, the stars counted."""
    from lensfinder.simulation.tile_moffat import fit_star_moffats
    from lensfinder.surveys.mock.render import render_stars

    rng = np.random.default_rng(7)
    x, y = np.meshgrid(np.arange(40, 400, 60), np.arange(40, 400, 60))
    x, y = x.ravel() + rng.uniform(-0.5, 0.5, x.size), y.ravel() + rng.uniform(-0.5, 0.5, y.size)
    for fwhm, beta in ((0.65, 4.5), (0.9, 2.8)):
        image = rng.normal(0.0, 1.0, (440, 440))
        render_stars(image, x, y, np.full(x.size, 3e4), fwhm, beta, 0.2)
        image[y[1].astype(int), x[1].astype(int) + 3] = np.nan
        fit = fit_star_moffats(image, [*x, 5.0], [*y, 200.0], 0.2)
        assert fit.n_stars == x.size - 1
        assert fit.fwhm_arcsec == pytest.approx(fwhm, abs=0.005) and fit.beta == pytest.approx(beta, abs=0.15)
    none = fit_star_moffats(image, [], [], 0.2)
    assert none.n_stars == 0 and np.isnan(none.fwhm_arcsec) and np.isnan(none.beta)
    two = fit_star_moffats(image, x[2:4], y[2:4], 0.2)  # fewer than MOFFAT_MIN_STARS (3): no fit, the stars counted
    assert two.n_stars == 2 and np.isnan(two.fwhm_arcsec)


def test_semireal_arcs_with_tile_epsf(mock_tile, host_dir):
    pytest.importorskip("lenstronomy")
    from simulation.lenstronomy_reference import lenstronomy_image

    d, _ = mock_tile
    params = {"host_stamps": [str(host_dir)], "psf_tiles": [str(d / "tiles" / f"{TILE}.fits")],
              "psf_catalogs": [str(d / "catalog")], "disk_fraction": 0.0}  # a file, or its directory
    images, meta = sim.simulate_shard("he2020_semireal", 4, 5, 0, params=params, progress=False)
    assert (meta["psf_model"] == "epsf").all() and (meta["epsf_n_stars"] >= 10).all()
    assert (meta["psf_tile_file"] == str(d / "tiles" / f"{TILE}.fits")).all()
    assert (meta["psf_catalog_file"] == str(d / "catalog" / f"{TILE}.parquet")).all()
    assert meta["psf_kernel_hash"].nunique() == 1
    for i in range(len(meta)):
        np.testing.assert_array_equal(sim.render_from_metadata(meta.iloc[i]), images[i])
    lenses = meta[meta["is_lens"]].reset_index(drop=True)
    arcs = sim.render_images(lenses, noiseless=True, with_hosts=False)
    for i in range(len(lenses)):  # the ePSF-convolved arc, with subhaloes, against lenstronomy's PIXEL PSF
        ref = lenstronomy_image(lenses.iloc[i])
        assert np.max(np.abs(arcs[i] - ref)) < 1e-3 * ref.max()
    bad = meta.iloc[0].copy()
    bad["psf_kernel_hash"] = "0" * 16
    with pytest.raises(InputError, match="psf_kernel_hash"):
        sim.render_from_metadata(bad)
    # li2020 takes the option too
    _, li = sim.simulate_shard("li2020", 2, 5, 0, params={**params, "psf_model": "epsf"}, progress=False)
    assert (li["psf_model"] == "epsf").all()
    with pytest.raises(InputError, match="not found"):
        sim.simulate_shard("he2020_semireal", 2, 5, 0, progress=False,
                           params={**params, "psf_tiles": [str(d / "nowhere")]})
    with pytest.raises(InputError, match=f"psf_tiles: no {TILE}.fits"):
        sim.simulate_shard("he2020_semireal", 2, 5, 0, progress=False,
                           params={**params, "psf_tiles": [str(d / "tiles" / "OTHER.fits")]})


def test_tile_epsf_files_come_from_the_command_line(mock_tile, host_dir, tmp_path):
    """The rule passes the tiles and catalogues (--psf-tiles, --psf-catalogs); no default path in the library."""
    from lensfinder.cli import main

    d, _ = mock_tile
    base = ["simulate", "--recipe", "he2020_semireal", "--n", "2", "--seed", "5", "--set",
            f"host_stamps=[{host_dir}]", "--set", "disk_fraction=0"]
    tiles = ["--psf-tiles", str(d / "tiles" / f"{TILE}.fits"), "--psf-catalogs", str(d / "catalog" / f"{TILE}.parquet")]
    assert main([*base, "--out", str(tmp_path / "cli"), *tiles]) == 0
    meta = read_table(tmp_path / "cli" / "shard_000.parquet")
    # the former --set spelling (directories) gives the same files
    _, direct = sim.simulate_shard("he2020_semireal", 2, 5, 0, progress=False, params={
        "host_stamps": [str(host_dir)], "disk_fraction": 0.0, "psf_tile_dir": str(d / "tiles"),
        "psf_catalog_dir": str(d / "catalog")})
    pd.testing.assert_frame_equal(meta, direct)
    with pytest.raises(InputError, match="psf_tiles"):
        sim.recipe_params("he2020_semireal", {"host_stamps": ["x"], "disk_fraction": 0.0})
    with pytest.raises(InputError, match="given twice"):
        sim.recipe_params("he2020_semireal", {"psf_tiles": ["a"], "psf_tile_dir": "b"})
    assert main([*base, "--out", str(tmp_path / "none")]) == 2  # psf_model=epsf needs the files
    assert not (tmp_path / "none").exists()


# ---------------------------------------------------------------- bad input


def _bad_hosts(tmp_path, stamps, name):
    write_cube(stamps, tmp_path / f"{name}.fits", 0.2, 30.0)
    index = _index(len(stamps), 0.7, [False] * len(stamps)).drop(columns=["nan_fraction"])
    index["object_id"] = [f"{name}-{i}" for i in range(len(stamps))]
    write_table(index, tmp_path / f"{name}.parquet")
    return str(tmp_path / f"{name}.fits")


@pytest.mark.parametrize("what, match", [("nan", "NaN.*nan-0"), ("zeros", "all zeros.*zeros-0")])
def test_bad_host_stamps_name_the_object_and_write_nothing(tmp_path, what, match):
    from lensfinder.cli import main

    stamps = np.zeros((1, 101, 101), dtype=np.float32)
    if what == "nan":
        stamps[0] = 1.0
        stamps[0, 50, 50] = np.nan
    path = _bad_hosts(tmp_path, stamps, what)
    params = {"host_stamps": [path], "psf_model": "gaussian", "disk_fraction": 0.0}
    with pytest.raises(InputError, match=match):
        sim.simulate_shard("he2020_semireal", 2, 1, 0, params=params, progress=False)
    out = tmp_path / "out"
    rc = main(["simulate", "--recipe", "he2020_semireal", "--n", "2", "--out", str(out),
               "--set", f"host_stamps=[{path}]", "--set", "psf_model=gaussian", "--set", "disk_fraction=0"])
    assert rc == 2 and (not out.exists() or not any(out.iterdir()))


def test_he2020_semireal_bad_settings(host_dir):
    with pytest.raises(InputError, match="host_stamps"):
        sim.recipe_params("he2020_semireal", {"host_stamps": []})
    with pytest.raises(InputError, match="disk_stamps/disk_flag"):
        sim.recipe_params("he2020_semireal", {"host_stamps": [str(host_dir)]})
    for key, value in (("arc_flux_ratio", [0.1, 0.02]), ("aug_crop_pix", [0, 60]), ("aug_shift_pix", [-1.5, 2]),
                       ("disk_fraction", 2.0), ("epsf_settings", {"size_pix": 24}), ("aug_interpolation_order", 7)):
        with pytest.raises(InputError, match=key):
            sim.recipe_params("he2020_semireal", {"host_stamps": ["x"], "disk_fraction": 0.0, key: value})
    with pytest.raises(InputError, match="disk_flag"):
        sim.simulate_shard("he2020_semireal", 4, 1, 0, progress=False,
                           params={"host_stamps": [str(host_dir)], "psf_model": "gaussian", "disk_flag": "spiral",
                                   "disk_fraction": 1.0})


def test_a_host_flag_the_stamp_index_lacks_is_refused_not_ignored(host_dir):
    # the stamps of a sample the preselection did not flag: every stamp would silently become a host
    with pytest.raises(InputError, match=r"host_flag: column 'lrg_li202' not in the stamp index of .*t\.fits.*lrg_li2020"):
        sim.simulate_shard("he2020_semireal", 4, 1, 0, progress=False,
                           params={"host_stamps": [str(host_dir)], "psf_model": "gaussian", "disk_flag": "disk",
                                   "host_flag": "lrg_li202", "disk_fraction": 0.0})
