"""The report's figures (lensfinder figures): every kind draws from its result tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.cli.report import FIGURES
from lensfinder.io import write_cube, write_table


def _png(path):
    return path.read_bytes()[:4] == b"\x89PNG"


@pytest.fixture()
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "in"
    d.mkdir()
    write_table(pd.DataFrame({"fpr": np.linspace(0, 1, 11), "tpr": np.sqrt(np.linspace(0, 1, 11))}), d / "roc.parquet")
    write_table(pd.DataFrame({"threshold": [0.5, 0.8], "fpr": [0.05, 0.01], "completeness": [0.9, 0.8], "auroc": 0.95}),
                d / "metrics.parquet")
    write_table(pd.DataFrame({"column": ["theta_E"] * 4, "threshold": [0.5, 0.5, 0.8, 0.8], "bin_center": [1, 2, 1, 2],
                              "completeness": [0.5, 0.7, 0.4, 0.6], "completeness_err": 0.05}), d / "completeness.parquet")
    pd.DataFrame({"epoch": range(3), "loss": [1, 0.5, 0.3], "accuracy": [0.5, 0.7, 0.8],
                  "val_loss": [1, 0.6, 0.4]}).to_csv(d / "history.csv", index=False)
    write_table(pd.DataFrame({"p_cnn": rng.random(40), "lrg_li2020": rng.random(40) < 0.5}), d / "predictions.parquet")
    write_table(pd.DataFrame({"sample": ["lrg_li2020"] * 3, "step": [0, 1, 2], "cut": ["all", "colour", "size"],
                              "n_remaining": [100, 50, 10]}), d / "cutflow.parquet")
    ids = [f"G{i}" for i in range(6)]
    write_table(pd.DataFrame({"object_id": ids, "rank": range(1, 7), "p_cnn": rng.random(6), "n_graders": 3, "score_sum": [6, 5, 4, 3, 3, 1],
                              "score_mean": [10, 7, 7, 3, 3, 0], "p_human": rng.random(6), "P": rng.random(6),
                              "n_zero": [0, 0, 0, 1, 1, 3], "n_top": [3, 1, 0, 0, 0, 0]}), d / "ranked.parquet")
    write_table(pd.DataFrame({"object_id": ids}), d / "stamps.parquet")
    write_cube(rng.random((6, 8, 8)).astype(np.float32), d / "stamps.fits", 0.2, 30.0)
    return d


ARGS = {
    "roc": ["roc.parquet", "metrics.parquet"],
    "completeness": ["completeness.parquet"],
    "learning_curve": ["history.csv"],
    "pcnn_samples": ["predictions.parquet"],
    "cutflow": ["cutflow.parquet"],
    "pcnn_vs_phuman": ["ranked.parquet"],
    "score_histogram": ["ranked.parquet"],
    "top_candidates": ["ranked.parquet", "stamps.parquet", "stamps.fits"],
}


@pytest.mark.parametrize("kind", sorted(FIGURES))
def test_every_report_figure(kind, inputs, tmp_path):
    out = tmp_path / f"{kind}.png"
    assert main(["figures", "--kind", kind, "--inputs", *[str(inputs / p) for p in ARGS[kind]], "--out", str(out)]) == 0
    assert _png(out)


def test_score_histogram_of_either_scheme(inputs, tmp_path):
    for scheme in ("li2020", "he2020"):
        out = tmp_path / f"hist_{scheme}.png"
        assert main(["figures", "--kind", "score_histogram", "--inputs", str(inputs / "ranked.parquet"),
                     "--scheme", scheme, "--out", str(out)]) == 0
        assert _png(out)


def test_pcnn_samples_marks_thresholds_and_rejects_bad_ones(inputs, tmp_path):
    base = ["figures", "--kind", "pcnn_samples", "--inputs", str(inputs / "predictions.parquet"), "--out",
            str(tmp_path / "p.png")]
    assert main(base + ["--threshold", "lrg_li2020=0.75"]) == 0
    assert main(base + ["--threshold", "lrg_li2020=high"]) == 2


def test_input_errors_exit_2(inputs, tmp_path):
    out = str(tmp_path / "x.png")
    assert main(["figures", "--kind", "roc", "--inputs", str(inputs / "roc.parquet"), "--out", out]) == 2
    assert main(["figures", "--kind", "learning_curve", "--inputs", str(tmp_path / "none.csv"), "--out", out]) == 2
    assert main(["figures", "--kind", "top_candidates", "--inputs", str(inputs / "ranked.parquet"),
                 str(inputs / "stamps.parquet"), "--out", out]) == 2
