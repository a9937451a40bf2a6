"""Every simulated image re-creates from its metadata row: the recipe settings that the render takes are
in the row (``grf_slope``), every band's tile ePSF is checked against its recorded hash, a tile layout that
cannot give every band's ePSF is refused early, list columns keep their type in any shard."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lensfinder import simulation as sim
from lensfinder.io import InputError, read_table, write_cube, write_table

TILE = "MOCK_R"
GRI = ["g", "r", "i"]


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """8 simulated ellipticals in g, r, i (101 x 101 px) as a stamps-stage cube and index of tile TILE."""
    images, meta = sim.simulate_shard("skeleton", 8, 7, 0, params={"lens_fraction": 0.0, "bands": GRI,
                                      "negative_mix": {"elliptical": 1.0}}, progress=False)
    path = tmp_path_factory.mktemp("hosts")
    write_cube(images, path / "t.fits", 0.2, 30.0, bands=GRI)
    index = pd.DataFrame({
        "object_id": [f"KiDS-{i}" for i in range(8)], "tile": TILE, "ra": 0.0, "dec": 0.0, "x_pix": 0.0,
        "y_pix": 0.0, "edge": False, "masked_fraction": 0.0, "nan_fraction": 0.0,
        "psf_fwhm_arcsec": meta["psf_fwhm_arcsec"], "zeropoint_mag": 30.0, "pixel_scale_arcsec": 0.2,
        "lrg_li2020": True, "psf_fwhm_arcsec_g": meta["psf_fwhm_arcsec_g"],
        "psf_fwhm_arcsec_i": meta["psf_fwhm_arcsec_i"]})
    write_table(index, path / "t.parquet")
    return path


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """A mock-survey tile in g, r, i with stars for an ePSF: tiles/{TILE}.{band}.fits, catalog/{TILE}.parquet."""
    from lensfinder.surveys.mock.tiles import MockSurveyConfig, make_tile, write_tile

    d = tmp_path_factory.mktemp("survey")
    (d / "tiles").mkdir()
    (d / "catalog").mkdir()
    tile = make_tile(TILE, 0, 3, MockSurveyConfig(size_pix=400, n_stars=30, n_bright_stars=0, n_lenses=0), bands=GRI)
    write_tile(tile, {b: d / "tiles" / f"{TILE}.{b}.fits" for b in GRI},
               {b: d / "tiles" / f"{TILE}.{b}.weight.fits" for b in GRI}, d / "tiles" / f"{TILE}.mask.fits",
               d / "catalog" / f"{TILE}.parquet", d / "truth.parquet")
    return d


def _epsf_params(hosts, tiles, catalogs):
    return {"host_stamps": [str(hosts)], "disk_fraction": 0.0, "bands": GRI, "psf_tiles": [str(tiles)],
            "psf_catalogs": [str(catalogs)], "epsf_settings": {"max_stars": 8, "maxiters": 2, "oversampling": 2, "size_pix": 15}}


def test_grf_slope_is_in_the_row(hosts, tmp_path):
    params = {"host_stamps": [str(hosts)], "grf_slope": 3.0, "grf_deflection_rms_arcsec": [0.05, 0.1],
              "lens_fraction": 1.0, "bands": GRI}
    images, meta = sim.simulate_shard("li2020", 3, 1, 0, params=params, progress=False)
    assert (meta["grf_slope"] == 3.0).all() and (meta["grf_deflection_rms_arcsec"] > 0).all()
    cols = list(meta.columns)
    assert cols.index("grf_slope") == cols.index("grf_deflection_rms_arcsec") + 1
    write_table(meta, tmp_path / "m.parquet")
    back = read_table(tmp_path / "m.parquet")
    for i in range(len(back)):
        for k, band in enumerate(GRI):
            np.testing.assert_array_equal(sim.render_from_metadata(back.iloc[i], band=band), images[i, k])
    # rows written before the column: the slope given (default 6.0, the recipe's default)
    old = back.drop(columns="grf_slope")
    np.testing.assert_array_equal(sim.render_images(old, grf_slope=3.0), images[:, 1])
    default = sim.render_images(old)
    assert not np.array_equal(default, images[:, 1])
    np.testing.assert_array_equal(default, sim.render_images(back.assign(grf_slope=6.0)))
    np.testing.assert_array_equal(sim.render_images(back.assign(grf_slope=np.nan), grf_slope=3.0), images[:, 1])
    # the recipe's default slope: the column records 6.0 (a recipe without a GRF too)
    _, plain = sim.simulate_shard("skeleton", 2, 1, 0, progress=False)
    assert (plain["grf_slope"] == 6.0).all()


def test_every_band_tile_epsf_is_checked(hosts, survey, tmp_path):
    params = _epsf_params(hosts, survey / "tiles", survey / "catalog")
    images, meta = sim.simulate_shard("he2020_semireal", 2, 5, 0, params=params, progress=False)
    assert (meta["psf_model"] == "epsf").all()
    hashes = {b: meta[f"psf_kernel_hash_{b}" if b != "r" else "psf_kernel_hash"].iat[0] for b in GRI}
    assert all(len(h) == 16 for h in hashes.values()) and len(set(hashes.values())) == 3  # each band's own ePSF
    for b in ("g", "i"):
        assert (meta[f"psf_tile_file_{b}"] == str(survey / "tiles" / f"{TILE}.{b}.fits")).all()
    for i in range(len(meta)):
        for k, band in enumerate(GRI):
            np.testing.assert_array_equal(sim.render_from_metadata(meta.iloc[i], band=band), images[i, k])
    # the g tile changed since the shard was made (re-reduced, say): refused, as a changed r tile is
    from astropy.io import fits

    changed = tmp_path / "tiles"
    shutil.copytree(survey / "tiles", changed)
    with fits.open(changed / f"{TILE}.g.fits", mode="update") as hdul:
        hdul[0].data = (hdul[0].data + np.random.default_rng(0).normal(0, 5, hdul[0].data.shape)).astype(
            hdul[0].data.dtype)
    row = meta.iloc[0].copy()
    for c in ("psf_tile_file", "psf_tile_file_g", "psf_tile_file_i"):
        row[c] = str(changed / Path(row[c]).name)
    np.testing.assert_array_equal(sim.render_from_metadata(row, band="i"), images[0, 2])
    with pytest.raises(InputError, match=f"{TILE}.g.fits: psf_kernel_hash_g: the tile's ePSF is"):
        sim.render_from_metadata(row, band="g")
    # metadata written before the bands' hashes (empty): not checked
    row["psf_kernel_hash_g"] = ""
    assert sim.render_from_metadata(row, band="g").shape == images[0, 0].shape
    # ... and rows made from a one-band tile {tile}.fits beside the others (no tile of this band): named
    row["psf_tile_file_g"] = ""
    with pytest.raises(InputError, match="metadata: psf_tile_file_g: empty in a row with psf_model epsf"):
        sim.render_from_metadata(row, band="g")


def test_a_one_band_tile_name_beside_bands_is_refused_early(hosts, tmp_path):
    tiles, catalogs = tmp_path / "tiles", tmp_path / "catalog"
    tiles.mkdir()
    catalogs.mkdir()
    (catalogs / f"{TILE}.parquet").write_bytes(b"")
    for name in (f"{TILE}.fits", f"{TILE}.g.fits", f"{TILE}.i.fits"):  # placeholders: refused before reading
        (tiles / name).write_bytes(b"")
    params = _epsf_params(hosts, tiles, catalogs)
    expected = f"expected {TILE}.g.fits, {TILE}.r.fits, {TILE}.i.fits in {tiles}"
    with pytest.raises(InputError, match=f"psf_tiles: {tiles / TILE}.fits: a tile image of one band .*{expected}"):
        sim.simulate_shard("he2020_semireal", 2, 5, 0, params=params, progress=False)
    (tiles / f"{TILE}.fits").rename(tiles / f"{TILE}.r.fits")
    (tiles / f"{TILE}.i.fits").unlink()
    with pytest.raises(InputError, match=f"psf_tiles: {tiles / TILE}.i.fits: band i's tile image for the ePSF not"):
        sim.simulate_shard("he2020_semireal", 2, 5, 0, params=params, progress=False)
    # the other bands' tile of a one-band name: an error naming it, not a path ""
    from lensfinder.simulation.epsf import band_tile_file

    assert band_tile_file(f"/t/{TILE}.r.fits", "r", "g") == f"/t/{TILE}.g.fits" and band_tile_file("", "r", "g") == ""
    with pytest.raises(InputError, match=f"psf_tile_file: /t/{TILE}.fits: a tile image of one band"):
        band_tile_file(f"/t/{TILE}.fits", "r", "g")


def test_empty_list_columns_are_stored_as_lists_of_floats(tmp_path):
    import pyarrow.parquet as pq

    images, meta = sim.simulate_shard("skeleton", 3, 1, 0, params={"bands": GRI}, progress=False)
    assert (meta["n_subhalo"] == 0).all()  # skeleton draws no subhalo, no lensed point images
    write_table(meta, tmp_path / "m.parquet")
    schema = pq.read_schema(tmp_path / "m.parquet")
    for c in ("subhalo_theta_E", "subhalo_mass_msun", "point_amp", "point_amp_g"):
        assert str(schema.field(c).type) == "list<element: double>", c
    back = read_table(tmp_path / "m.parquet")
    for i in range(len(back)):
        np.testing.assert_array_equal(sim.render_from_metadata(back.iloc[i], band="g"), images[i, 0])


def test_the_docs_say_that_key_order_changes_the_images():
    text = (Path(__file__).resolve().parents[2] / "docs" / "simulation.md").read_text()
    mixed = text.split("## Mixed sets", 1)[1].split("\n## ", 1)[0]
    order = mixed[mixed.index("Key order"):]
    for key in ("simulation.mix", "negative_mix", "source_mix", "lens_light_mix"):
        assert f"`{key}`" in order, key
    assert "another order" in order and "other" in order and "same statistics" in order
