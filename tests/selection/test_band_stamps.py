"""Stamps in several bands: one cube (n, n_bands, ny, nx) aligned on the detection band, fractions over all bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.io import InputError, cube_bands, read_cube
from lensfinder.selection.bands import BandImage
from lensfinder.selection.stamps import (
    INDEX_COLUMNS,
    band_columns,
    extract_band_stamps,
    extract_stamps,
    select_objects,
)
from lensfinder.surveys.mock.tiles import tile_wcs

SIZE = 21
NPIX = 160
BANDS = ("g", "r", "i")
#: flux of the blobs per band: a red galaxy, so the bands are told apart
FLUX = {"g": 0.3, "r": 1.0, "i": 1.7}


def _blobs(n, x, y, flux, rng):
    yy, xx = np.mgrid[:n, :n]
    image = rng.normal(0, 0.01, (n, n)).astype(np.float32)
    for xi, yi in zip(x, y):
        image += (flux * np.exp(-0.5 * ((xx - xi) ** 2 + (yy - yi) ** 2) / 1.5**2)).astype(np.float32)
    return image


def _tile(seed=0, shift_i=(0, 0)):
    """g, r, i images of the same objects; i optionally on its own grid, shifted by whole pixels."""
    rng = np.random.default_rng(seed)
    wcs = tile_wcs(180.0, 0.0, NPIX)
    # pixel centres +- 0.3 px: the peak pixel is the nearest one whatever the noise
    x = rng.integers(20, NPIX - 20, 6) + rng.uniform(-0.3, 0.3, 6)
    y = rng.integers(20, NPIX - 20, 6) + rng.uniform(-0.3, 0.3, 6)
    ra, dec = wcs.all_pix2world(x, y, 0)
    images = {}
    for b in BANDS:
        dx, dy = shift_i if b == "i" else (0, 0)
        band_wcs = wcs.deepcopy()
        band_wcs.wcs.crpix = wcs.wcs.crpix + np.array([dx, dy])
        images[b] = (_blobs(NPIX, x + dx, y + dy, FLUX[b], rng), band_wcs)
    ids = [f"OBJ{k}" for k in range(len(x))]
    catalog = pd.DataFrame({"ID": ids, "KIDS_TILE": "T1", "RAJ2000": ra, "DECJ2000": dec})
    flags = pd.DataFrame({"ID": ids, "bg_li2020": True})
    return images, catalog, flags


def _band_images(images, psf=(0.9, 0.7, 0.8)):
    return [BandImage(b, images[b][0], images[b][1], psf[k], 30.0 + k, 0.2, source=f"{b}.fits")
            for k, b in enumerate(BANDS)]


@pytest.mark.parametrize("shift_i", [(0, 0), (7, -4)])
def test_every_band_is_cut_on_the_detection_band_centre(shift_i):
    images, catalog, flags = _tile(shift_i=shift_i)
    sel = select_objects(catalog, flags, "T1", ["bg_li2020"])
    stamps, index, n_out = extract_band_stamps(_band_images(images), sel, ["bg_li2020"], "T1", SIZE, "r")
    assert n_out == 0 and stamps.shape == (6, 3, SIZE, SIZE)
    c = SIZE // 2
    for k in range(len(stamps)):
        for b in range(3):  # the i band's own grid is shifted: its stamps are still centred
            assert np.unravel_index(np.argmax(stamps[k, b]), (SIZE, SIZE)) == (c, c)
    peaks = stamps[:, :, c, c].mean(axis=0)
    assert peaks[0] < peaks[1] < peaks[2]  # g < r < i: the bands stay in their order
    assert list(index.columns) == [*INDEX_COLUMNS, *band_columns(BANDS), "bg_li2020"]
    assert (index["psf_fwhm_arcsec"] == 0.7).all() and (index["zeropoint_mag"] == 31.0).all()  # the r band's
    assert (index["psf_fwhm_arcsec_g"] == 0.9).all() and (index["zeropoint_mag_i"] == 32.0).all()


def test_one_band_matches_the_single_band_extractor():
    images, catalog, flags = _tile()
    sel = select_objects(catalog, flags, "T1", ["bg_li2020"])
    r_image, wcs = images["r"]
    one, index_one, _ = extract_band_stamps([BandImage("r", r_image, wcs, 0.7, 30.0, 0.2)], sel,
                                            ["bg_li2020"], "T1", SIZE)
    plain, index_plain, _ = extract_stamps(r_image, wcs, sel, ["bg_li2020"], "T1", SIZE, 0.7, 30.0, 0.2)
    assert one.shape == (6, SIZE, SIZE)
    np.testing.assert_array_equal(one, plain)
    pd.testing.assert_frame_equal(index_one, index_plain)
    assert band_columns(["r"]) == [] and list(index_one.columns) == [*INDEX_COLUMNS, "bg_li2020"]


def test_fractions_count_every_band():
    images, catalog, flags = _tile()
    sel = select_objects(catalog, flags, "T1", ["bg_li2020"])
    bands = _band_images(images)
    x0, y0 = bands[1].wcs.all_world2pix(sel["RAJ2000"], sel["DECJ2000"], 0)
    k = 0
    xc, yc = int(np.rint(x0[k])), int(np.rint(y0[k]))
    bands[0].mask = np.zeros((NPIX, NPIX), np.int16)
    bands[0].mask[yc - 10:yc + 11, xc - 10:xc - 5] = 1  # 5 of 21 columns masked in g only
    bands[2].data = bands[2].data.copy()
    bands[2].data[yc - 10:yc + 11, xc + 5:xc + 11] = np.nan  # 6 columns NaN in i only
    _, index, _ = extract_band_stamps(bands, sel, ["bg_li2020"], "T1", SIZE)
    assert index.loc[k, "masked_fraction"] == pytest.approx(5 / 21)
    assert index.loc[k, "nan_fraction"] == pytest.approx(6 / (3 * 21))
    assert (index.drop(index=k)[["masked_fraction", "nan_fraction"]] == 0).all().all()


def test_bands_on_another_pixel_scale_are_refused():
    images, catalog, flags = _tile()
    sel = select_objects(catalog, flags, "T1", ["bg_li2020"])
    bands = _band_images(images)
    bands[2] = BandImage("i", images["i"][0], tile_wcs(180.0, 0.0, NPIX, 0.4), 0.8, 30.0, 0.4, source="i.fits")
    with pytest.raises(InputError, match=r"i\.fits: band i: 0\.4\"/px, but the r band has 0\.2\"/px"):
        extract_band_stamps(bands, sel, ["bg_li2020"], "T1", SIZE)


def _write_tile_files(tmp_path, images, catalog, flags):
    from astropy.io import fits

    paths = {}
    for k, b in enumerate(BANDS):
        header = images[b][1].to_header()
        header.update(PSF_FWHM=0.9 - 0.1 * k, ZEROPT=30.0, PIXSCALE=0.2)
        paths[b] = tmp_path / f"T1.{b}.fits"
        fits.PrimaryHDU(images[b][0], header=header).writeto(paths[b])
    catalog.to_parquet(tmp_path / "cat.parquet")
    flags.to_parquet(tmp_path / "flags.parquet")
    return paths


def test_cli_writes_a_band_cube_and_checks_its_options(tmp_path, capsys):
    images, catalog, flags = _tile(shift_i=(3, 2))
    paths = _write_tile_files(tmp_path, images, catalog, flags)
    argv = ["stamps", "--image", *(str(paths[b]) for b in BANDS), "--bands", *BANDS, "--detection-band", "r",
            "--catalog", str(tmp_path / "cat.parquet"), "--flags", str(tmp_path / "flags.parquet"), "--tile", "T1",
            "--samples", "bg_li2020", "--size", str(SIZE),
            "--out-cube", str(tmp_path / "out.fits"), "--out-index", str(tmp_path / "out.parquet")]
    assert main(argv) == 0
    cube, header = read_cube(tmp_path / "out.fits")
    index = pd.read_parquet(tmp_path / "out.parquet")
    assert cube.shape == (6, 3, SIZE, SIZE) and cube_bands(header) == BANDS and len(index) == 6
    assert header["PSF_FWHM"] == pytest.approx(0.8)  # the r band's
    assert index["psf_fwhm_arcsec_i"].iloc[0] == pytest.approx(0.7)
    # a catalogue without magnitudes and star flags gives no Moffat fit of the tile's PSF: NaN, no stars
    assert index["psf_moffat_fwhm_arcsec_g"].isna().all() and (index["psf_moffat_n_stars_r"] == 0).all()
    assert main([*argv[:3], *argv[5:]]) == 2  # one image for three bands
    assert "--image: 1 given for --bands g r i; expected one per band" in capsys.readouterr().err
    assert main([*argv, "--psf-fwhm-arcsec", "0.7"]) == 2
    assert "--psf-fwhm-arcsec: 1 given for --bands g r i" in capsys.readouterr().err
