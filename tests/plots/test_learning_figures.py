"""The rounds figure's legend names the thresholds the rounds table was measured at, not fixed values."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture()
def legend(monkeypatch, tmp_path):
    """plot_rounds' legend texts of the completeness panel."""
    import lensfinder.plots.learning as learning
    from lensfinder.plots.style import save_figure

    figures = []

    def keep(fig, path, **kw):
        figures.append(fig)
        return save_figure(fig, path, **kw)

    monkeypatch.setattr(learning, "save_figure", keep)

    def draw(table, **kw):
        learning.plot_rounds(table, tmp_path / "rounds.png", **kw)
        return [t.get_text() for t in figures[-1].axes[0].get_legend().get_texts()]

    return draw


def _rounds():
    return pd.DataFrame({"round": [0, 1], "n_lenses": [24, 24], "r_precision": [0.5, 0.7],
                         "completeness": [0.8, 0.9], "fp_ring": [1, 0]})


def test_rounds_legend_names_the_thresholds_passed_in(legend):
    # the legend said "LRG 0.75 / BG 0.98" whatever the run's inference.thresholds
    texts = legend(_rounds(), thresholds={"lrg_li2020": 0.9999, "bg_li2020": 0.9})
    assert "completeness (lrg_li2020 0.9999, bg_li2020 0.9)" in texts
    assert not any("0.75" in t or "0.98" in t for t in texts)


def test_rounds_legend_reads_the_tables_thresholds(legend):
    table = _rounds()
    table.attrs["thresholds"] = {"lrg_he2020": 0.999999}
    assert "completeness (lrg_he2020 0.999999)" in legend(table)


def test_rounds_legend_without_thresholds_names_no_values(legend):
    texts = legend(_rounds())
    assert "completeness (candidate thresholds)" in texts
    assert not any("0.75" in t or "0.98" in t for t in texts)
