"""Figures of learning from the graders: the reliability diagram and the retraining rounds.

Drawn from result tables only (``lensfinder calibrate``'s reliability and
summary tables, ``lensfinder evaluate-rounds``'s rounds table).
"""

from __future__ import annotations

import numpy as np

from lensfinder.io import require_columns
from lensfinder.plots.style import pyplot, save_figure

__all__ = ["plot_reliability", "plot_rounds"]

#: rounds-table column -> legend label of the false-positive bars
_FP_LABELS = {"fp_ring": "rings", "fp_merger": "mergers", "fp_spiral": "spirals", "fp_edge_on": "edge-on disks",
              "fp_companion": "companions", "fp_irregular": "irregulars", "fp_other": "other"}


def plot_reliability(reliability, summary, path, labels=None):
    """Reliability diagram: fraction of lenses against mean p_CNN per bin, raw and calibrated.

    Parameters
    ----------
    reliability : sequence of pandas.DataFrame
        Reliability tables (``member, scores, bin_lo, bin_hi, n, mean_p,
        lens_fraction``), one per round; the combined score of each is drawn
        (``ensemble`` when present, else the single network).
    summary : sequence of pandas.DataFrame
        The matching summary tables (``member, ece_raw, ece_calibrated``).
    path : path
    labels : sequence of str, optional
        Legend name of each table (default ``round 0``, ``round 1``, ...).
    """
    plt = pyplot()
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(4.6, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=0.8, label="perfect calibration")
    for k, (table, summ) in enumerate(zip(reliability, summary)):
        require_columns(table, ["member", "scores", "bin_lo", "bin_hi", "n", "mean_p", "lens_fraction"],
                        "reliability table")
        require_columns(summ, ["member", "ece_raw", "ece_calibrated"], "calibration summary")
        member = "ensemble" if (table["member"] == "ensemble").any() else str(table["member"].iloc[0])
        name = labels[k] if labels else f"round {k}"
        ece = summ.set_index("member").loc[member]
        for kind, style in (("raw", "--"), ("calibrated", "-")):
            if kind == "raw" and k:  # the raw scores of later rounds add clutter, not information
                continue
            part = table[(table["member"] == member) & (table["scores"] == kind) & (table["n"] > 0)]
            value = ece["ece_raw"] if kind == "raw" else ece["ece_calibrated"]
            ax.plot(part["mean_p"], part["lens_fraction"], style, marker="o", ms=3.5, color=f"C{k}",
                    label=f"{name}, {kind} (ECE {value:.3f})")
            if kind == "calibrated":
                centres = (part["bin_lo"] + part["bin_hi"]) / 2
                width = float((part["bin_hi"] - part["bin_lo"]).iloc[0]) if len(part) else 0.05
                hist.bar(centres + (k - 0.5) * width * 0.4, part["n"], width=width * 0.4, color=f"C{k}")
    ax.set(ylabel="fraction of lenses", xlim=(0, 1), ylim=(0, 1.02),
           title="held-out simulated images")
    ax.legend(fontsize=7, loc="upper left")
    hist.set(xlabel="p_CNN (mean in bin)", ylabel="images", yscale="log")
    hist.yaxis.set_minor_formatter(plt.NullFormatter())  # decade labels only
    return save_figure(fig, path)


def plot_rounds(rounds, path, thresholds=None):
    """R-precision and completeness per round, and the false positives above threshold by object type.

    Parameters
    ----------
    rounds : pandas.DataFrame
        The rounds table (``round, n_lenses, r_precision, completeness,
        fp_*``).
    path : path
    thresholds : dict, optional
        Sample flag -> the candidate threshold the table was measured at
        (``lensfinder evaluate-rounds --threshold``), named in the legend;
        default: ``rounds.attrs["thresholds"]`` when the table carries it,
        else the legend names no values.
    """
    require_columns(rounds, ["round", "n_lenses", "r_precision", "completeness"], "rounds table")
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.6))
    x = rounds["round"].to_numpy()
    left.plot(x, rounds["r_precision"], "o-", color="C0", label="R-precision")
    thresholds = thresholds if thresholds is not None else rounds.attrs.get("thresholds")
    cuts = ", ".join(f"{sample} {float(value)}" for sample, value in thresholds.items()) if thresholds else ""
    left.plot(x, rounds["completeness"], "s--", color="C1",
              label=f"completeness ({cuts})" if cuts else "completeness (candidate thresholds)")
    n_lenses = int(rounds["n_lenses"].iloc[0]) if len(rounds) else 0
    left.set(xlabel="round", ylabel="fraction", ylim=(0, 1.05), xticks=x,
             title=f"evaluation tiles ({n_lenses} genuine lenses)")
    left.legend(fontsize=8, loc="lower right")
    columns = [c for c in _FP_LABELS if c in rounds.columns]
    bottom = np.zeros(len(rounds))
    for k, column in enumerate(columns):
        values = rounds[column].to_numpy(dtype=float)
        if not values.any():
            continue
        right.bar(x, values, bottom=bottom, color=f"C{k}", label=_FP_LABELS[column], width=0.6)
        bottom += values
    right.set(xlabel="round", ylabel="false positives above threshold", xticks=x)
    if bottom.any():
        right.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
