"""KiDS access through pyvo against a real local HTTP server (tests/helpers/tapserver.py).

No client is mocked: pyvo and our downloaders talk HTTP to 127.0.0.1, which
answers TAP sync/async, ObsCore, Datalink, SODA and file downloads like the
ESO archive, built from the real DR4 fixture rows, and injects faults.
"""

from __future__ import annotations

import gc
import urllib.parse

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from lensfinder.cli import main
from lensfinder.io import InputError
from lensfinder.surveys.base import DownloadError, SurveyBackend, make_session
from lensfinder.surveys.columns import TAP_TABLES, column_map
from lensfinder.surveys.kids import (
    KidsBackend,
    catalog_query,
    download_catalog,
    download_tile,
    find_tile_products,
    kids_tiles,
    kids_tiles_in_region,
    tile_centre,
)

from helpers.tapserver import TapServer, synthetic_tile_fits

TILE = "KIDS_5.6_-28.2"
OTHER_TILE = "KIDS_6.6_-28.2"  # constructed: the fixture rows shifted by 1 deg in RA
DR4_TABLE = TAP_TABLES["dr4"]
IMAGE_DP, WEIGHT_DP, MASK_DP = "ADP.2019-02-11T13:02:24.807", "ADP.2019-02-11T13:02:24.808", "ADP.2019-02-11T13:02:24.809"
FAST = dict(retries=3, backoff_s=0.01)


@pytest.fixture(autouse=True)
def _collect_garbage():
    # surface a leaked socket or file in the test that leaked it
    yield
    gc.collect()


@pytest.fixture(scope="module")
def fixture_rows(test_data):
    return pd.read_csv(test_data / "kids_dr4_sample.csv")


@pytest.fixture()
def server(fixture_rows):
    srv = TapServer()
    other = fixture_rows.copy()
    other["KIDS_TILE"] = OTHER_TILE
    other["RAJ2000"] = other["RAJ2000"] + 1.0
    other["ID"] = other["ID"].str.replace("KiDSDR4 J00", "KiDSDR4 X00")
    srv.tables[DR4_TABLE] = pd.concat([fixture_rows, other], ignore_index=True)
    ra, dec = tile_centre(TILE)
    with srv:
        base = srv.url
        srv.files = {IMAGE_DP: synthetic_tile_fits(ra, dec, "image"), WEIGHT_DP: synthetic_tile_fits(ra, dec, "weight"),
                     MASK_DP: synthetic_tile_fits(ra, dec, "mask")}
        srv.datalinks = {IMAGE_DP: [
            {"dp_id": IMAGE_DP, "semantics": "#this", "category": "SCIENCE.IMAGE",
             "origfile": "KiDS_DR4.0_5.6_-28.2_r_sci.fits"},
            {"dp_id": WEIGHT_DP, "semantics": "#auxiliary", "category": "ANCILLARY.WEIGHTMAP",
             "origfile": "KiDS_DR4.0_5.6_-28.2_r_wei.fits"},
            {"dp_id": MASK_DP, "semantics": "#auxiliary", "category": "ANCILLARY.MASK",
             "origfile": "KiDS_DR4.0_5.6_-28.2_r_msk.fits"},
        ]}
        link = f"{base}/datalink/links?ID=" + urllib.parse.quote(f"ivo://eso.org/ID?{IMAGE_DP}", safe="")
        srv.tables["ivoa.ObsCore"] = pd.DataFrame({
            "dp_id": [IMAGE_DP, "ADP.2018-12-21T13:00:30.250", "ADP.2017-01-01T00:00:00.000"],
            "access_url": [link, f"{base}/datalink/links?ID=g", f"{base}/datalink/links?ID=far"],
            "s_ra": [5.6001, 5.6, 7.5], "s_dec": [-28.2001, -28.2, -28.2],
            "filter": ["r_SDSS", "g_SDSS", "r_SDSS"],
            "obs_release_date": ["2019-02-26", "2019-02-26", "2017-01-01"],
            "obs_collection": ["KIDS", "KIDS", "KIDS"], "dataproduct_type": ["image"] * 3,
        })
        yield srv


def urls(server):
    return {"tap_url": f"{server.url}/tap_cat"}


