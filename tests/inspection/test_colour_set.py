"""Inspection sets in several bands: colour composites, single bands beside them, one cube per band, the page."""

from __future__ import annotations

import threading

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.inspection import server as grading
from lensfinder.inspection.candidates import MANIFEST_COLUMNS, manifest_columns
from lensfinder.io import read_cube, write_cube, write_table

GRI = ("g", "r", "i")
SIZE = 15


def _survey(tmp_path, bands=GRI, n=6):
    """One tile's stamp cube in ``bands`` (red galaxies with a blue ring around some), index and scores."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:SIZE, :SIZE] - SIZE // 2
    galaxy = 50.0 * np.exp(-(xx**2 + yy**2) / 4.0)
    ring = 20.0 * np.exp(-((np.hypot(xx, yy) - 5.0) ** 2) / 1.0)
    red, blue = {"g": 0.3, "r": 1.0, "i": 1.6}, {"g": 1.5, "r": 1.0, "i": 0.6}
    cube = np.stack([np.stack([red[b] * galaxy + blue[b] * ring * (k % 2) for b in bands]) for k in range(n)])
    cube = (cube + rng.normal(0, 0.5, cube.shape)).astype(np.float32)
    cube_path = write_cube(cube if len(bands) > 1 else cube[:, 0], tmp_path / "T1.fits", 0.2, 30.0, bands=bands)
    ids = [f"KiDS T{k}" for k in range(n)]
    index = pd.DataFrame({"object_id": ids, "tile": "T1", "ra": 10.0 + 0.01 * np.arange(n), "dec": -30.0,
                          "lrg_li2020": True})
    for b in bands:
        index[f"zeropoint_mag_{b}"] = 30.0
    write_table(index, tmp_path / "T1.parquet")
    write_table(pd.DataFrame({"object_id": ids, "p_cnn": np.linspace(0.99, 0.5, n)}), tmp_path / "pred.parquet")
    return cube_path, cube


def _candidates(tmp_path, *extra):
    return main(["candidates", "--predictions", str(tmp_path / "pred.parquet"), "--stamp-index",
                 str(tmp_path / "T1.parquet"), "--stamp-cube", str(tmp_path / "T1.fits"), "--threshold",
                 "lrg_li2020=0.75", "--out-dir", str(tmp_path / "set"), *extra])


def test_a_colour_set_has_composites_single_bands_and_a_cube_per_band(tmp_path):
    _, cube = _survey(tmp_path)
    assert _candidates(tmp_path) == 0
    out = tmp_path / "set"
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert list(manifest.columns) == manifest_columns(GRI)
    assert [c for c in manifest.columns if c.startswith(("png", "stamps"))] == [
        "png", "png_g", "png_r", "png_i", "stamps_row", "stamps_g", "stamps_r", "stamps_i"]
    assert len(manifest) == 3  # p_cnn 0.99, 0.89, 0.79 >= 0.75
    for row in manifest.itertuples():
        composite = mpimg.imread(out / row.png)[..., :3]
        assert composite.shape == (2 * SIZE, 2 * SIZE, 3)
        centre = composite[SIZE, SIZE]
        assert centre[0] > centre[2]  # the red galaxy: i (red) over g (blue)
        for b in GRI:
            single = mpimg.imread(out / getattr(row, f"png_{b}"))[..., :3]
            assert getattr(row, f"png_{b}") == f"png/{b}/{row.object_id.replace(' ', '_')}.png"
            np.testing.assert_array_equal(single[..., 0], single[..., 2])  # grey
    ring_row = manifest.index[manifest["object_id"] == "KiDS T1"][0]
    composite = mpimg.imread(out / manifest.loc[ring_row, "png"])[..., :3]
    on_ring = composite[SIZE, SIZE + 10]  # 5 px from the centre, upscaled x2: the blue ring
    assert on_ring[2] > on_ring[0]
    for k, b in enumerate(GRI):
        stamps, header = read_cube(out / f"stamps_{b}.fits")
        assert stamps.ndim == 3 and header["BAND"] == b
        rows = [int(oid.split("T")[-1]) for oid in manifest["object_id"]]
        np.testing.assert_array_equal(stamps[manifest["stamps_row"]], cube[rows, k])


def test_a_one_band_set_is_what_it_was(tmp_path):
    _survey(tmp_path, bands=("r",))
    assert _candidates(tmp_path) == 0
    manifest = pd.read_parquet(tmp_path / "set" / "manifest.parquet")
    assert list(manifest.columns) == MANIFEST_COLUMNS == manifest_columns(("r",))
    assert sorted(p.name for p in (tmp_path / "set").glob("stamps_*.fits")) == ["stamps_r.fits"]
    assert not [p for p in (tmp_path / "set" / "png").iterdir() if p.is_dir()]


def test_mixed_in_simulations_need_the_set_bands(tmp_path, capsys):
    _survey(tmp_path)
    sims = tmp_path / "sim"
    write_cube(np.zeros((4, SIZE, SIZE), np.float32), sims / "shard_000.fits", 0.2, 30.0)  # r only
    write_table(pd.DataFrame({"object_id": [f"s{k}" for k in range(4)], "is_lens": [True, False] * 2}),
                sims / "shard_000.parquet")
    assert _candidates(tmp_path, "--mix-simulated", str(sims / "shard_000.fits"), str(sims / "shard_000.parquet"),
                       "--n-mix", "2") == 2
    assert "shard_000.fits" in (err := capsys.readouterr().err) and "holds bands r, but g,r,i are needed" in err
    write_cube(np.ones((4, 3, SIZE, SIZE), np.float32), sims / "shard_000.fits", 0.2, 30.0, bands=("i", "g", "r"))
    assert _candidates(tmp_path, "--mix-simulated", str(sims / "shard_000.fits"), str(sims / "shard_000.parquet"),
                       "--n-mix", "2") == 0


def test_the_grading_session_offers_every_band_and_the_composite(tmp_path):
    _survey(tmp_path)
    assert _candidates(tmp_path) == 0
    session = grading.GradingSession(tmp_path / "set", "ann", "li2020", tmp_path / "grades.csv")
    try:
        item = session.state()["items"][0]
        assert item["bands"] == list(GRI)
        assert [p["label"] for p in item["pngs"]] == ["png", "g", "r", "i"]
        image, meta = session.pixels(0, "i")
        assert image.shape == (SIZE, SIZE) and set(meta) >= {"limits"}
    finally:
        session.close()


@pytest.mark.browser
def test_the_page_shows_the_composite_beside_the_bands(tmp_path):
    from helpers.browser import headless_chromium

    _survey(tmp_path)
    assert _candidates(tmp_path) == 0
    session = grading.GradingSession(tmp_path / "set", "ann", "li2020", tmp_path / "grades.csv")
    srv = grading.make_server(session, 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        with headless_chromium(tmp_path / "profile") as driver:
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support.ui import WebDriverWait

            driver.get(grading.page_url(srv))
            wait = WebDriverWait(driver, 15, poll_frequency=0.05)
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#stamps canvas[data-drawn]")) == 3)
            captions = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#stamps figcaption")]
            assert captions == ["colour (g, r, i)", "g band", "r band", "i band"]
            img = driver.find_element(By.CSS_SELECTOR, "#stamps img")
            wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img))
            assert img.get_attribute("src").endswith("/png/0/png")
            driver.find_element(By.TAG_NAME, "body").send_keys("g")  # the grid: colour thumbnails
            wait.until(lambda d: d.find_element(By.ID, "grid").is_displayed())
            cells = driver.find_elements(By.CSS_SELECTOR, "#grid .cell img")
            assert len(cells) == 3 and not driver.find_elements(By.CSS_SELECTOR, "#grid .cell canvas")
            assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)
        session.close()


def test_the_summary_page_embeds_the_composite_and_each_band(tmp_path):
    from lensfinder.inspection.summary import manifest_images

    _survey(tmp_path)
    assert _candidates(tmp_path) == 0
    manifest = pd.read_parquet(tmp_path / "set" / "manifest.parquet")
    images = manifest_images(manifest, tmp_path / "set")
    first = images[manifest["object_id"].iloc[0]]
    assert [label for label, _ in first] == ["colour (g, r, i)", "g", "r", "i"]
    assert first[0][1] == (tmp_path / "set" / manifest["png"].iloc[0]).read_bytes()


def test_the_wider_field_comes_from_the_band_tile_when_there_is_one(tmp_path):
    from lensfinder.inspection.pixels import TileFields

    (tmp_path / "T1.fits").write_bytes(b"")
    fields = TileFields(tmp_path, band="r")
    assert fields.path("T1") == tmp_path / "T1.fits"  # tiles of one band: today's layout
    (tmp_path / "T1.r.fits").write_bytes(b"")
    assert fields.path("T1") == tmp_path / "T1.r.fits"
