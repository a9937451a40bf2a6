"""A tiny run of every survey preset: mock survey -> stamps, simulation in the preset's bands -> training
-> inference, on the preset's pixel grid (kids is the tiny run of test_workflow.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder.io import cube_bands, read_cube, with_band_axis
from lensfinder.surveys.presets import get_preset, stamp_size_pix

from helpers.workflow_run import copy_workflow, snakemake

TINY = """
seed: 3
mock: {{preset: {preset}, n_tiles: 2, params: {{size_pix: {size_pix}}}}}
simulation:
  recipe: skeleton
  sets:
    train: {{n_images: 96, n_shards: 1, seed: 11}}
    test: {{n_images: 32, n_shards: 1, seed: 12}}
training: {{epochs: 1, batch_size: 32}}
learning: {{rounds: 0, eval_tiles: 1}}
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hsc", "lsst", "euclid", "des"])
def test_tiny_run_of_every_preset(tmp_path, name):
    preset = get_preset(name)
    workdir = copy_workflow(tmp_path)
    # tiles of ~2.5' whatever the pixel scale
    (workdir / "tiny.yaml").write_text(TINY.format(preset=name, size_pix=int(150 / preset.pixel_scale_arcsec)))
    snakemake(workdir, "results/predictions/he2020/MOCK_0.parquet", "results/eval/he2020_metrics.csv",
              "--cores", "2", "--configfile", "config/config.yaml", "tiny.yaml")
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