def test_dr4_column_map_matches_real_header(fixture_rows):
    cmap = column_map("dr4")
    missing = [c for c in cmap.download_columns if c not in fixture_rows.columns]
    assert missing == []
    assert column_map("dr4.0") is cmap
    for name in ("MAG_AUTO", "COLOUR_GAAP_g_r", "COLOUR_GAAP_r_i", "SG2DPHOT", "CLASS_STAR", "FLUX_RADIUS",
                 "MASK", "IMAFLAGS_ISO", "Flag", "Z_B", "MAG_GAAP_u", "MAG_GAAP_i"):
        assert name in cmap.download_columns
    dr3 = column_map("dr3")
    for name in ("MAG_GAAP_r_CALIB", "COLOR_GAAPHOM_G_R", "COLOR_GAAPHOM_R_I", "IMAFLAGS_ISO_R", "FLAG_R"):
        assert name in dr3.download_columns
    with pytest.raises(InputError, match="dr5"):
        column_map("dr5")


def test_adql_per_tile_and_region():
    q = catalog_query("dr4", tile=TILE)
    assert q.startswith("SELECT ") and f"FROM {DR4_TABLE} WHERE KIDS_TILE = '{TILE}'" in q
    q = catalog_query("dr3", region=(5.1, -28.7, 0.05))
    assert "CONTAINS(POINT('ICRS', RAJ2000, DECJ2000), CIRCLE('ICRS', 5.1, -28.7, 0.05)) = 1" in q
    with pytest.raises(InputError, match="tile"):
        catalog_query("dr4", tile="KIDS_5.6_-28.2'; DROP TABLE x --")
    with pytest.raises(InputError):
        catalog_query("dr4", tile=TILE, region=(1, 2, 3))


def test_sync_tile_part_and_no_refetch(server, tmp_path, fixture_rows):
    out = tmp_path / f"{TILE}.parquet"
    download_catalog(out, "dr4", tile=TILE, mode="sync", **urls(server), **FAST)
    part = pd.read_parquet(out)
    assert list(part.columns) == column_map("dr4").download_columns
    assert len(part) == 5 and set(part["KIDS_TILE"]) == {TILE}
    assert part["ID"].tolist() == fixture_rows["ID"].tolist()
    np.testing.assert_allclose(part["MAG_AUTO"], fixture_rows["MAG_AUTO"], rtol=1e-6)
    assert np.isnan(part.loc[3, "MAG_GAAP_u"])  # the star's empty u-band value
    assert part["MASK"].dtype == np.int64
    n = len(server.requests)
    download_catalog(out, "dr4", tile=TILE, mode="sync", **urls(server), **FAST)
    assert len(server.requests) == n  # a finished tile is never fetched again


def test_async_job_round_trip(server, tmp_path):
    out = tmp_path / "part.parquet"
    download_catalog(out, "dr4", tile=OTHER_TILE, mode="async", **urls(server), **FAST)
    part = pd.read_parquet(out)
    assert len(part) == 5 and set(part["KIDS_TILE"]) == {OTHER_TILE}
    assert server.count(r"/tap_cat/async$", "POST") == 1
    assert server.count(r"/async/job\d+/phase$", "POST") == 1
    assert server.count(r"/results/result$", "GET") == 1
    assert server.count(r"/async/job\d+$", "DELETE") == 1
    assert server.jobs == {}


def test_region_query(server, tmp_path, fixture_rows):
    ra, dec = fixture_rows.loc[0, ["RAJ2000", "DECJ2000"]]
    out = tmp_path / "region.parquet"
    download_catalog(out, "dr4", region=(ra, dec, 0.02), mode="sync", **urls(server), **FAST)
    part = pd.read_parquet(out)
    assert part["ID"].tolist() == [fixture_rows.loc[0, "ID"]]


def test_empty_tile_gives_valid_empty_part(server, tmp_path):
    out = tmp_path / "empty.parquet"
    download_catalog(out, "dr4", tile="KIDS_100.0_-30.0", mode="sync", **urls(server), **FAST)
    part = pd.read_parquet(out)
    assert len(part) == 0 and list(part.columns) == column_map("dr4").download_columns


