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


@pytest.fixture()
def drawn(monkeypatch):
    """The figures the drawing functions save, kept for inspection."""
    import lensfinder.plots.report as report
    from lensfinder.plots.style import save_figure

    figures = []

    def keep(fig, path, **kw):
        figures.append(fig)
        return save_figure(fig, path, **kw)

    monkeypatch.setattr(report, "save_figure", keep)
    return figures


def _extent(artist):
    """Display box of an artist of a saved (closed) figure, drawn again on Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = artist.figure
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig).draw()
    return artist.get_window_extent(fig.canvas.get_renderer())


def test_learning_curve_epochs_are_the_history_epochs(drawn, tmp_path):
    from lensfinder.plots.report import plot_learning_curve

    history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [1, 0.5, 0.3], "accuracy": [0.5, 0.7, 0.8],
                            "val_loss": [1, 0.6, 0.4], "val_accuracy": [0.4, 0.6, 0.7]})
    plot_learning_curve(history, tmp_path / "lc.png")
    for ax in drawn[0].axes:
        assert [list(line.get_xdata()) for line in ax.get_lines()] == [[1, 2, 3], [1, 2, 3]]
        assert all(float(t).is_integer() for t in ax.get_xticks())


def test_completeness_says_whose_snr(drawn, tmp_path):
    from lensfinder.plots.report import plot_completeness

    rows = pd.DataFrame({"threshold": 0.5, "bin_center": [1.0, 2.0], "completeness": [0.5, 0.7],
                         "completeness_err": 0.05})
    table = pd.concat([rows.assign(column=c) for c in ("theta_E", "snr")], ignore_index=True)
    plot_completeness(table, tmp_path / "c.png")
    assert [ax.get_xlabel() for ax in drawn[0].axes] == ["Einstein radius theta_E (arcsec)",
                                                         "lens-galaxy S/N (not the arc's)"]
    plot_completeness(pd.concat([table, rows.assign(column="arc_snr")], ignore_index=True), tmp_path / "c2.png")
    assert [ax.get_xlabel() for ax in drawn[1].axes] == ["Einstein radius theta_E (arcsec)", "arc S/N"]


def test_cutflow_labels_stay_clear_of_the_bars(drawn, tmp_path):
    from lensfinder.plots.report import plot_cutflow

    cuts = ["catalogue", "sg2dphot_galaxy", "r_auto_le_21", "r_auto_le_20", "lrg_c_par", "lrg_c_perp"]
    table = pd.concat([pd.DataFrame({"sample": sample, "step": range(len(cuts)), "cut": cuts,
                                     "n_remaining": [1611, 1483, 573, 350, 163, 161]})
                       for sample in ("bg_li2020", "lrg_li2020", "disk_blue")], ignore_index=True)
    plot_cutflow(table, tmp_path / "cutflow.png")
    axes = drawn[0].axes
    for left, right in zip(axes, axes[1:]):
        left_edge = max(_extent(a).x1 for a in [left.patch, *left.patches, *left.texts])
        assert left_edge < min(_extent(label).x0 for label in right.get_yticklabels())
    for ax in axes:
        box = _extent(ax.patch)
        assert all(box.x0 <= _extent(t).x0 and _extent(t).x1 <= box.x1 for t in ax.texts)  # counts inside
