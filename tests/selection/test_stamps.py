"""Stamps: WCS-centred cutouts, edge padding, fractions, selection, empty and bad input."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.io import InputError, read_cube
from lensfinder.surveys.mock.tiles import tile_wcs
from lensfinder.selection.cutouts import cut_stamps, stamp_fractions
from lensfinder.selection.stamps import INDEX_COLUMNS, extract_stamps, select_objects

SIZE = 21
NPIX = 200


def test_cut_stamps_interior_matches_slices_and_centre_convention():
    image = np.arange(NPIX * NPIX, dtype=np.float32).reshape(NPIX, NPIX)
    x = np.array([50.2, 100.0, 149.6])
    y = np.array([60.0, 99.5001, 140.4])
    stamps, edge = cut_stamps(image, x, y, SIZE)
    assert stamps.shape == (3, SIZE, SIZE) and stamps.dtype == np.float32
    assert not edge.any()
    for k in range(3):
        xc, yc = int(np.rint(x[k])), int(np.rint(y[k]))
        np.testing.assert_array_equal(stamps[k], image[yc - 10:yc + 11, xc - 10:xc + 11])
        assert stamps[k, SIZE // 2, SIZE // 2] == image[yc, xc]


def test_cut_stamps_pads_and_flags_edges():
    image = np.ones((NPIX, NPIX), dtype=">f4")  # FITS byte order in, native out
    x = np.array([0.0, 199.0, 100.0, 5.0, 100.0])
    y = np.array([100.0, 100.0, 0.0, 195.0, 100.0])
    stamps, edge = cut_stamps(image, x, y, SIZE, fill_value=0.0)
    assert stamps.dtype == np.dtype(np.float32)
    assert edge.tolist() == [True, True, True, True, False]
    c = SIZE // 2
    # left edge: columns left of the centre are padding
    assert (stamps[0][:, :c] == 0).all() and (stamps[0][:, c:] == 1).all()
    assert (stamps[1][:, c + 1:] == 0).all() and (stamps[1][:, :c + 1] == 1).all()
    assert (stamps[2][:c] == 0).all() and (stamps[2][c:] == 1).all()
    assert stamps[3].sum() == (c + 1 + 5) * (c + 1 + 4)
    assert (stamps[4] == 1).all()


def test_cut_stamps_agrees_with_cutout2d():
    from astropy.nddata import Cutout2D

    rng = np.random.default_rng(3)
    image = rng.standard_normal((NPIX, NPIX)).astype(np.float32)
    x = rng.uniform(-0.4, NPIX - 0.6, 40)
    y = rng.uniform(-0.4, NPIX - 0.6, 40)
    stamps, _ = cut_stamps(image, x, y, SIZE)
    for k in range(len(x)):
        ref = Cutout2D(image, (x[k], y[k]), SIZE, mode="partial", fill_value=0.0).data
        np.testing.assert_array_equal(stamps[k], ref)


@pytest.mark.parametrize("chunk", [1, 512])
def test_fractions_count_mask_weight_nan_and_padding(chunk, monkeypatch):
    monkeypatch.setattr("lensfinder.selection.cutouts.STAMP_CHUNK", chunk)
    image = np.zeros((NPIX, NPIX), dtype=np.float32)
    image[95:100, 95:100] = np.nan  # 25 NaN pixels
    mask = np.zeros((NPIX, NPIX), dtype=">i2")  # FITS byte order
    mask[100:, :] = 2
    weight = np.ones((NPIX, NPIX), dtype=np.float32)
    weight[:, :50] = 0
    x = np.array([100.0, 0.0])
    y = np.array([100.0, 30.0])
    stamps, _ = cut_stamps(image, x, y, SIZE)
    masked, nan = stamp_fractions(stamps, x, y, image.shape, SIZE, mask=mask, weight=weight)
    c = SIZE // 2
    assert masked[0] == pytest.approx((c + 1) * SIZE / SIZE**2)  # rows >= 100
    assert nan[0] == pytest.approx(25 / SIZE**2)
    assert masked[1] == 1.0  # half padding, half zero weight
    assert nan[1] == 0.0


def _sky_image(n=NPIX, seed=0):
    """A tile with Gaussian blobs at known RA/Dec, a WCS and a KiDS-like catalogue."""
    rng = np.random.default_rng(seed)
    wcs = tile_wcs(180.0, 0.0, n)
    x = rng.uniform(15, n - 15, 8)
    y = rng.uniform(15, n - 15, 8)
    yy, xx = np.mgrid[:n, :n]
    image = rng.normal(0, 0.01, (n, n)).astype(np.float32)
    for xi, yi in zip(x, y):
        image += np.exp(-0.5 * ((xx - xi) ** 2 + (yy - yi) ** 2) / 1.5**2).astype(np.float32)
    ra, dec = wcs.all_pix2world(x, y, 0)
    ids = [f"OBJ{k}" for k in range(len(x))]
    catalog = pd.DataFrame({"ID": ids, "KIDS_TILE": "T1", "RAJ2000": ra, "DECJ2000": dec,
                            # KiDS Xpos/Ypos: 0.213"/px grid, deliberately unusable for cutting
                            "Xpos": 1 + x * 0.2 / 0.213, "Ypos": 1 + y * 0.2 / 0.213})
    flags = pd.DataFrame({"ID": ids, "bg_li2020": [True] * 6 + [False, False],
                          "lrg_li2020": [True, False, False, False, False, False, True, False]})
    return image, wcs, catalog, flags, x, y


def test_wcs_cutouts_are_centred_on_the_objects():
    image, wcs, catalog, flags, x, y = _sky_image()
    sel = select_objects(catalog, flags, "T1", ["bg_li2020", "lrg_li2020"])
    assert sel["ID"].tolist() == [f"OBJ{k}" for k in range(7)]
    stamps, index, n_out = extract_stamps(image, wcs, sel, ["bg_li2020", "lrg_li2020"], "T1", SIZE,
                                          0.7, 30.0, 0.2)
    assert n_out == 0 and len(stamps) == 7
    c = SIZE // 2
    for k in range(len(stamps)):
        peak = np.unravel_index(np.argmax(stamps[k]), stamps[k].shape)
        assert peak == (c, c)
    np.testing.assert_allclose(index["x_pix"], x[:7], atol=1e-6)
    np.testing.assert_allclose(index["y_pix"], y[:7], atol=1e-6)
    assert list(index.columns) == [*INDEX_COLUMNS, "bg_li2020", "lrg_li2020"]
    assert index["lrg_li2020"].tolist() == [True, False, False, False, False, False, True]
    assert (index["psf_fwhm_arcsec"] == 0.7).all()


def test_objects_outside_the_tile_are_skipped():
    image, wcs, catalog, flags, _, _ = _sky_image()
    far = catalog.iloc[:1].assign(ID="FAR", RAJ2000=181.0)
    edge_ra, edge_dec = wcs.all_pix2world([1.0], [100.0], 0)
    near_edge = catalog.iloc[:1].assign(ID="EDGE", RAJ2000=edge_ra[0], DECJ2000=edge_dec[0])
    cat = pd.concat([catalog, far, near_edge], ignore_index=True)
    fl = pd.concat([flags, pd.DataFrame({"ID": ["FAR", "EDGE"], "bg_li2020": [True, True],
                                         "lrg_li2020": [False, False]})], ignore_index=True)
    sel = select_objects(cat, fl, "T1", ["bg_li2020"])
    stamps, index, n_out = extract_stamps(image, wcs, sel, ["bg_li2020"], "T1", SIZE, 0.7, 30.0, 0.2)
    assert n_out == 1
    assert "FAR" not in set(index["object_id"])
    assert index.set_index("object_id").loc["EDGE", "edge"]
    assert index.set_index("object_id").loc["EDGE", "masked_fraction"] > 0.4
    assert len(stamps) == len(index)


def test_select_objects_bad_input_names_the_column():
    _, _, catalog, flags, _, _ = _sky_image()
    with pytest.raises(InputError, match="lrg_he2020"):
        select_objects(catalog, flags, "T1", ["lrg_he2020"], flags_source="flags.parquet")
    with pytest.raises(InputError, match="cat.parquet: missing column.*DECJ2000"):
        select_objects(catalog.drop(columns="DECJ2000"), flags, "T1", ["bg_li2020"], catalog_source="cat.parquet")
    with pytest.raises(InputError, match="bg_li2020: expected a bool"):
        select_objects(catalog, flags.assign(bg_li2020=1.0), "T1", ["bg_li2020"])
    with pytest.raises(InputError, match="unique"):
        select_objects(catalog, pd.concat([flags, flags]), "T1", ["bg_li2020"])
    two_tiles = pd.concat([catalog, catalog.assign(ID=catalog["ID"] + "b", KIDS_TILE="T0")], ignore_index=True)
    with pytest.raises(InputError, match=r"cat.parquet: KIDS_TILE: no row of tile 'OTHER_TILE'; "
                                         r"the catalogue holds 2 tile\(s\): T0, T1"):
        select_objects(two_tiles, flags, "OTHER_TILE", ["bg_li2020"], catalog_source="cat.parquet")


# --------------------------------------------------------------------------- CLI

@pytest.fixture()
def tile_files(tmp_path):
    from astropy.io import fits

    image, wcs, catalog, flags, _, _ = _sky_image()
    header = wcs.to_header()
    header["PSF_FWHM"] = 0.66
    header["ZEROPT"] = 30.0
    header["PIXSCALE"] = 0.2
    paths = {"image": tmp_path / "T1.fits", "mask": tmp_path / "T1.mask.fits", "weight": tmp_path / "T1.weight.fits",
             "catalog": tmp_path / "cat.parquet", "flags": tmp_path / "flags.parquet"}
    fits.PrimaryHDU(image, header=header).writeto(paths["image"])
    mask = np.zeros(image.shape, dtype=np.int16)
    mask[:20] = 2
    fits.PrimaryHDU(mask, header=header).writeto(paths["mask"])
    fits.PrimaryHDU(np.ones(image.shape, dtype=np.float32), header=header).writeto(paths["weight"])
    catalog.to_parquet(paths["catalog"])
    flags.to_parquet(paths["flags"])
    return paths


def _stamps_argv(paths, tmp_path, tile="T1", samples=("bg_li2020", "lrg_li2020"), with_aux=True):
    argv = ["stamps", "--image", str(paths["image"]), "--catalog", str(paths["catalog"]),
            "--flags", str(paths["flags"]), "--tile", tile, "--samples", *samples, "--size", str(SIZE),
            "--out-cube", str(tmp_path / "out" / "T1.fits"), "--out-index", str(tmp_path / "out" / "T1.parquet")]
    if with_aux:
        argv += ["--mask", str(paths["mask"]), "--weight", str(paths["weight"])]
    return argv


def test_cli_writes_cube_and_index(tile_files, tmp_path):
    assert main(_stamps_argv(tile_files, tmp_path)) == 0
    cube, header = read_cube(tmp_path / "out" / "T1.fits")
    index = pd.read_parquet(tmp_path / "out" / "T1.parquet")
    assert cube.shape == (7, SIZE, SIZE) and len(index) == 7
    assert header["PSF_FWHM"] == 0.66 and header["ZEROPT"] == 30.0 and header["PIXSCALE"] == 0.2
    assert list(index.columns) == [*INDEX_COLUMNS, "psf_moffat_fwhm_arcsec_r", "psf_moffat_beta_r",
                                   "psf_moffat_n_stars_r", "bg_li2020", "lrg_li2020"]
    assert (index["psf_fwhm_arcsec"] == 0.66).all() and (index["zeropoint_mag"] == 30.0).all()
    for k in range(len(cube)):
        assert np.unravel_index(np.argmax(cube[k]), cube[k].shape) == (SIZE // 2, SIZE // 2)
    low = index["y_pix"] < 20 - SIZE // 2
    assert (index.loc[low, "masked_fraction"] > 0).all()


def test_cli_empty_selection_gives_valid_empty_outputs(tile_files, tmp_path, caplog):
    flags = pd.read_parquet(tile_files["flags"])
    flags.assign(bg_li2020=False, lrg_li2020=False).to_parquet(tile_files["flags"])
    with caplog.at_level(logging.WARNING, logger="lensfinder.selection.stamps"):
        assert main(_stamps_argv(tile_files, tmp_path)) == 0
    assert "NONE of the 8 catalogue rows of tile T1 is in the samples bg_li2020, lrg_li2020" in caplog.text
    cube, header = read_cube(tmp_path / "out" / "T1.fits")
    index = pd.read_parquet(tmp_path / "out" / "T1.parquet")
    assert cube.shape == (0, SIZE, SIZE) and header["NIMAGES"] == 0
    assert len(index) == 0
    assert list(index.columns) == [*INDEX_COLUMNS, "psf_moffat_fwhm_arcsec_r", "psf_moffat_beta_r",
                                   "psf_moffat_n_stars_r", "bg_li2020", "lrg_li2020"]
    assert index["object_id"].dtype.kind in "OUT" or str(index["object_id"].dtype) == "str"


def test_cli_unknown_tile_blank_image_and_wrong_image_fail(tile_files, tmp_path, capsys, caplog):
    assert main(_stamps_argv(tile_files, tmp_path, tile="NO_SUCH_TILE")) == 2
    assert "cat.parquet: KIDS_TILE: no row of tile 'NO_SUCH_TILE'; the catalogue holds 1 tile(s): T1" \
        in capsys.readouterr().err
    from astropy.io import fits

    with fits.open(tile_files["image"], mode="update") as hdul:
        hdul[0].data[:] = np.nan
    assert main(_stamps_argv(tile_files, tmp_path)) == 2
    assert "T1.fits: all 7 stamps are entirely NaN/inf" in capsys.readouterr().err
    with fits.open(tile_files["image"], mode="update") as hdul:
        hdul[0].data[:, 100:] = 1.0  # some stamps still blank: kept and counted
    with caplog.at_level(logging.WARNING, logger="lensfinder.selection.stamps"):
        assert main(_stamps_argv(tile_files, tmp_path)) == 0
    n_blank = int((pd.read_parquet(tmp_path / "out" / "T1.parquet")["nan_fraction"] == 1).sum())
    assert 0 < n_blank < 7 and f"T1: {n_blank} of 7 stamps are entirely NaN/inf" in caplog.text
    with fits.open(tile_files["image"], mode="update") as hdul:
        hdul[0].header["CRVAL1"] = 10.0  # the image of another place
    assert main(_stamps_argv(tile_files, tmp_path)) == 2
    assert "T1.fits: none of the 7 selected objects of tile T1" in capsys.readouterr().err


def test_cli_corrupt_fits_and_missing_column(tile_files, tmp_path, capsys):
    tile_files["image"].write_bytes(b"SIMPLE  =                    T" + b"garbage" * 10)
    assert main(_stamps_argv(tile_files, tmp_path, with_aux=False)) == 2
    err = capsys.readouterr().err
    assert "T1.fits" in err
    assert main(_stamps_argv(tile_files, tmp_path, samples=("bg_li2020", "nope"))) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "flags.parquet" in err
    assert not (tmp_path / "out" / "T1.fits").exists()


def test_cli_refuses_an_even_stamp_size(tile_files, tmp_path, capsys):
    # an even stamp has no centre pixel: the object would sit half a pixel off the simulations' lenses
    argv = _stamps_argv(tile_files, tmp_path)
    argv[argv.index("--size") + 1] = str(SIZE + 1)
    assert main(argv) == 2
    assert "--size: expected an odd positive number of pixels" in capsys.readouterr().err
    assert not (tmp_path / "out" / "T1.fits").exists()


def test_cli_on_a_mock_tile(tmp_path, caplog):
    """The mock survey's files go through stamps: lens hosts are centred in their stamps."""
    out = tmp_path / "survey"
    rc = main(["mock-survey", "--tile", "MOCK_0", "--index", "0", "--seed", "5",
               "--out-image", str(out / "t.fits"), "--out-weight", str(out / "w.fits"),
               "--out-mask", str(out / "m.fits"), "--out-catalog", str(out / "c.parquet"),
               "--out-truth", str(out / "truth.parquet"),
               "--set", "size_pix=400", "--set", "n_lenses=2"])
    assert rc == 0
    cat = pd.read_parquet(out / "c.parquet")
    truth = pd.read_parquet(out / "truth.parquet")
    flags = pd.DataFrame({"ID": cat["ID"], "bg_li2020": cat["MAG_AUTO"] <= 21,
                          "lrg_li2020": cat["ID"].isin(truth.loc[truth["is_lens"], "ID"])})
    flags.to_parquet(tmp_path / "flags.parquet")
    caplog.set_level(logging.INFO, logger="lensfinder.selection.stamps")
    rc = main(["stamps", "--image", str(out / "t.fits"), "--weight", str(out / "w.fits"), "--mask", str(out / "m.fits"),
               "--catalog", str(out / "c.parquet"), "--flags", str(tmp_path / "flags.parquet"), "--tile", "MOCK_0",
               "--samples", "bg_li2020", "lrg_li2020", "--size", "101",
               "--out-cube", str(tmp_path / "s.fits"), "--out-index", str(tmp_path / "s.parquet")])
    assert rc == 0
    cube, header = read_cube(tmp_path / "s.fits")
    index = pd.read_parquet(tmp_path / "s.parquet")
    assert len(cube) == len(index) == int((flags["bg_li2020"] | flags["lrg_li2020"]).sum())
    assert 0.55 <= header["PSF_FWHM"] <= 0.9
    lenses = index[index["lrg_li2020"]]
    assert len(lenses) == 2 and not lenses["edge"].any()
    for k in lenses.index:
        peak = np.unravel_index(np.argmax(cube[k]), cube[k].shape)
        assert abs(peak[0] - 50) <= 2 and abs(peak[1] - 50) <= 2
    assert "stamps of 101x101" in caplog.text