def test_timeout_switches_to_async(server, tmp_path):
    server.slow_s = 1.5
    server.add_fault(r"/tap_cat/sync$", "timeout")
    out = tmp_path / "part.parquet"
    with make_session(0.5) as session:
        download_catalog(out, "dr4", tile=TILE, mode="auto", session=session, **urls(server), **FAST)
    assert len(pd.read_parquet(out)) == 5
    assert server.count(r"/tap_cat/sync$") == 1
    assert server.count(r"/tap_cat/async$", "POST") == 1


def test_5xx_retried_with_backoff(server, tmp_path):
    server.add_fault(r"/tap_cat/sync$", "500", times=2)
    out = tmp_path / "part.parquet"
    download_catalog(out, "dr4", tile=TILE, mode="sync", **urls(server), **FAST)
    assert len(pd.read_parquet(out)) == 5
    assert server.count(r"/tap_cat/sync$") == 3


def test_last_retry_names_tile_and_keeps_earlier_parts(server, tmp_path):
    done = tmp_path / f"{OTHER_TILE}.parquet"
    download_catalog(done, "dr4", tile=OTHER_TILE, mode="sync", **urls(server), **FAST)
    before = done.read_bytes()
    server.add_fault(r"/tap_cat/sync$", "503", times=10)
    out = tmp_path / f"{TILE}.parquet"
    with pytest.raises(DownloadError, match=rf"{TILE}.*after 3 attempt"):
        download_catalog(out, "dr4", tile=TILE, mode="sync", tap_url=f"{server.url}/tap_cat", retries=2,
                         backoff_s=0.01)
    assert not out.exists() and not list(tmp_path.glob(".*.part"))
    assert done.read_bytes() == before


def test_query_error_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match=rf"{TILE}.*not retried.*NO_SUCH_COLUMN"):
        download_catalog(tmp_path / "x.parquet", "dr4", tile=TILE, mode="sync", columns=["ID", "NO_SUCH_COLUMN"],
                         **urls(server), **FAST)
    assert server.count(r"/tap_cat/sync$") == 1


def test_overflow_is_an_error(server):
    from lensfinder.surveys.kids import ESO_MAX_ROWS
    from lensfinder.surveys.tap import run_tap_query

    with pytest.raises(DownloadError, match="OVERFLOW"):
        run_tap_query(f"SELECT ID FROM {DR4_TABLE}", f"{server.url}/tap_cat", maxrec=3, what=f"tile {TILE}")
    assert len(run_tap_query(f"SELECT ID FROM {DR4_TABLE}", f"{server.url}/tap_cat", maxrec=ESO_MAX_ROWS,
                             mode="async")) == 10


def test_cli_download_catalog(server, tmp_path, capsys):
    out = tmp_path / "cat" / f"{TILE}.parquet"
    rc = main(["download-catalog", "--release", "dr4", "--tile", TILE, "--out", str(out),
               "--tap-url", f"{server.url}/tap_cat", "--retries", "1", "--backoff", "0.01"])
    assert rc == 0 and len(pd.read_parquet(out)) == 5
    rc = main(["download-catalog", "--release", "dr4", "--region", "5.08", "-28.69", "0.01",
               "--out", str(tmp_path / "r.parquet"), "--tap-url", f"{server.url}/tap_cat", "--mode", "async"])
    assert rc == 0 and len(pd.read_parquet(tmp_path / "r.parquet")) == 1
    server.add_fault(r"/tap_cat/sync$", "500", times=5)
    rc = main(["download-catalog", "--tile", OTHER_TILE, "--out", str(tmp_path / "bad.parquet"),
               "--tap-url", f"{server.url}/tap_cat", "--retries", "1", "--backoff", "0.01"])
    assert rc == 2 and OTHER_TILE in capsys.readouterr().err


def test_tile_lists(server):
    kw = dict(tap_url=f"{server.url}/tap_cat", **FAST)
    assert kids_tiles("dr4", **kw) == [TILE, OTHER_TILE]
    assert kids_tiles_in_region(6.2, -28.69, 0.01, "dr4", **kw) == [TILE]
    assert kids_tiles("dr4", tiles=[OTHER_TILE, TILE, TILE]) == [TILE, OTHER_TILE]
    with pytest.raises(InputError):
        kids_tiles("dr4", tiles=["not a tile"])


# ---------------------------------------------------------------- tile images


