"""Legacy Surveys backend (Tractor catalogue through TAP, viewer cutouts) against the local
HTTP server (tests/helpers/tapserver.py), whose fits-cutout answers are built as the viewer's
source builds them (image, INVVAR and MASKBITS HDUs told apart by IMAGETYP)."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from lensfinder.cli import main
from lensfinder.io import InputError
from lensfinder.selection.preselect import preselect
from lensfinder.surveys.base import DownloadError, SurveyBackend
from lensfinder.surveys.columns import LEGACY_DR10_COLUMN_MAP, column_map
from lensfinder.surveys.columns import tractor_to_kids
from lensfinder.surveys.legacy import LegacySurveyBackend, download_legacy_field, query_tractor
from lensfinder.surveys.legacy_images import (LEGACY_MASK_BITS, LEGACY_ZEROPOINT_MAG, NO_DATA_BIT, check_field,
                                              cutout_params, download_field_image, fetch_cutout, legacy_mask_bits,
                                              sky_weight)

from helpers.tapserver import VIEWER_MAX_SIZE_PIX, TapServer


def legacy_fits(params: dict, cube: bool = True) -> bytes:
    """Shaped like the viewer's answer: nanomaggies, TAN WCS, a band axis for a cube."""
    size = int(params["size"])
    scale = float(params["pixscale"]) / 3600
    wcs = WCS(naxis=3 if cube else 2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"] + (["BAND"] if cube else [])
    wcs.wcs.crval = [float(params["ra"]), float(params["dec"])] + ([0] if cube else [])
    wcs.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5] + ([1] if cube else [])
    wcs.wcs.cdelt = [-scale, scale] + ([1] if cube else [])
    data = np.full((size, size), 0.5, dtype=np.float32)
    data[size // 2, size // 2] = 10.0
    data[0, 0] = np.nan
    buf = io.BytesIO()
    fits.PrimaryHDU(data[None] if cube else data, header=wcs.to_header()).writeto(buf)
    return buf.getvalue()


@pytest.fixture()
def server():
    srv = TapServer()
    srv.legacy_image = legacy_fits
    with srv:
        yield srv


def flat_sky(ra, dec, size, pixscale):
    """A covered patch: 0.5 nmgy, a bright pixel, one NaN; inverse variance 100; no maskbits."""
    image = np.full((size, size), 0.5, dtype=np.float32)
    image[size // 2, size // 2] = 10.0
    image[0, 0] = np.nan
    return {"image": image, "invvar": np.full((size, size), 100.0), "maskbits": np.zeros((size, size), np.int32)}


def test_cutout_as_tile(server, tmp_path):
    server.legacy_image, server.legacy_sky = None, flat_sky
    image, weight, mask = fetch_cutout(150.1, 2.2, 26.2, tmp_path / "cut.fits", band="r",
                                       base_url=f"{server.url}/viewer/fits-cutout", cache_dir=tmp_path / "cache",
                                       backoff_s=0.01)
    method, path, params, _ = server.requests[-1]
    assert params == {"ra": "150.1000000", "dec": "2.2000000", "layer": "ls-dr10", "pixscale": "0.262",
                      "bands": "r", "size": "100", "invvar": "", "maskbits": ""}
    with fits.open(image) as hdul:
        hdr, data = hdul[0].header, hdul[0].data
        assert data.shape == (100, 100) and hdr["NAXIS"] == 2
        assert hdr["ZEROPT"] == LEGACY_ZEROPOINT_MAG and hdr["PIXSCALE"] == pytest.approx(0.262)
        assert hdr["PSF_FWHM"] > 0 and data[50, 50] == 10.0
        ra, dec = WCS(hdr).pixel_to_world_values(49.5, 49.5)
        assert (ra, dec) == pytest.approx((150.1, 2.2), abs=1e-6)
    with fits.open(mask) as hdul:
        assert hdul[0].data.dtype == np.dtype(">i4") and hdul[0].data[0, 0] == NO_DATA_BIT
        assert hdul[0].data.sum() == NO_DATA_BIT
    with fits.open(weight) as hdul:
        assert hdul[0].data[0, 0] == 0 and hdul[0].data[1, 1] == 100.0
    n = len(server.requests)
    fetch_cutout(150.1, 2.2, 26.2, tmp_path / "again.fits", base_url=f"{server.url}/viewer/fits-cutout",
                 cache_dir=tmp_path / "cache")
    assert len(server.requests) == n  # cached


def test_two_dimensional_answer_and_truncation(server, tmp_path):
    server.legacy_image = lambda params: legacy_fits(params, cube=False)
    server.add_fault(r"/viewer/fits-cutout$", "truncate")
    image, _, _ = fetch_cutout(10.0, -5.0, 5.24, tmp_path / "c.fits", base_url=f"{server.url}/viewer/fits-cutout",
                               cache_dir=tmp_path / "cache", backoff_s=0.01)
    assert fits.getdata(image).shape == (20, 20)
    assert server.count(r"/viewer/fits-cutout$") == 2


def test_errors(server, tmp_path):
    with pytest.raises(InputError, match="size"):
        cutout_params(10.0, 0.0, VIEWER_MAX_SIZE_PIX + 1)  # the service would clip it, silently
    with pytest.raises(InputError, match="bands"):
        cutout_params(10.0, 0.0, 10, bands="x")
    with pytest.raises(InputError, match="position"):
        cutout_params(400.0, 0.0, 10)
    server.add_fault(r"/viewer/fits-cutout$", "503", times=5)
    with pytest.raises(DownloadError, match="Legacy Surveys ls-dr10 r-band cutout"):
        fetch_cutout(10.0, -5.0, 5.24, tmp_path / "c.fits", base_url=f"{server.url}/viewer/fits-cutout",
                     cache_dir=tmp_path / "cache", retries=1, backoff_s=0.01)
    assert not (tmp_path / "c.fits").exists()


def test_backend_interface(server, tmp_path):
    server.legacy_image, server.legacy_sky = None, flat_sky
    with LegacySurveyBackend(base_url=f"{server.url}/viewer/fits-cutout", cache_dir=tmp_path / "cache",
                             backoff_s=0.01) as backend:
        assert isinstance(backend, SurveyBackend)
        assert backend.pixel_scale_arcsec == 0.262 and backend.zeropoint_mag() == 22.5
        out = backend.fetch_cutout(150.0, 2.0, 10.0, "g", tmp_path / "g.fits")
        assert fits.getheader(out)["BAND"] == "g"
        assert fits.getheader(out)["PSF_FWHM"] == 1.29  # the preset's g median (Dey et al. 2019), not r's 1.2
        image, _, _ = fetch_cutout(150.0, 2.0, 10.0, tmp_path / "z.fits", band="z", cache_dir=tmp_path / "cache",
                                   base_url=f"{server.url}/viewer/fits-cutout", backoff_s=0.01)
        assert fits.getheader(image)["PSF_FWHM"] == 1.11
        assert backend.column_map()["r_auto"] == "MAG_AUTO"  # mapped onto DR4 names
        with pytest.raises(InputError, match="region"):
            backend.query_catalog(tile="F1")
        with pytest.raises(InputError, match="ra_deg, dec_deg and size_pix"):
            backend.fetch_image("F1", "r", tmp_path / "t.fits")


def test_corrupt_answer_is_not_cached(server, tmp_path):
    server.legacy_image = lambda params: b"<html>not a FITS file</html>"
    with pytest.raises(DownloadError, match="not a readable FITS"):
        fetch_cutout(10.0, -5.0, 5.24, tmp_path / "c.fits", base_url=f"{server.url}/viewer/fits-cutout",
                     cache_dir=tmp_path / "cache", backoff_s=0.01)
    assert list((tmp_path / "cache").iterdir()) == [] and not (tmp_path / "c.fits").exists()


def test_answer_cut_off_without_a_length_is_fetched_again(server, tmp_path):
    """The viewer may send no Content-Length: a cut-off answer is told by its FITS headers, before it is cached."""
    server.legacy_image, server.legacy_sky = None, flat_sky
    server.add_fault(r"/viewer/fits-cutout$", "cut_off")
    image, _, _ = fetch_cutout(150.1, 2.2, 26.2, tmp_path / "c.fits", base_url=f"{server.url}/viewer/fits-cutout",
                               cache_dir=tmp_path / "cache", retries=0, backoff_s=0.01)
    assert fits.getdata(image).shape == (100, 100) and server.count(r"/viewer/fits-cutout$") == 2
    assert "Content-Length" not in server.requests[0][3]
    server.add_fault(r"/viewer/fits-cutout$", "cut_off", times=2)
    with pytest.raises(DownloadError, match="cutout at .*fails verification: not a readable FITS file: cut off"):
        fetch_cutout(10.0, -5.0, 26.2, tmp_path / "d.fits", base_url=f"{server.url}/viewer/fits-cutout",
                     cache_dir=tmp_path / "cache", retries=0, backoff_s=0.01)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [image_cache_name(150.1, 2.2)]


def image_cache_name(ra, dec):
    return f"ls-dr10_r_{ra:.6f}_{dec:+.6f}_100_0.262_ivm.fits"


def test_unreadable_cached_answer_is_removed_naming_it(server, tmp_path):
    """A cut-off answer already in the cache (kept by an older version): a clear error naming the file, which is
    removed, so the rerun asks the service again."""
    server.legacy_image, server.legacy_sky = None, flat_sky
    kw = dict(base_url=f"{server.url}/viewer/fits-cutout", cache_dir=tmp_path / "cache", backoff_s=0.01)
    fetch_cutout(150.1, 2.2, 26.2, tmp_path / "c.fits", **kw)
    raw = tmp_path / "cache" / image_cache_name(150.1, 2.2)
    raw.write_bytes(raw.read_bytes()[: raw.stat().st_size * 6 // 10])
    with pytest.raises(DownloadError, match=re.escape(f"{raw}: not a readable FITS file: cut off at byte")):
        fetch_cutout(150.1, 2.2, 26.2, tmp_path / "again.fits", **kw)
    assert not raw.exists() and server.count(r"/viewer/fits-cutout$") == 1
    image, _, _ = fetch_cutout(150.1, 2.2, 26.2, tmp_path / "again.fits", **kw)
    assert fits.getdata(image).shape == (100, 100) and server.count(r"/viewer/fits-cutout$") == 2


# ---------------------------------------------------------------- fields: Tractor catalogue + r-band image

FIELD_RA, FIELD_DEC, FIELD_SIZE = 150.1, 2.2, 200  # 52.4" square, half side 0.00728 deg


def nmgy(mag):
    return 10 ** (-0.4 * (mag - 22.5))


def tractor_rows() -> pd.DataFrame:
    """Constructed ls_dr10.tractor rows around the test field (fluxes in nanomaggies)."""
    rows = [
        # ls_id, dra, ddec (deg), type, primary, g, r, i mags, shape_r ("), maskbits, fitbits
        (9001, 0.0, 0.0, "DEV", True, 19.5, 18.0, 17.4, 1.704, 0, 0),      # bright red galaxy: LRG
        (9002, 0.003, 0.002, "PSF", True, 20.0, 19.5, 19.3, 0.0, 2, 0),    # star
        (9003, -0.003, -0.003, "REX", True, 20.8, 20.0, None, 0.852, 0, 8),  # no i coverage
        (9004, 0.0075, 0.0, "EXP", True, 21.0, 20.5, 20.2, 0.5, 0, 0),     # in the circle, outside the square
        (9005, 0.001, -0.002, "SER", False, 20.0, 19.0, 18.6, 1.0, 0, 0),  # not brick_primary
        (9006, 0.2, 0.2, "DEV", True, 19.0, 18.0, 17.5, 1.0, 0, 0),        # far away
    ]
    out = []
    for ls_id, dra, ddec, kind, primary, g, r, i, shape_r, maskbits, fitbits in rows:
        out.append({
            "ls_id": ls_id, "ra": FIELD_RA + dra / np.cos(np.radians(FIELD_DEC)), "dec": FIELD_DEC + ddec,
            "type": kind, "brick_primary": primary,
            "flux_g": nmgy(g), "flux_r": nmgy(r), "flux_i": 0.0 if i is None else nmgy(i), "flux_z": nmgy(r - 0.5),
            "flux_ivar_g": 400.0, "flux_ivar_r": 400.0, "flux_ivar_i": 0.0 if i is None else 100.0,
            "shape_r": shape_r, "maskbits": maskbits, "fitbits": fitbits,
        })
    return pd.DataFrame(out)


SKY_SIGMA = 0.01  # nanomaggies per pixel, as the inverse variance says


def field_planes(ra, dec, size, pixscale):
    """What the viewer has for a field: sky noise, galaxies, an uncovered (zero) strip, per-pixel
    inverse variance (deeper to the east) and DR10 maskbits."""
    scale = pixscale / 3600
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5]
    wcs.wcs.cdelt = [-scale, scale]
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:size, :size]
    depth = 1.0 + xx / size  # inverse variance grows along x
    invvar = (depth / SKY_SIGMA**2).astype(np.float32)
    data = (rng.normal(0.0, 1.0, (size, size)) / np.sqrt(invvar)).astype(np.float32)
    for _, row in tractor_rows().iterrows():
        x, y = wcs.all_world2pix(row["ra"], row["dec"], 0)
        data += (row["flux_r"] / (2 * np.pi * 4.0) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0)).astype(np.float32)
    data[:, :5] = 0.0  # outside the footprint: the viewer sends zeros, inverse variance 0
    invvar[:, :5] = 0.0
    maskbits = np.zeros((size, size), np.int32)
    maskbits[:, size // 2:] |= 1 << 0  # NPRIMARY: a brick edge, not a defect
    maskbits[10:20, 150:160] |= 1 << 1  # BRIGHT star
    maskbits[30, 30] |= 1 << 3  # SATUR_R
    maskbits[40:45, 40:45] |= 1 << 8  # WISEM1: infrared only
    maskbits[60:62, 60:62] |= 1 << 16  # SUB_BLOB: beyond int16, not a defect
    maskbits[70, 70] |= 1 << 15  # ALLMASK_I: the i band's defect bit, beyond int16
    return {"image": data, "invvar": invvar, "maskbits": maskbits}


def field_fits(params: dict) -> bytes:
    """An answer with the image alone (no INVVAR HDU), as the viewer sends off its native pixel scale."""
    planes = field_planes(float(params["ra"]), float(params["dec"]), int(params["size"]), float(params["pixscale"]))
    size, scale = int(params["size"]), float(params["pixscale"]) / 3600
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [float(params["ra"]), float(params["dec"])]
    wcs.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5]
    wcs.wcs.cdelt = [-scale, scale]
    buf = io.BytesIO()
    fits.PrimaryHDU(planes["image"], header=wcs.to_header()).writeto(buf)
    return buf.getvalue()


@pytest.fixture()
def field_server():
    srv = TapServer()
    srv.tables["ls_dr10.tractor"] = tractor_rows()
    srv.legacy_sky = field_planes
    with srv:
        yield srv


def test_tractor_rows_map_onto_dr4_columns():
    cat = tractor_to_kids(tractor_rows(), "F1")
    assert list(cat.columns) == list(LEGACY_DR10_COLUMN_MAP)
    assert set(column_map("dr4").download_columns) <= set(cat.columns)
    assert (cat["KIDS_TILE"] == "F1").all() and cat["LS_ID"].tolist() == [9001, 9002, 9003, 9004, 9005, 9006]
    lrg, star, no_i = cat.iloc[0], cat.iloc[1], cat.iloc[2]
    assert lrg["MAG_AUTO"] == pytest.approx(18.0)
    assert lrg["COLOUR_GAAP_g_r"] == pytest.approx(1.5) and lrg["COLOUR_GAAP_r_i"] == pytest.approx(0.6)
    assert lrg["MAGERR_AUTO"] == pytest.approx(1.0857362 / (nmgy(18.0) * 20.0), rel=1e-5)
    assert lrg["FLUX_RADIUS"] == pytest.approx(8.0)  # 1.704" / 0.213"/px
    assert (lrg["SG2DPHOT"], star["SG2DPHOT"], no_i["SG2DPHOT"]) == (0, 1, 0)
    assert (lrg["CLASS_STAR"], star["CLASS_STAR"]) == (0.0, 1.0)
    assert star["MASK"] == 2 and no_i["Flag"] == 8 and (cat["IMAFLAGS_ISO"] == 0).all()
    assert np.isnan(no_i["COLOUR_GAAP_r_i"]) and np.isnan(no_i["MAG_GAAP_i"])
    assert no_i["COLOUR_GAAP_g_r"] == pytest.approx(0.8)
    assert cat["Z_B"].isna().all() and cat["MAG_GAAP_u"].isna().all()
    assert lrg["ID"] == "LS10 J100024.00+021200.0" and cat["ID"].is_unique
    # the DR4 preselection runs on it: the LRG is an LRG, the star no BG, no i means no LRG
    flags, _ = preselect(cat, "dr4")
    assert flags["lrg_li2020"].tolist()[:3] == [True, False, False]
    assert flags["bg_li2020"].tolist()[:3] == [True, False, True]


def test_tractor_mapping_edge_cases():
    rows = tractor_rows().iloc[:2].copy()
    rows["ra"] = rows["ra"].iloc[0]
    rows["dec"] = rows["dec"].iloc[0]  # two rows with one name
    rows.loc[1, "flux_r"] = -0.3  # negative flux: no magnitude
    cat = tractor_to_kids(rows, "F1")
    assert cat["ID"].tolist() == ["LS10 J100024.00+021200.0_9001", "LS10 J100024.00+021200.0_9002"]
    assert np.isnan(cat["MAG_AUTO"].iloc[1]) and np.isnan(cat["COLOUR_GAAP_g_r"].iloc[1])
    assert tractor_to_kids(rows.iloc[:0], "F1").empty
    with pytest.raises(InputError, match="shape_r"):
        tractor_to_kids(rows.drop(columns="shape_r"), "F1")


def test_query_tractor_keeps_primary_rows_in_the_square(field_server):
    cat = query_tractor("F1", FIELD_RA, FIELD_DEC, FIELD_SIZE, tap_url=f"{field_server.url}/tap_dl", backoff_s=0.01)
    assert cat["LS_ID"].tolist() == [9001, 9002, 9003]
    query = field_server.requests[-1][2]["QUERY"]
    assert "FROM ls_dr10.tractor" in query and "CONTAINS(POINT('ICRS', ra, dec), CIRCLE(" in query
    assert "brick_primary = 1" in query


def test_download_legacy_field_cli_then_stamps(field_server, tmp_path):
    out = {k: tmp_path / f"tiles/F1{s}" for k, s in
           (("image", ".fits"), ("weight", ".weight.fits"), ("mask", ".mask.fits"))}
    catalog = tmp_path / "catalog/F1.parquet"
    argv = ["download-legacy-field", "--field", "F1", "--ra", str(FIELD_RA), "--dec", str(FIELD_DEC),
            "--size-pix", str(FIELD_SIZE), "--out-image", str(out["image"]), "--out-weight", str(out["weight"]),
            "--out-mask", str(out["mask"]), "--out-catalog", str(catalog),
            "--tap-url", f"{field_server.url}/tap_dl", "--cutout-url", f"{field_server.url}/viewer/fits-cutout",
            "--cache-dir", str(tmp_path / "cache"), "--retries", "1", "--backoff", "0.01", "--psf-fwhm-arcsec", "1.1"]
    assert main(argv) == 0
    params = [r[2] for r in field_server.requests if r[1] == "/viewer/fits-cutout"][-1]
    assert params["bands"] == "r" and params["size"] == "200" and params["pixscale"] == "0.262"
    assert params["invvar"] == "" and params["maskbits"] == ""  # the flags the service looks for
    with fits.open(out["image"]) as hdul:
        hdr, data = hdul[0].header, hdul[0].data
        assert data.shape == (200, 200) and data.dtype.kind == "f"
        assert (hdr["PSF_FWHM"], hdr["ZEROPT"], hdr["PIXSCALE"], hdr["FIELD"]) == (1.1, 22.5, 0.262, "F1")
        ra, dec = WCS(hdr).pixel_to_world_values(99.5, 99.5)
        assert (ra, dec) == pytest.approx((FIELD_RA, FIELD_DEC), abs=1e-6)
    weight, mask = fits.getdata(out["weight"]), fits.getdata(out["mask"])
    expected = field_planes(FIELD_RA, FIELD_DEC, FIELD_SIZE, 0.262)
    # the weight is the service's per-pixel inverse variance (it doubles across the field), not one sky value
    np.testing.assert_array_equal(weight, expected["invvar"])
    assert weight[0, 190] / weight[0, 10] == pytest.approx((1 + 190 / FIELD_SIZE) / (1 + 10 / FIELD_SIZE))
    assert fits.getheader(out["weight"])["WEIGHT"] == "INVVAR HDU of the service"
    # the mask: no data (bit 0) in the uncovered strip; BRIGHT and SATUR_R kept; NPRIMARY, WISEM1, SUB_BLOB not
    assert mask.dtype == np.dtype(">i4") and (mask[:, :5] == NO_DATA_BIT).all()
    assert (mask[10:20, 150:160] == 2).all() and mask[30, 30] == 8
    assert set(np.unique(mask[:, 5:])) == {0, 2, 8}
    assert fits.getheader(out["mask"])["MASKBITS"] == LEGACY_MASK_BITS
    cat = pd.read_parquet(catalog)
    assert cat["LS_ID"].tolist() == [9001, 9002, 9003] and (cat["KIDS_TILE"] == "F1").all()
    # the same run is deterministic: the cached cutout and the same answers give the same files
    before = (out["image"].read_bytes(), catalog.read_bytes())
    n = field_server.count(r"/viewer/fits-cutout$")
    assert main(argv) == 0
    assert field_server.count(r"/viewer/fits-cutout$") == n
    assert (out["image"].read_bytes(), catalog.read_bytes()) == before
    # the stamps step reads the 0.262"/px WCS
    flags, _ = preselect(cat, "dr4")
    flags_path = tmp_path / "flags.parquet"
    flags.to_parquet(flags_path)
    index = tmp_path / "stamps/F1.parquet"
    assert main(["stamps", "--image", str(out["image"]), "--weight", str(out["weight"]), "--mask", str(out["mask"]),
                 "--catalog", str(catalog), "--flags", str(flags_path), "--tile", "F1", "--size", "77",
                 "--out-cube", str(tmp_path / "stamps/F1.fits"), "--out-index", str(index)]) == 0
    stamps = pd.read_parquet(index)
    assert stamps["object_id"].tolist() == [cat["ID"].iloc[0], cat["ID"].iloc[2]]  # BG galaxies, not the star
    assert stamps["pixel_scale_arcsec"].eq(0.262).all() and stamps["zeropoint_mag"].eq(22.5).all()
    assert (stamps["x_pix"].iloc[0], stamps["y_pix"].iloc[0]) == pytest.approx((99.5, 99.5), abs=0.01)
    cube = fits.getdata(tmp_path / "stamps/F1.fits")
    assert cube.shape == (2, 77, 77) and cube[0, 38, 38] == cube[0].max()


def test_transient_failures_are_retried(field_server, tmp_path):
    field_server.add_fault(r"/tap_dl/sync$", "500", times=2)
    field_server.add_fault(r"/viewer/fits-cutout$", "503")
    download_legacy_field("F1", FIELD_RA, FIELD_DEC, FIELD_SIZE, tmp_path / "F1.fits", tmp_path / "F1.weight.fits",
                          tmp_path / "F1.mask.fits", tmp_path / "F1.parquet", tap_url=f"{field_server.url}/tap_dl",
                          cutout_url=f"{field_server.url}/viewer/fits-cutout", cache_dir=tmp_path / "cache",
                          retries=3, backoff_s=0.01)
    assert field_server.count(r"/tap_dl/sync$") == 3 and field_server.count(r"/viewer/fits-cutout$") == 2
    assert len(pd.read_parquet(tmp_path / "F1.parquet")) == 3


def test_field_errors_name_the_field(field_server, tmp_path, capsys):
    field_server.add_fault(r"/tap_dl/sync$", "500", times=5)
    with pytest.raises(DownloadError, match="field F1"):
        query_tractor("F1", FIELD_RA, FIELD_DEC, FIELD_SIZE, tap_url=f"{field_server.url}/tap_dl", retries=1,
                      backoff_s=0.01)
    with pytest.raises(InputError, match="field F2: size_pix 5000"):
        check_field("F2", 10.0, 0.0, 5000)
    with pytest.raises(InputError, match="field F3: centre"):
        check_field("F3", 10.0, 95.0, 100)
    with pytest.raises(InputError, match="names files"):
        check_field("a b", 10.0, 0.0, 100)
    argv = ["download-legacy-field", "--field", "F9", "--ra", "10", "--dec", "0", "--size-pix", "4000",
            "--out-image", str(tmp_path / "i.fits"), "--out-weight", str(tmp_path / "w.fits"),
            "--out-mask", str(tmp_path / "m.fits"), "--out-catalog", str(tmp_path / "c.parquet")]
    assert main(argv) == 2
    assert "field F9: size_pix 4000" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.fits")) and not (tmp_path / "c.parquet").exists()


def test_without_inverse_variance_a_robust_sky_weight_with_a_warning(field_server, tmp_path, caplog):
    """Off the native pixel scale the viewer sends the image alone: one MAD sky weight, said loudly."""
    field_server.legacy_sky, field_server.legacy_image = None, field_fits
    _, weight, mask = download_field_image("F1", FIELD_RA, FIELD_DEC, FIELD_SIZE, tmp_path / "F1.fits",
                                           tmp_path / "F1.weight.fits", tmp_path / "F1.mask.fits",
                                           base_url=f"{field_server.url}/viewer/fits-cutout",
                                           cache_dir=tmp_path / "cache", backoff_s=0.01)
    data = fits.getdata(weight)
    assert (data[:, :5] == 0).all() and len(np.unique(data[:, 5:])) == 1
    assert 1 / np.sqrt(data[0, 100]) == pytest.approx(SKY_SIGMA * 0.8, rel=0.15)  # robust sky sigma of the field
    assert "no inverse variance" in caplog.text
    assert (fits.getdata(mask)[:, :5] == NO_DATA_BIT).all() and not fits.getdata(mask)[:, 5:].any()


def test_field_outside_the_footprint_is_a_clear_error(field_server, tmp_path, capsys):
    argv = ["download-legacy-field", "--field", "FAR", "--ra", "300.0", "--dec", "-80.0", "--size-pix", "100",
            "--out-image", str(tmp_path / "i.fits"), "--out-weight", str(tmp_path / "w.fits"),
            "--out-mask", str(tmp_path / "m.fits"), "--out-catalog", str(tmp_path / "c.parquet"),
            "--tap-url", f"{field_server.url}/tap_dl", "--cutout-url", f"{field_server.url}/viewer/fits-cutout",
            "--retries", "3", "--backoff", "0.01"]
    assert main(argv) == 2
    assert "outside the Legacy Surveys DR10 footprint" in capsys.readouterr().err
    assert field_server.count(r"/tap_dl/sync$") == 1 and field_server.count(r"/viewer/fits-cutout$") == 0
    assert not list(tmp_path.glob("*.fits")) and not (tmp_path / "c.parquet").exists()


def test_blank_or_failing_cutout_outside_the_footprint(field_server, tmp_path):
    def blank(ra, dec, size, pixscale):  # bricks touch the field, none covers it: all zero
        zeros = np.zeros((size, size), np.float32)
        return {"image": zeros, "invvar": zeros, "maskbits": np.zeros((size, size), np.int32)}

    field_server.legacy_sky = blank
    kw = dict(base_url=f"{field_server.url}/viewer/fits-cutout", cache_dir=tmp_path / "cache", retries=3,
              backoff_s=0.01)
    with pytest.raises(DownloadError, match="field F1: no covered pixel.*outside the ls-dr10 footprint"):
        download_field_image("F1", FIELD_RA, FIELD_DEC, 50, tmp_path / "F1.fits", tmp_path / "F1.w.fits",
                             tmp_path / "F1.m.fits", **kw)
    assert field_server.count(r"/viewer/fits-cutout$") == 1 and not (tmp_path / "F1.fits").exists()
    field_server.legacy_sky = lambda ra, dec, size, pixscale: None  # no brick at all: the viewer fails (500)
    with pytest.raises(DownloadError, match="HTTP 500 for a position that no ls-dr10 brick touches"):
        download_field_image("F2", FIELD_RA, FIELD_DEC, 50, tmp_path / "F2.fits", tmp_path / "F2.w.fits",
                             tmp_path / "F2.m.fits", **kw)


def test_the_i_band_keeps_its_allmask_bit(field_server, tmp_path):
    """Each band's mask bits and assumed seeing by default, not the r band's."""
    kw = dict(base_url=f"{field_server.url}/viewer/fits-cutout", cache_dir=tmp_path / "cache", backoff_s=0.01)
    masks, given = {}, {}
    for band in ("i", "r"):
        _, _, path = download_field_image("F1", FIELD_RA, FIELD_DEC, 200, tmp_path / f"F1.{band}.fits",
                                          tmp_path / f"F1.{band}.w.fits", tmp_path / f"F1.{band}.m.fits", band=band,
                                          **kw)
        masks[band] = fits.getdata(path)
        _, _, path = download_field_image("F1", FIELD_RA, FIELD_DEC, 200, tmp_path / f"G1.{band}.fits",
                                          tmp_path / f"G1.{band}.w.fits", tmp_path / f"G1.{band}.m.fits", band=band,
                                          mask_bits=legacy_mask_bits(band), **kw)
        given[band] = fits.getdata(path)
    assert masks["i"][70, 70] == 1 << 15 and masks["r"][70, 70] == 0  # ALLMASK_I masks the i band alone
    assert all((masks[band] == given[band]).all() for band in masks)
    assert (masks["i"][10:20, 150:160] == 2).all() and masks["i"][60, 60] == 0  # BRIGHT kept, SUB_BLOB not


def test_sky_weight():
    rng = np.random.default_rng(1)
    image = rng.normal(0, 0.5, (300, 300))
    image[:10] = 0.0
    image[50, 50] = 1e4  # a bright source barely moves a MAD
    assert sky_weight(image) == pytest.approx(4.0, rel=0.05)
    assert sky_weight(np.zeros((5, 5))) == 0.0


def test_field_from_a_band_cube_answer(server, tmp_path):
    """The viewer may answer with a (band, y, x) cube: the field image is its 2-D plane."""
    image, weight, mask = download_field_image("F1", 150.1, 2.2, 40, tmp_path / "F1.fits", tmp_path / "F1.w.fits",
                                               tmp_path / "F1.m.fits", base_url=f"{server.url}/viewer/fits-cutout",
                                               cache_dir=tmp_path / "cache", backoff_s=0.01)
    hdr = fits.getheader(image)
    assert hdr["NAXIS"] == 2 and (hdr["NAXIS1"], hdr["NAXIS2"]) == (40, 40) and WCS(hdr).naxis == 2
    assert fits.getdata(mask)[0, 0] == 1 and fits.getdata(weight)[0, 0] == 0
    with pytest.raises(DownloadError, match="expected a 30x30 image"):
        server.legacy_image = lambda params: legacy_fits({**params, "size": "20"})
        download_field_image("F2", 150.1, 2.2, 30, tmp_path / "F2.fits", tmp_path / "F2.w.fits",
                             tmp_path / "F2.m.fits", base_url=f"{server.url}/viewer/fits-cutout",
                             cache_dir=tmp_path / "cache", backoff_s=0.01)
    assert not (tmp_path / "F2.fits").exists() and not list((tmp_path / "cache").glob("*_30_*"))


def test_field_in_g_r_z_one_request_and_one_tile_per_band(field_server, tmp_path, capsys):
    bands = ["g", "r", "z"]
    out = {k: [str(tmp_path / f"tiles/F1.{b}{s}") for b in bands]
           for k, s in (("image", ".fits"), ("weight", ".weight.fits"), ("mask", ".mask.fits"))}
    argv = ["download-legacy-field", "--field", "F1", "--ra", str(FIELD_RA), "--dec", str(FIELD_DEC),
            "--size-pix", str(FIELD_SIZE), "--bands", *bands, "--out-image", *out["image"],
            "--out-weight", *out["weight"], "--out-mask", *out["mask"], "--out-catalog", str(tmp_path / "F1.parquet"),
            "--tap-url", f"{field_server.url}/tap_dl", "--cutout-url", f"{field_server.url}/viewer/fits-cutout",
            "--cache-dir", str(tmp_path / "cache"), "--retries", "1", "--backoff", "0.01"]
    assert main(argv) == 0
    asked = [r[2]["bands"] for r in field_server.requests if r[1] == "/viewer/fits-cutout"]
    assert sorted(asked) == bands
    headers = [fits.getheader(p) for p in out["image"]]
    assert [h["BAND"] for h in headers] == bands
    # r keeps the configured seeing; g and z the preset's medians (Dey et al. 2019)
    assert [h["PSF_FWHM"] for h in headers] == [1.29, 1.2, 1.11]
    wcs = [WCS(h) for h in headers]
    assert all(np.allclose(w.wcs.crval, wcs[1].wcs.crval) and np.allclose(w.wcs.cdelt, wcs[1].wcs.cdelt) for w in wcs)
    masks = {b: fits.getdata(p) for b, p in zip(bands, out["mask"])}
    # SATUR_R (bit 3) masks the r band only; BRIGHT (bit 1) every band
    assert masks["r"][30, 30] == 8 and masks["g"][30, 30] == 0 and masks["z"][30, 30] == 0
    assert all((m[10:20, 150:160] == 2).all() for m in masks.values())
    assert [fits.getheader(p)["MASKBITS"] for p in out["mask"]] == [legacy_mask_bits(b) for b in bands]
    assert legacy_mask_bits("r") == LEGACY_MASK_BITS
    argv[argv.index("--out-mask") + 1:argv.index("--out-catalog")] = out["mask"][:2]
    assert main(argv) == 2 and "--out-mask: expected 3 path(s)" in capsys.readouterr().err
    with pytest.raises(InputError, match="band 'u'"):
        legacy_mask_bits("u")
