"""The experiments' figures: every kind draws from its tables, and the figure step checks the table count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.experiments import candidate_tables, tables
from lensfinder.io import write_table
from lensfinder.plots.experiments import FIGURES


def _metric_rows(rng, **labels):
    return [{**labels, "threshold": t, "accuracy": 0.95 + 0.03 * rng.random(), "completeness": 0.9 + 0.05 * rng.random(),
             "fpr": 0.01} for t in (0.5, 0.8)]


def _survey(rng, networks):
    ids = [f"G{i}" for i in range(30)]
    index = pd.DataFrame({"object_id": ids, "lrg_li2020": rng.random(30) < 0.8, "masked_fraction": 0.0, "edge": False})
    truth = pd.DataFrame({"ID": ids, "is_lens": rng.random(30) < 0.3})
    preds = pd.concat([pd.DataFrame({"object_id": ids, "p_cnn": rng.random(30), **labels}) for labels in networks],
                      ignore_index=True)
    return tables.survey_table(preds, index, truth)


def _tables(kind):
    """The tables each figure reads, built by the experiments' own table functions."""
    rng = np.random.default_rng(0)
    if kind == "psf_test":
        rows = [r for f in (0.4, 1.0, 2.0) for r in _metric_rows(rng, psf_factor=f)]
        return [tables.psf_table(pd.DataFrame(rows))]
    if kind in ("volume", "volume_table5"):
        rows = [r for case in ("case0", "case2") for fraction in (0.1, 0.5) for repeat in range(2) for v in (1, 2)
                for r in _metric_rows(rng, case=case, fraction=fraction, repeat=repeat, validation=v)]
        metrics = pd.DataFrame(rows)
        return [tables.volume_points(metrics, 0.8) if kind == "volume" else tables.volume_table5(metrics, 0.8)]
    if kind == "volume_valsize":
        rows = [r for size in (500, 1000) for fraction in (0.1, 0.5) for repeat in range(2)
                for r in _metric_rows(rng, validation_size=size, fraction=fraction, repeat=repeat)]
        return [tables.volume_valsize(pd.DataFrame(rows))]
    if kind == "sersic_test":
        survey = _survey(rng, [{"network": "fiducial"}, {"network": "flat_r0", "distribution": "flat", "repeat": 0},
                               {"network": "hc_r0", "distribution": "huertas_company", "repeat": 0}])
        return list(candidate_tables.sersic_tables(survey, 0.5, 0.7, "lrg_li2020"))
    if kind == "entropy":
        return [tables.entropy_summary(pd.DataFrame({"entropy": rng.random(20) * 6, "is_lens": rng.random(20) < 0.5}))]
    if kind == "net_comparison":
        survey = _survey(rng, [{"network": "s_net"}, {"network": "r_net"}])
        return list(candidate_tables.net_comparison_tables(survey, "lrg_li2020", "lrg_li2020", 0.1, {"s_net": 0.6, "r_net": 0.5}))
    if kind == "li2020_roc":
        points, hist = tables.roc_tables(pd.DataFrame({"p_cnn": rng.random(40), "is_lens": rng.random(40) < 0.5}),
                                         [0.25, 0.5, 0.75])
        roc = pd.DataFrame({"fpr": np.linspace(0, 1, 11), "tpr": np.sqrt(np.linspace(0, 1, 11))})
        return [roc, points, hist]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", sorted(FIGURES))
def test_every_figure_draws_from_its_tables(kind, tmp_path):
    func, n_tables = FIGURES[kind]
    drawn = _tables(kind)
    assert len(drawn) == n_tables
    path = func(drawn, tmp_path / f"{kind}.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_figure_step_reads_the_tables_and_checks_their_number(tmp_path):
    (table,) = _tables("psf_test")
    write_table(table, tmp_path / "psf.parquet")
    png = tmp_path / "fig.png"
    assert main(["experiment-figure", "--kind", "psf_test", "--tables", str(tmp_path / "psf.parquet"),
                 "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["experiment-figure", "--kind", "entropy", "--tables", str(tmp_path / "psf.parquet"),
                 str(tmp_path / "psf.parquet"), "--out", str(png)]) == 2