def tile_args(server, tmp_path, *extra):
    return ["download-tile", "--tile", TILE, "--band", "r",
            "--out-image", str(tmp_path / "tiles" / f"{TILE}.fits"),
            "--out-weight", str(tmp_path / "tiles" / f"{TILE}.weight.fits"),
            "--out-mask", str(tmp_path / "tiles" / f"{TILE}.mask.fits"),
            "--cache-dir", str(tmp_path / "cache"), "--obscore-url", f"{server.url}/tap_obs",
            "--dataportal-url", f"{server.url}/dataPortal/file", "--retries", "2", "--backoff", "0.01", *extra]


def test_find_tile_products(server):
    products = find_tile_products(TILE, "r", obscore_url=f"{server.url}/tap_obs",
                                  dataportal_url=f"{server.url}/dataPortal/file", **FAST)
    assert products["image"]["dp_id"] == IMAGE_DP
    assert products["weight"]["dp_id"] == WEIGHT_DP and products["mask"]["dp_id"] == MASK_DP
    assert products["image"]["size"] == len(server.files[IMAGE_DP])
    assert products["soda_url"] == f"{server.url}/soda/sync"
    with pytest.raises(DownloadError, match="KIDS_50.0_-30.0"):
        find_tile_products("KIDS_50.0_-30.0", "r", obscore_url=f"{server.url}/tap_obs", **FAST)


def test_download_tile_whole_files(server, tmp_path):
    assert main(tile_args(server, tmp_path)) == 0
    image = tmp_path / "tiles" / f"{TILE}.fits"
    with fits.open(image) as hdul:
        hdr, data = hdul[0].header, hdul[0].data
        assert data.dtype == np.dtype(">f4") and data.shape == (300, 300)
        assert hdr["ZEROPT"] == 30.0 and hdr["PSF_FWHM"] == pytest.approx(0.71)
        assert hdr["PIXSCALE"] == pytest.approx(0.2) and hdr["CTYPE1"] == "RA---TAN"
    with fits.open(tmp_path / "tiles" / f"{TILE}.mask.fits") as hdul:
        mask = hdul[0].data
        assert mask.dtype == np.dtype(">i2") and mask[0, 0] == 32767 and mask[22, 22] == 16 and mask[150, 150] == 0
    with fits.open(tmp_path / "tiles" / f"{TILE}.weight.fits") as hdul:
        assert hdul[0].data.dtype == np.dtype(">f4") and float(hdul[0].data.mean()) == 4.0
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        f"{d}.fits" for d in (IMAGE_DP, WEIGHT_DP, MASK_DP))
    n = server.count(r"/dataPortal/file/")
    assert main(tile_args(server, tmp_path)) == 0
    assert server.count(r"/dataPortal/file/") == n  # cached: nothing downloaded again


def test_download_tile_cache_defaults_to_a_folder_beside_the_image(server, tmp_path):
    args = tile_args(server, tmp_path)
    at = args.index("--cache-dir")
    assert main(args[:at] + args[at + 2:]) == 0
    assert (tmp_path / "tiles" / "cache" / f"{IMAGE_DP}.fits").exists() and not (tmp_path / "cache").exists()


def test_truncated_file_is_resumed(server, tmp_path):
    server.add_fault(rf"/dataPortal/file/{IMAGE_DP}$", "truncate")
    assert main(tile_args(server, tmp_path)) == 0
    assert (tmp_path / "cache" / f"{IMAGE_DP}.fits").read_bytes() == server.files[IMAGE_DP]
    ranges = [h.get("Range") for m, p, _, h in server.requests if p.endswith(IMAGE_DP)]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"


def test_corrupt_file_is_fetched_again(server, tmp_path):
    server.add_fault(rf"/dataPortal/file/{WEIGHT_DP}$", "corrupt")
    assert main(tile_args(server, tmp_path)) == 0
    assert (tmp_path / "cache" / f"{WEIGHT_DP}.fits").read_bytes() == server.files[WEIGHT_DP]
    assert server.count(rf"/dataPortal/file/{WEIGHT_DP}$") == 2


def test_persistently_truncated_file_fails_cleanly(server, tmp_path, capsys):
    server.add_fault(rf"/dataPortal/file/{MASK_DP}$", "truncate", times=20)
    assert main(tile_args(server, tmp_path)) == 2
    err = capsys.readouterr().err
    assert MASK_DP in err and TILE in err
    assert not (tmp_path / "tiles" / f"{TILE}.fits").exists()
    assert (tmp_path / "cache" / f"{IMAGE_DP}.fits").exists()  # finished downloads are kept
    assert not (tmp_path / "cache" / f"{MASK_DP}.fits").exists()


