"""KiDS access through pyvo against a real local HTTP server (tests/helpers/tapserver.py).

No client is mocked: pyvo and our downloaders talk HTTP to 127.0.0.1, which
answers TAP sync/async, ObsCore, Datalink, SODA and file downloads like the
ESO archive, built from the real DR4 fixture rows and the recorded ObsCore and
Datalink rows of tests/data (several releases of one tile, previews, ISO
timestamps), and injects faults.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from lensfinder.cli import main
from lensfinder.io import InputError
from lensfinder.surveys.base import DownloadError, SurveyBackend, download_file, make_session
from lensfinder.surveys.columns import TAP_TABLES, column_map
from lensfinder.surveys.eso import parse_kids_file, tile_centre
from lensfinder.surveys.kids import KidsBackend, catalog_query, download_catalog, kids_tiles, kids_tiles_in_region
from lensfinder.surveys.kids_images import choose_coadd, download_tile, find_tile_products

from helpers.tapserver import TapServer, synthetic_tile_fits

TILE = "KIDS_5.6_-28.2"
OTHER_TILE = "KIDS_6.6_-28.2"  # constructed: the fixture rows shifted by 1 deg in RA
DR4_TABLE = TAP_TABLES["dr4"]
# the images: tile KIDS_13.5_-28.2, whose DR4 r-band products are named in an
# ESO download manifest (tests/data/ATTRIBUTION.md)
IMAGE_TILE = "KIDS_13.5_-28.2"
IMAGE_DP, WEIGHT_DP, MASK_DP = "ADP.2019-02-11T13:02:24.807", "ADP.2019-02-11T13:02:24.808", "ADP.2019-02-11T13:02:24.809"
DR5_IMAGE_DP, DR3_IMAGE_DP = "ADP.2024-12-13T18:09:02.417", "ADP.2017-01-18T11:58:36.562"
FAST = dict(retries=3, backoff_s=0.01)


@pytest.fixture(scope="module")
def fixture_rows(test_data):
    return pd.read_csv(test_data / "kids_dr4_sample.csv")


@pytest.fixture()
def server(fixture_rows, test_data):
    srv = TapServer()
    other = fixture_rows.copy()
    other["KIDS_TILE"] = OTHER_TILE
    other["RAJ2000"] = other["RAJ2000"] + 1.0
    other["ID"] = other["ID"].str.replace("KiDSDR4 J00", "KiDSDR4 X00")
    srv.tables[DR4_TABLE] = pd.concat([fixture_rows, other], ignore_index=True)
    with srv:
        serve_recorded_images(srv, test_data)
        yield srv


def serve_recorded_images(srv: TapServer, test_data) -> None:
    """The recorded ObsCore rows and Datalink documents, pointed at ``srv``; small FITS files whose
    ORIGFILE/OBJECT cards say what the Datalink ``eso_origfile`` says."""
    obscore = pd.read_csv(test_data / "eso_kids_obscore.csv", dtype=str, keep_default_na=False)
    obscore = obscore.drop(columns="provenance")
    obscore["access_url"] = obscore["access_url"].str.replace("https://archive.eso.org", srv.url, regex=False)
    for name in ("s_ra", "s_dec"):
        obscore[name] = obscore[name].astype(float)
    srv.tables["ivoa.ObsCore"] = obscore
    links = pd.read_csv(test_data / "eso_kids_datalink.csv", dtype=str, keep_default_na=False)
    kinds = {"sci": "image", "wei": "weight", "msk": "mask"}
    for k, row in links.iterrows():
        srv.datalinks.setdefault(row["science_dp_id"], []).append(
            {"dp_id": row["dp_id"], "semantics": row["semantics"], "category": row["eso_category"],
             "origfile": row["eso_origfile"], "content_type": row["content_type"], "description": row["description"]})
        named = parse_kids_file(row["eso_origfile"])
        if named is None:  # a preview
            srv.files[row["dp_id"]] = b"\xff\xd8\xff\xe0 not a FITS file: a JPEG preview"
            continue
        ra, dec = tile_centre(named.tile)
        srv.files[row["dp_id"]] = synthetic_tile_fits(ra, dec, kinds[named.product], seed=k,
                                                      origfile=row["eso_origfile"], obj=named.tile)


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
    for name in ("MAG_GAAP_r_CALIB", "COLOR_GAAPHOM_G_R", "COLOR_GAAPHOM_R_I", "IMAFLAGS_ISO_R"):
        assert name in dr3.download_columns
    # unverified DR3 names stay out of the default query (a release without them would refuse it)
    for name in ("MAG_AUTO_G", "MAG_AUTO_I", "FLAG_R", "DMAG_R"):
        assert name not in dr3.download_columns and name in dr3.roles.values()
    assert "FLAG_R" not in catalog_query("dr3", tile=TILE)
    assert "FLAG_R" in catalog_query("dr3", tile=TILE, columns=[*dr3.download_columns, "FLAG_R"])
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


@pytest.mark.parametrize("fault", ["query_timeout", "504", "408"])
def test_server_side_timeout_switches_to_async(server, tmp_path, fault):
    """The service, not the client, gives up on the sync query: an ERROR VOTable about its time limit, or 504/408."""
    server.add_fault(r"/tap_cat/sync$", fault)
    out = tmp_path / "part.parquet"
    download_catalog(out, "dr4", tile=TILE, mode="auto", **urls(server), **FAST)
    assert len(pd.read_parquet(out)) == 5
    assert server.count(r"/tap_cat/sync$") == 1
    assert server.count(r"/tap_cat/async$", "POST") == 1


def test_other_query_errors_stay_sync_and_fail(server, tmp_path):
    with pytest.raises(DownloadError, match="not retried.*NO_SUCH_COLUMN"):
        download_catalog(tmp_path / "x.parquet", "dr4", tile=TILE, mode="auto", columns=["ID", "NO_SUCH_COLUMN"],
                         **urls(server), **FAST)
    assert server.count(r"/tap_cat/async$") == 0


def test_column_names_compared_case_insensitively(server, tmp_path, fixture_rows):
    """A service may answer ``kids_tile`` for ``KIDS_TILE`` (ADQL identifiers are case-insensitive)."""
    server.tables[DR4_TABLE] = fixture_rows.rename(columns=str.lower)
    out = tmp_path / "part.parquet"
    download_catalog(out, "dr4", tile=TILE, mode="sync", **urls(server), **FAST)
    part = pd.read_parquet(out)
    assert list(part.columns) == column_map("dr4").download_columns and len(part) == 5
    assert part["ID"].tolist() == fixture_rows["ID"].tolist()
    assert kids_tiles("dr4", tap_url=f"{server.url}/tap_cat", **FAST) == [TILE]


def test_5xx_retried_with_backoff(server, tmp_path):
    server.add_fault(r"/tap_cat/sync$", "500", times=2)
    out = tmp_path / "part.parquet"
    download_catalog(out, "dr4", tile=TILE, mode="sync", **urls(server), **FAST)
    assert len(pd.read_parquet(out)) == 5
    assert server.count(r"/tap_cat/sync$") == 3


@pytest.mark.parametrize("fault", ["truncate", "cut_off", "empty"])
def test_reply_cut_off_mid_stream_is_retried(server, tmp_path, fault):
    """A VOTable cut off with its length announced (urllib3 IncompleteRead), cut off without a length (the XML
    ends early) or an empty HTTP 200 body: asked again, and the full reply is used."""
    server.add_fault(r"/tap_cat/sync$", fault)
    out = tmp_path / "part.parquet"
    download_catalog(out, "dr4", tile=TILE, mode="sync", **urls(server), **FAST)
    assert len(pd.read_parquet(out)) == 5
    assert server.count(r"/tap_cat/sync$") == 2


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


def test_cli_column_list_ignores_spaces(server, tmp_path, capsys):
    out = tmp_path / "cols.parquet"
    rc = main(["download-catalog", "--tile", TILE, "--out", str(out), "--tap-url", f"{server.url}/tap_cat",
               "--mode", "sync", "--retries", "0", "--columns", " ID, KIDS_TILE ,MAG_AUTO,"])
    assert rc == 0 and list(pd.read_parquet(out).columns) == ["ID", "KIDS_TILE", "MAG_AUTO"]
    assert server.requests[-1][2]["QUERY"].startswith("SELECT ID, KIDS_TILE, MAG_AUTO FROM")
    rc = main(["download-catalog", "--tile", TILE, "--out", str(tmp_path / "none.parquet"),
               "--tap-url", f"{server.url}/tap_cat", "--columns", " , "])
    assert rc == 2 and "--columns: ' , ': expected comma-separated column names" in capsys.readouterr().err
    assert not (tmp_path / "none.parquet").exists()


def test_tile_lists(server):
    kw = dict(tap_url=f"{server.url}/tap_cat", **FAST)
    assert kids_tiles("dr4", **kw) == [TILE, OTHER_TILE]
    assert kids_tiles_in_region(6.2, -28.69, 0.01, "dr4", **kw) == [TILE]
    assert kids_tiles("dr4", tiles=[OTHER_TILE, TILE, TILE]) == [TILE, OTHER_TILE]
    with pytest.raises(InputError):
        kids_tiles("dr4", tiles=["not a tile"])


def test_list_tiles_step_writes_the_table(server, tmp_path, capsys):
    from lensfinder.surveys.kids import read_tile_list

    out = tmp_path / "tiles.csv"
    tap = ["--tap-url", f"{server.url}/tap_cat", "--retries", "1", "--backoff", "0.01"]
    assert main(["list-tiles", "--all", "--out", str(out), *tap]) == 0
    assert read_tile_list(out) == [TILE, OTHER_TILE]
    table = pd.read_csv(out)
    assert list(table.columns) == ["tile", "ra_deg", "dec_deg"] and table["ra_deg"].tolist() == [5.6, 6.6]
    assert main(["list-tiles", "--region", "6.2", "-28.69", "0.01", "--out", str(out), *tap]) == 0
    assert read_tile_list(out) == [TILE]
    n = len(server.requests)
    assert main(["list-tiles", "--tiles", OTHER_TILE, TILE, "--out", str(out)]) == 0
    assert read_tile_list(out) == [TILE, OTHER_TILE] and len(server.requests) == n  # a list asks nothing
    assert main(["list-tiles", "--region", "100", "10", "0.1", "--out", str(tmp_path / "none.csv"), *tap]) == 2
    assert "no KiDS tile" in capsys.readouterr().err and not (tmp_path / "none.csv").exists()
    pd.DataFrame({"tile": ["M31"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match="M31"):
        read_tile_list(tmp_path / "bad.csv")


# ---------------------------------------------------------------- tile images


def tile_args(server, tmp_path, *extra, tile=IMAGE_TILE):
    return ["download-tile", "--tile", tile, "--band", "r",
            "--out-image", str(tmp_path / "tiles" / f"{tile}.fits"),
            "--out-weight", str(tmp_path / "tiles" / f"{tile}.weight.fits"),
            "--out-mask", str(tmp_path / "tiles" / f"{tile}.mask.fits"),
            "--cache-dir", str(tmp_path / "cache"), "--obscore-url", f"{server.url}/tap_obs",
            "--dataportal-url", f"{server.url}/dataPortal/file", "--retries", "2", "--backoff", "0.01", *extra]


def find(server, tile=IMAGE_TILE, **kwargs):
    return find_tile_products(tile, "r", obscore_url=f"{server.url}/tap_obs",
                              dataportal_url=f"{server.url}/dataPortal/file", **FAST, **kwargs)


def test_find_tile_products_takes_the_release_asked_for(server):
    """ObsCore's KIDS collection holds DR3, DR4 and (newer, 2024) DR5 coadds of the tile: DR4 asks for DR4."""
    products = find(server)
    assert products["release"] == "DR4.0" and products["obs"]["dp_id"] == IMAGE_DP
    assert products["image"]["dp_id"] == IMAGE_DP
    assert products["weight"]["dp_id"] == WEIGHT_DP and products["mask"]["dp_id"] == MASK_DP
    assert products["image"]["origfile"] == "KiDS_DR4.0_13.5_-28.2_r_sci.fits"
    assert products["image"]["size"] == len(server.files[IMAGE_DP])
    assert products["soda_url"] == f"{server.url}/soda/sync"
    query = [q["QUERY"] for m, p, q, h in server.requests if p == "/tap_obs/sync"][-1]
    assert "obs_creator_did" in query and "release_description" in query
    assert find(server, release="dr3")["image"]["dp_id"] == DR3_IMAGE_DP
    dr5 = find(server, image_release="DR5.0")  # asked for explicitly; not the detection image beside it
    assert dr5["image"]["dp_id"] == DR5_IMAGE_DP and dr5["image"]["origfile"].endswith("_r_sci.fits")
    assert "preview" not in str(dr5) and server.count(r"_preview$") == 0
    with pytest.raises(DownloadError, match="KIDS_50.0_-30.0.*no r-band KiDS DR4.0 coadd"):
        find(server, tile="KIDS_50.0_-30.0")


