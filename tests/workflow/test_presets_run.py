"""A tiny run of every survey preset: mock survey -> stamps, simulation in the preset's bands -> training
-> inference, on the preset's pixel grid (kids is the tiny run of test_workflow.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from lensfinder.io import cube_bands, read_cube, with_band_axis
from lensfinder.surveys.presets import get_preset, stamp_size_pix

from helpers.workflow_run import copy_workflow, snakemake

PRESETS = ["hsc", "lsst", "euclid", "des"]
#: preset runs at once, each on one core: one run's chain of short jobs
#: leaves the second core idle much of the time, two runs keep both busy
PARALLEL_RUNS = 2

TINY = """
seed: 3
mock: {{preset: {preset}, n_tiles: 1, params: {{size_pix: {size_pix}}}}}
simulation:
  recipe: skeleton
  sets:
    train: {{n_images: 96, n_shards: 1, seed: 11}}
    test: {{n_images: 32, n_shards: 1, seed: 12}}
training: {{epochs: 1, batch_size: 32}}
learning: {{rounds: 0, eval_tiles: 1}}
"""
TARGETS = ("results/predictions/he2020/MOCK_0.parquet", "results/eval/he2020_metrics.csv")


def _tiny_run(name: str, workdir):
    preset = get_preset(name)
    # tiles of ~2.5' whatever the pixel scale
    (workdir / "tiny.yaml").write_text(TINY.format(preset=name, size_pix=int(150 / preset.pixel_scale_arcsec)))
    snakemake(workdir, *TARGETS, "--cores", "1", "--configfile", "config/config.yaml", "tiny.yaml")
    return workdir


@pytest.fixture(scope="module")
def preset_runs(request, tmp_path_factory):
    """The tiny run of each preset this session tests, PARALLEL_RUNS at a time, in the background:
    preset name -> future of its work directory (its result raises if the run failed)."""
    selected = [item.callspec.params["name"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_tiny_run_of_every_preset"]
    with ThreadPoolExecutor(max_workers=PARALLEL_RUNS) as pool:
        futures = {name: pool.submit(_tiny_run, name, copy_workflow(tmp_path_factory.mktemp(name)))
                   for name in dict.fromkeys(selected)}
        yield futures
        for future in futures.values():
            future.cancel()


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
def test_tiny_run_of_every_preset(preset_runs, name):
    preset = get_preset(name)
    workdir = preset_runs[name].result()
    results = workdir / "results"
    size = stamp_size_pix(preset)
    for path in (results / "stamps/MOCK_0.fits", results / "sim/train/shard_000.fits"):
        images, header = read_cube(path, memmap=False)
        images = with_band_axis(images)  # one band (Euclid VIS) is stored 3-D with its BANDS card
        assert cube_bands(header, str(path)) == preset.bands, path
        assert images.shape[1:] == (len(preset.bands), size, size), path
        assert np.isfinite(images).all()
    for band in preset.bands:
        assert (results / f"survey/tiles/MOCK_0.{band}.fits").is_file()
    scores = pd.read_parquet(results / "predictions/he2020/MOCK_0.parquet")
    assert len(scores) and scores["p_cnn"].between(0, 1).all()
    metrics = pd.read_csv(results / "eval/he2020_metrics.csv")
    assert metrics["n"].iloc[0] == 32