def test_soda_cutout(server, tmp_path):
    ra, dec = tile_centre(TILE)
    assert main(tile_args(server, tmp_path, "--cutout", str(ra), str(dec), "6")) == 0
    with fits.open(tmp_path / "tiles" / f"{TILE}.fits") as hdul:
        assert hdul[0].data.shape == (30, 30) and hdul[0].header["ZEROPT"] == 30.0
        assert float(hdul[0].data.max()) == 1000.0  # the bright centre pixel is inside
    with fits.open(tmp_path / "tiles" / f"{TILE}.mask.fits") as hdul:
        assert hdul[0].data.shape == (30, 30)
    soda = [p for m, p, q, h in server.requests if p == "/soda/sync"]
    assert len(soda) == 3
    assert server.count(r"/dataPortal/file/") == 0


def test_backend_interface(server, tmp_path):
    with KidsBackend("dr4", tap_url=f"{server.url}/tap_cat", obscore_url=f"{server.url}/tap_obs",
                     dataportal_url=f"{server.url}/dataPortal/file", cache_dir=tmp_path / "cache", **FAST) as backend:
        _check_backend(backend, tmp_path)


def _check_backend(backend, tmp_path):
    assert isinstance(backend, SurveyBackend)
    assert backend.pixel_scale_arcsec == 0.2 and backend.column_map()["r_auto"] == "MAG_AUTO"
    assert len(backend.query_catalog(tile=TILE)) == 5
    assert backend.zeropoint_mag(fits.Header({"PHOTZP": 30.0})) == 30.0
    image, weight, mask = backend.fetch_image(TILE, "r", tmp_path / "t.fits")
    assert weight.name == "t.weight.fits" and mask.exists()


def test_download_tile_library_rejects_bad_tile(tmp_path):
    with pytest.raises(InputError, match="tile"):
        download_tile("M31", "r", tmp_path / "a", tmp_path / "b", tmp_path / "c", obscore_url="http://127.0.0.1:9")


# ---------------------------------------------------------------- merge-catalog


def test_merge_catalog_parts(server, tmp_path):
    kw = dict(mode="sync", **urls(server), **FAST)
    parts = [download_catalog(tmp_path / f"{t}.parquet", "dr4", tile=t, **kw) for t in (TILE, OTHER_TILE)]
    parts.append(download_catalog(tmp_path / "KIDS_100.0_-30.0.parquet", "dr4", tile="KIDS_100.0_-30.0", **kw))
    out = tmp_path / "catalog.parquet"
    assert main(["merge-catalog", "--parts", *map(str, parts), "--out", str(out)]) == 0
    merged = pd.read_parquet(out)
    assert len(merged) == 10 and list(merged.columns) == column_map("dr4").download_columns
    assert merged["MASK"].dtype == np.int64 and merged["MAG_GAAP_u"].dtype == np.float64


def test_merge_catalog_dtypes_and_errors(tmp_path):
    from lensfinder.selection.catalog import merge_parts

    a = pd.DataFrame({"ID": ["a"], "MASK": [1], "Z_B": [0.5]})
    b = pd.DataFrame({"Z_B": [0.1, np.nan], "ID": ["b", "c"], "MASK": [2.0, np.nan]})
    merged = merge_parts([a, b, a.iloc[:0]])
    assert list(merged.columns) == ["ID", "MASK", "Z_B"] and merged["MASK"].dtype == np.float64
    with pytest.raises(InputError, match=r"p2: columns differ.*missing Z_B.*unexpected FLUX"):
        merge_parts([a, a.rename(columns={"Z_B": "FLUX"})], ["p1", "p2"])
    with pytest.raises(InputError, match="MASK: incompatible"):
        merge_parts([a, a.assign(MASK=["x"])])
    a.to_parquet(tmp_path / "a.parquet")
    a.rename(columns={"Z_B": "FLUX"}).to_parquet(tmp_path / "b.parquet")
    assert main(["merge-catalog", "--parts", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"),
                 "--out", str(tmp_path / "m.parquet")]) == 2
    assert not (tmp_path / "m.parquet").exists()