def test_release_missing_is_an_error_that_lists_what_there_is(server):
    obscore = server.tables["ivoa.ObsCore"]
    server.tables["ivoa.ObsCore"] = obscore[~obscore["obs_creator_did"].str.contains("DR4.0")]
    with pytest.raises(DownloadError, match=r"no r-band KiDS DR4.0 coadd.*DR5.0 KiDS_DR5.0_13.5_-28.2_r_sci"
                                            r".*kids.image_release"):
        find(server)


def test_choose_coadd_within_a_release_and_without_file_names():
    rows = [{"dp_id": "A", "s_ra": "13.5", "s_dec": "-28.2", "obs_release_date": "2019-02-26T10:11:57.883Z",
             "release_description": "https://www.eso.org/rm/api/v1/public/releaseDescriptions/127"},
            {"dp_id": "B", "s_ra": "13.5", "s_dec": "-28.2", "obs_release_date": "2019-03-01T00:00:00Z",
             "release_description": "https://www.eso.org/rm/api/v1/public/releaseDescriptions/127"},
            {"dp_id": "C", "s_ra": "13.5", "s_dec": "-28.2", "obs_release_date": "2025-01-01T00:00:00Z",
             "release_description": "https://www.eso.org/rm/api/v1/public/releaseDescriptions/229"},
            {"dp_id": "D", "s_ra": "14.5", "s_dec": "-28.2", "obs_release_date": "2030-01-01T00:00:00Z",
             "release_description": "https://www.eso.org/rm/api/v1/public/releaseDescriptions/127"}]
    # no obs_creator_did: the release comes from release_description; same release: the newest (ISO, Z)
    chosen = choose_coadd(rows, IMAGE_TILE, "r", ("DR4.0",))
    assert (chosen["dp_id"], chosen["release"]) == ("B", "DR4.0")
    assert choose_coadd(rows, IMAGE_TILE, "r", ("DR5.0",))["dp_id"] == "C"
    with pytest.raises(DownloadError, match="DR3.0"):
        choose_coadd(rows, IMAGE_TILE, "r", ("DR3.0",))


