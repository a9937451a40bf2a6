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
