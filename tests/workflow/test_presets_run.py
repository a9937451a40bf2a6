"""A tiny run of every survey preset: mock survey -> stamps, simulation in the preset's bands -> training
-> inference on the survey's stamps, on the preset's pixel grid (kids is the tiny run of test_workflow.py,
which also scores the simulated test set, calibrates and evaluates: steps that see no band or pixel)."""

from __future__ import annotations

import shutil
from functools import partial

import numpy as np
import pandas as pd
import pytest

from lensfinder.io import cube_bands, read_cube, with_band_axis
from lensfinder.surveys.presets import get_preset, stamp_size_pix

from helpers.early_runs import early_run, result
from helpers.workflow_run import copy_workflow, snakemake

PRESETS = ["hsc", "lsst", "euclid", "des"]
#: a preset's tiny run: its usual wall time (s) in the session, on one core
EXPECTED_S = 80

TINY = """
seed: 3
mock: {{preset: {preset}, n_tiles: 1, params: {{size_pix: {size_pix}}}}}
simulation:
  recipe: skeleton
  sets:
    train: {{n_images: 96, n_shards: 1, seed: 11}}
training: {{epochs: 1, batch_size: 32}}
learning: {{rounds: 0, eval_tiles: 1}}
"""
#: the network's scores of the tile's stamps, before calibration (which needs the test set scored)
TARGETS = ("results/predictions/members/he2020/chunks/MOCK_0.parquet",)


def _tiny_run(name: str, workdir):
    copy_workflow(workdir)
    preset = get_preset(name)
    # tiles of ~2.5' whatever the pixel scale
    (workdir / "tiny.yaml").write_text(TINY.format(preset=name, size_pix=int(150 / preset.pixel_scale_arcsec)))
    snakemake(workdir, *TARGETS, "--cores", "1", "--configfile", "config/config.yaml", "tiny.yaml")
    shutil.rmtree(workdir / "results" / "models")  # the network and its checkpoints: no test reads them (disk)
    return workdir


# One early run per preset (tests/helpers/early_runs.py): started with the session, beside the other runs.
for _name in PRESETS:
    early_run(f"preset_{_name}", EXPECTED_S)(partial(_tiny_run, _name))


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.early_run(f"preset_{name}")) for name in PRESETS])
def test_tiny_run_of_every_preset(name):
    preset = get_preset(name)
    workdir = result(f"preset_{name}")
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
    scores = pd.read_parquet(results / "predictions/members/he2020/chunks/MOCK_0.parquet")
    index = pd.read_parquet(results / "stamps/MOCK_0.parquet")
    assert len(scores) == len(index) > 0 and set(scores["object_id"]) == set(index["object_id"])
    assert scores["p_cnn"].between(0, 1).all() and (scores["shard"] == "MOCK_0").all()