def test_choose_coadd_without_file_names_across_ra_zero():
    """Tiles at RA 0.0 exist (KIDS_0.0_-28.2): an unnamed coadd centred just below RA 360 is the tile's."""
    desc = "https://www.eso.org/rm/api/v1/public/releaseDescriptions/127"
    near = [{"dp_id": "W", "s_ra": "359.99995", "s_dec": "-28.2", "release_description": desc}]
    assert choose_coadd(near, "KIDS_0.0_-28.2", "r", ("DR4.0",))["dp_id"] == "W"
    # and the match radius still holds there: a coadd 1 degree away (a neighbouring tile) is not it
    far = [{"dp_id": "F", "s_ra": "358.87", "s_dec": "-28.2", "release_description": desc}]
    with pytest.raises(DownloadError, match="no r-band KiDS DR4.0 coadd"):
        choose_coadd(far, "KIDS_0.0_-28.2", "r", ("DR4.0",))


def test_download_tile_whole_files(server, tmp_path):
    assert main(tile_args(server, tmp_path)) == 0
    image = tmp_path / "tiles" / f"{IMAGE_TILE}.fits"
    with fits.open(image) as hdul:
        hdr, data = hdul[0].header, hdul[0].data
        assert data.dtype == np.dtype(">f4") and data.shape == (300, 300)
        assert hdr["ZEROPT"] == 30.0 and hdr["PSF_FWHM"] == pytest.approx(0.71)
        assert hdr["PIXSCALE"] == pytest.approx(0.2) and hdr["CTYPE1"] == "RA---TAN"
        assert (hdr["KIDSREL"], hdr["ORIGFILE"], hdr["OBJECT"]) == (
            "DR4.0", "KiDS_DR4.0_13.5_-28.2_r_sci.fits", IMAGE_TILE)
    with fits.open(tmp_path / "tiles" / f"{IMAGE_TILE}.mask.fits") as hdul:
        mask = hdul[0].data
        assert mask.dtype == np.dtype(">i2") and mask[0, 0] == 32767 and mask[22, 22] == 16 and mask[150, 150] == 0
    with fits.open(tmp_path / "tiles" / f"{IMAGE_TILE}.weight.fits") as hdul:
        assert hdul[0].data.dtype == np.dtype(">f4") and float(hdul[0].data.mean()) == 4.0
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        f"{d}.fits" for d in (IMAGE_DP, WEIGHT_DP, MASK_DP))
    n = server.count(r"/dataPortal/file/")
    assert main(tile_args(server, tmp_path)) == 0
    assert server.count(r"/dataPortal/file/") == n  # cached: nothing downloaded again


