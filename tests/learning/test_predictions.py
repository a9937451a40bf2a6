"""Scores joined with their stamp index: every preselection sample's flag is carried."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lensfinder.learning.predictions import SAMPLE_COLUMNS, collect_predictions
from lensfinder.selection.preselect import SAMPLES


def test_every_preselection_sample_flag_is_carried_as_a_bool():
    assert {name for samples in SAMPLES.values() for name in samples} == set(SAMPLE_COLUMNS)
    scores = pd.DataFrame({"object_id": ["a", "b", "c"], "p_cnn": [0.9, 0.2, 0.5]})
    index = pd.DataFrame({"object_id": ["a", "b"], "tile": "T", "ra": [1.0, 2.0], "dec": [0.0, 0.0],
                          "bg_li2020": [True, True], "disk_blue": [True, None], "edge": [False, False]})
    catalog = pd.DataFrame({"ID": ["a", "b", "c"], "MAG_AUTO": [19.0, 20.0, 21.0]})
    out = collect_predictions([scores], [index], catalog)
    assert out["disk_blue"].dtype == bool and out["disk_blue"].tolist() == [True, False, False]
    assert out["bg_li2020"].tolist() == [True, True, False] and "edge" not in out.columns
    assert out["r_auto"].tolist() == [19.0, 20.0, 21.0] and np.isnan(out["z_phot"]).all()


def test_an_object_scored_in_two_tiles_keeps_each_tiles_metadata():
    """An object whose stamp was cut in two tiles (an overlap) has a score from each; each score row carries
    the tile it was scored in (``shard``) and that tile's PSF and position, not the first tile's."""
    scores = [pd.DataFrame({"object_id": ["X", "A"], "p_cnn": [0.9, 0.1], "shard": "T1"}),
              pd.DataFrame({"object_id": ["X", "B"], "p_cnn": [0.2, 0.3], "shard": "T2"})]
    indexes = [pd.DataFrame({"object_id": ["X", "A"], "tile": "T1", "psf_fwhm_arcsec": 0.6, "ra": 1.0, "dec": 2.0,
                             "lrg_li2020": [True, False]}),
               pd.DataFrame({"object_id": ["B", "X"], "tile": "T2", "psf_fwhm_arcsec": 0.9, "ra": 1.5, "dec": 2.5,
                             "lrg_li2020": False})]
    catalog = pd.DataFrame({"ID": ["X", "A", "B"], "MAG_AUTO": [20.0, 21.0, 22.0]})
    out = collect_predictions(scores, indexes, catalog)
    assert out["object_id"].tolist() == ["X", "A", "X", "B"] and out["p_cnn"].tolist() == [0.9, 0.1, 0.2, 0.3]
    assert out["tile"].tolist() == ["T1", "T1", "T2", "T2"]
    assert out["psf_fwhm_arcsec"].tolist() == [0.6, 0.6, 0.9, 0.9] and out["ra"].tolist() == [1.0, 1.0, 1.5, 1.5]
    assert out["lrg_li2020"].tolist() == [True, False, False, False]
    assert out["r_auto"].tolist() == [20.0, 21.0, 20.0, 22.0]
    # scores without a shard column (or of a cube that is no tile of the indexes): the object's first row
    bare = collect_predictions([s.drop(columns="shard") for s in scores], indexes, catalog)
    assert bare["tile"].tolist() == ["T1", "T1", "T1", "T2"]
