"""Figures of the ranked candidate list (lensfinder.plots.ranking)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lensfinder.inspection import grades as human_grades
from lensfinder.inspection import ranking
from lensfinder.inspection.candidates import load_band_stamps, load_stamps
from lensfinder.io import write_cube, write_table
from lensfinder.plots import ranking as ranking_plots
from lensfinder.plots.stamps import render_stamp_png


def _ranked(tmp_path):
    """A li2020 ranked list of two graded candidates (a third is ungraded), with two known objects mixed in."""
    predictions = pd.DataFrame({"object_id": ["KiDS_a", "KiDS b", "KiDS c"], "p_cnn": [0.99, 0.9, 0.8]})
    known = pd.DataFrame({"object_id": ["sim-1", "sim-2"], "is_lens": [True, False]})
    path = tmp_path / "grades.csv"
    path.write_text("object_id,inspector,grade,time\n" + "".join(
        f"{o},{i},{g},2026-01-01T00:00:00+00:00\n" for o, gs in
        (("KiDS_a", "AAB"), ("KiDS b", "CDC"), ("sim-1", "AAB"), ("sim-2", "DDC")) for i, g in zip("pqr", gs)))
    grades = human_grades.read_grades(path, "li2020")
    ranked, _, _ = ranking.merge_scores(predictions, grades, "li2020", known=known)
    return ranked


def test_figures(tmp_path):
    ranked = _ranked(tmp_path)
    ranking_plots.plot_pcnn_vs_phuman(ranked, tmp_path / "fig5.png")
    ranking_plots.plot_score_histogram(ranked, tmp_path / "hist_li.png", scheme="li2020")
    ranking_plots.plot_pcnn_vs_phuman(ranked.iloc[:0], tmp_path / "fig5_empty.png")
    he = pd.DataFrame({"rank": [1, 2, 3], "object_id": list("abc"), "score_sum": [5, 3, 1], "P": np.nan})
    ranking_plots.plot_score_histogram(he, tmp_path / "fig6.png", scheme="he2020")
    render_stamp_png(tmp_path / "png" / "a.png", np.random.default_rng(0).normal(size=(11, 11)), upscale=1)
    ranked["png"] = ["png/a.png", ""]
    ranking_plots.plot_ranked_mosaic(ranked, tmp_path / "fig8.png", base_dir=tmp_path)
    # from the stamp cubes directly (no PNGs)
    write_table(pd.DataFrame({"object_id": ["other", "KiDS b", "KiDS_a"]}), tmp_path / "idx.parquet")
    write_cube(np.random.default_rng(1).normal(size=(3, 11, 11)), tmp_path / "cube.fits", 0.2, 30.0)
    stamps = load_stamps(ranked["object_id"], [tmp_path / "idx.parquet"], [tmp_path / "cube.fits"])
    assert sorted(stamps) == ["KiDS b", "KiDS_a"] and stamps["KiDS_a"].shape == (11, 11)
    ranking_plots.plot_ranked_mosaic(ranked.assign(png=""), tmp_path / "fig8b.png", stamps=stamps)
    # in colour, from a g, r, i cube
    write_cube(np.random.default_rng(2).uniform(size=(3, 3, 11, 11)), tmp_path / "gri.fits", 0.2, 30.0,
               bands=("g", "r", "i"))
    colour, bands = load_band_stamps(ranked["object_id"], [tmp_path / "idx.parquet"], [tmp_path / "gri.fits"])
    assert bands == ("g", "r", "i") and colour["KiDS_a"].shape == (3, 11, 11)
    ranking_plots.plot_ranked_mosaic(ranked.assign(png=""), tmp_path / "fig8c.png", stamps=colour, bands=bands)
    for name in ("fig5.png", "hist_li.png", "fig5_empty.png", "fig6.png", "fig8.png", "fig8b.png", "fig8c.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.part"))


def test_pcnn_vs_phuman_legend_names_grades_and_counts(tmp_path, monkeypatch):
    from lensfinder.plots.style import save_figure

    kept = []
    monkeypatch.setattr(ranking_plots, "save_figure", lambda fig, path, **kw: kept.append(fig) or save_figure(fig, path, **kw))
    ranking_plots.plot_pcnn_vs_phuman(_ranked(tmp_path), tmp_path / "fig5.png")
    labels = [t.get_text() for t in kept[0].axes[0].get_legend().get_texts()]
    assert labels == ["graded candidates: 2", "graded D, score 0, by >= 1 inspector: 1",
                      "graded A, score 10, by >= 1 inspector: 1"]


def test_mosaic_labels_round_p_down_as_the_tables_do(tmp_path, monkeypatch):
    """P = 0.69965 is below the golden cut (0.7): the mosaic's label read "P=0.70"."""
    from lensfinder.plots import ranking as plots_ranking

    seen = {}
    monkeypatch.setattr(plots_ranking, "write_mosaic", lambda paths, labels, path, **kw: seen.setdefault("l", labels))
    df = pd.DataFrame({"object_id": ["a", "b"], "rank": [1, 2], "P": [0.69965, 0.7]})
    stamps = {"a": np.ones((5, 5)), "b": np.ones((5, 5))}
    plots_ranking.plot_ranked_mosaic(df, tmp_path / "m.png", stamps=stamps)
    assert seen["l"] == ["1  P=0.69", "2  P=0.70"]