def test_downloaded_header_must_name_the_tile_and_release(server, tmp_path, capsys):
    # the archive's metadata say DR4, the file says DR5: refused, naming the file and the card
    server.files[IMAGE_DP] = synthetic_tile_fits(13.5, -28.2, "image", origfile="KiDS_DR5.0_13.5_-28.2_r_sci.fits",
                                                 obj=IMAGE_TILE)
    server.datalinks[IMAGE_DP][0]["origfile"] = ""  # Datalink names no file: only the header can tell
    assert main(tile_args(server, tmp_path)) == 2
    err = capsys.readouterr().err
    assert IMAGE_DP in err and "ORIGFILE = 'KiDS_DR5.0_13.5_-28.2_r_sci.fits'" in err and "DR4.0" in err
    assert not (tmp_path / "tiles" / f"{IMAGE_TILE}.fits").exists()
    # no ORIGFILE card: OBJECT must name the tile
    server.files[IMAGE_DP] = synthetic_tile_fits(13.5, -28.2, "image", obj="KIDS_14.5_-28.2")
    (tmp_path / "cache" / f"{IMAGE_DP}.fits").unlink()
    assert main(tile_args(server, tmp_path)) == 2
    assert "OBJECT = 'KIDS_14.5_-28.2'; asked for tile KIDS_13.5_-28.2" in capsys.readouterr().err


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


