"""`kids.tiles: all` and `kids.region` through the list_tiles checkpoint: a dry run asks no server; a real run
lists the tiles on a local recorded-response TAP server, then downloads and merges one part per tile."""

from __future__ import annotations

from contextlib import contextmanager

import pandas as pd

from lensfinder.surveys.columns import TAP_TABLES

from helpers.early_runs import early_test
from helpers.tapserver import TapServer
from helpers.workflow_run import REPO, copy_workflow, snakemake

TILES = ["KIDS_5.6_-28.2", "KIDS_6.6_-28.2"]


@contextmanager
def _server():
    """The recorded-response TAP server, holding the fixture rows as two tiles."""
    rows = pd.read_csv(REPO / "tests" / "data" / "kids_dr4_sample.csv")
    other = rows.assign(KIDS_TILE=TILES[1], RAJ2000=rows["RAJ2000"] + 1.0,
                        ID=rows["ID"].str.replace("KiDSDR4 J00", "KiDSDR4 X00"))
    srv = TapServer()
    srv.tables[TAP_TABLES["dr4"]] = pd.concat([rows, other], ignore_index=True)
    with srv:
        yield srv


def _workdir(tmp_path, server):
    copy_workflow(tmp_path)
    (tmp_path / "config" / "all.yaml").write_text(
        f"survey: kids_dr4\nkids:\n  tiles: all\n  tap_url: {server.url}/tap_cat\n  retries: 1\n")
    return tmp_path


@early_test(18)
def test_all_tiles_plan_through_the_checkpoint_then_each_tile_is_downloaded(tmp_path):
    with _server() as server:
        _plan_and_download(_workdir(tmp_path, server), server)


def _plan_and_download(workdir, server):
    plan = snakemake(workdir, "-n", "--configfile", "config/all.yaml").stdout
    assert server.requests == []  # parsing and planning asked nothing
    assert "list_tiles" in plan and "preselect" in plan  # the tiles' flags put together: the first run's product
    assert "download_catalog" not in plan  # which tiles: known once the checkpoint has run
    # the run: the checkpoint lists the tiles (one async job), then one catalogue part per tile
    snakemake(workdir, "results/catalog/catalog.parquet", "--cores", "2", "--configfile", "config/all.yaml")
    assert pd.read_csv(workdir / "results/survey/tiles.csv")["tile"].tolist() == TILES
    merged = pd.read_parquet(workdir / "results/catalog/catalog.parquet")
    assert sorted(set(merged["KIDS_TILE"])) == TILES and len(merged) == 10
    assert server.count(r"/tap_cat/async$", "POST") == 1 and server.count(r"/tap_cat/sync$") == 2
    # a region instead: the checkpoint's options change, so it is planned again - still without a query
    n = len(server.requests)
    region = snakemake(workdir, "-n", "-p", "--configfile", "config/all.yaml", "--config",
                       "kids={'tiles': [], 'region': {'ra': 6.2, 'dec': -28.69, 'radius_deg': 0.01}}").stdout
    assert "lensfinder list-tiles --release dr4 --region 6.2 -28.69 0.01" in region and len(server.requests) == n