@pytest.mark.parametrize("fault", ["gzip", "gzip_always"])
def test_compressing_server_gives_the_file_in_one_request(server, tmp_path, fault):
    """A server that gzips what the client accepts: downloads ask for identity, so Content-Length counts the
    file's bytes; one that compresses anyway is checked against the compressed bytes it sent."""
    server.add_fault(rf"/dataPortal/file/{IMAGE_DP}$", fault, times=5)
    dest = download_file(f"{server.url}/dataPortal/file/{IMAGE_DP}", tmp_path / "f.fits", retries=2,
                         backoff_s=0.01)
    assert dest.read_bytes() == server.files[IMAGE_DP]
    assert [h.get("Accept-Encoding") for _, p, _, h in server.requests] == ["identity"]
    assert not list(tmp_path.glob("*.part"))


def test_corrupt_file_is_fetched_again(server, tmp_path):
    server.add_fault(rf"/dataPortal/file/{WEIGHT_DP}$", "corrupt")
    assert main(tile_args(server, tmp_path)) == 0
    assert (tmp_path / "cache" / f"{WEIGHT_DP}.fits").read_bytes() == server.files[WEIGHT_DP]
    assert server.count(rf"/dataPortal/file/{WEIGHT_DP}$") == 2


def test_persistently_truncated_file_fails_cleanly(server, tmp_path, capsys):
    server.add_fault(rf"/dataPortal/file/{MASK_DP}$", "truncate", times=20)
    assert main(tile_args(server, tmp_path)) == 2
    err = capsys.readouterr().err
    assert MASK_DP in err and IMAGE_TILE in err
    assert not (tmp_path / "tiles" / f"{IMAGE_TILE}.fits").exists()
    assert (tmp_path / "cache" / f"{IMAGE_DP}.fits").exists()  # finished downloads are kept
    assert not (tmp_path / "cache" / f"{MASK_DP}.fits").exists()


def test_soda_cutout(server, tmp_path):
    ra, dec = tile_centre(IMAGE_TILE)
    assert main(tile_args(server, tmp_path, "--cutout", str(ra), str(dec), "6")) == 0
    with fits.open(tmp_path / "tiles" / f"{IMAGE_TILE}.fits") as hdul:
        assert hdul[0].data.shape == (30, 30) and hdul[0].header["ZEROPT"] == 30.0
        assert float(hdul[0].data.max()) == 1000.0  # the bright centre pixel is inside
        assert hdul[0].header["KIDSREL"] == "DR4.0"
    with fits.open(tmp_path / "tiles" / f"{IMAGE_TILE}.mask.fits") as hdul:
        assert hdul[0].data.shape == (30, 30)
    soda = [q["ID"] for m, p, q, h in server.requests if p == "/soda/sync"]
    assert soda == [f"ivo://eso.org/ID?{d}" for d in (IMAGE_DP, WEIGHT_DP, MASK_DP)]
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
    image, weight, mask = backend.fetch_image(IMAGE_TILE, "r", tmp_path / "t.fits")
    assert weight.name == "t.weight.fits" and mask.exists()
    assert fits.getheader(image)["KIDSREL"] == "DR4.0"
    assert backend.list_tiles(region=(6.2, -28.69, 0.01)) == [TILE]


def test_download_tile_library_rejects_bad_tile(tmp_path):
    with pytest.raises(InputError, match="tile"):
        download_tile("M31", "r", tmp_path / "a", tmp_path / "b", tmp_path / "c", obscore_url="http://127.0.0.1:9")
    with pytest.raises(InputError, match="image release"):
        download_tile(IMAGE_TILE, "r", tmp_path / "a", tmp_path / "b", tmp_path / "c", image_release="DR 5",
                      obscore_url="http://127.0.0.1:9")


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


def test_each_band_finds_its_own_coadd(server):
    """The recorded ObsCore rows hold the tile's g and r coadds: band g asks for the g coadd's links, not r's."""
    g_dp = "ADP.2018-12-21T13:00:30.250"
    with pytest.raises(DownloadError, match="Datalink"):  # the g coadd's Datalink document is not recorded
        find_tile_products(IMAGE_TILE, "g", obscore_url=f"{server.url}/tap_obs",
                           dataportal_url=f"{server.url}/dataPortal/file", **FAST)
    linked = [str(q) for m, p, q, h in server.requests if "datalink" in p]
    assert linked and all(g_dp in q and IMAGE_DP not in q for q in linked)
    with pytest.raises(DownloadError, match="no i-band KiDS DR4.0 coadd"):
        find_tile_products(IMAGE_TILE, "i", obscore_url=f"{server.url}/tap_obs",
                           dataportal_url=f"{server.url}/dataPortal/file", **FAST)
