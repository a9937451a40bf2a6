"""The experiments' figures, one function per figure, drawn from the experiment tables only.

Each ``figure_*`` takes the tables (in the order :data:`FIGURES` gives) and an
output path, draws the papers' values beside this run's, and writes a PNG atomically.
"""

from __future__ import annotations

import math

import numpy as np

from lensfinder.experiments.reference import PAPER
from lensfinder.io import require_columns
from lensfinder.plots.style import pyplot, save_figure

__all__ = [
    "figure_psf_test",
    "figure_volume",
    "figure_volume_table5",
    "figure_volume_valsize",
    "figure_sersic",
    "figure_entropy",
    "figure_net_comparison",
    "figure_li2020_roc",
    "FIGURES",
]


def figure_psf_test(tables, path):
    """He et al. Fig. 10: normalised completeness and accuracy vs PSF FWHM, one line per threshold."""
    (df,) = tables
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    limit = PAPER["psf_test"]["max_degradation"]
    ref = df.loc[np.isclose(df["psf_factor"], 1.0), "psf_fwhm_arcsec"]
    ref_fwhm = float(ref.iloc[0]) if len(ref) else PAPER["psf_test"]["reference_fwhm_arcsec"]
    for ax, m in zip(axes, ("completeness", "accuracy")):
        for i, (thr, part) in enumerate(df.groupby("threshold")):
            ax.plot(part["psf_fwhm_arcsec"], part[f"{m}_norm"], "o-" if i == 0 else "s--", label=f"p_CNN > {thr:g}")
        ax.axhspan(1 - limit, 1.0, color="grey", alpha=0.15, label=f"paper: degradation < {limit:.0%}")
        ax.axvline(ref_fwhm, color="grey", lw=0.8, ls=":")
        ax.set(xlabel="PSF FWHM of the validation set [arcsec]", ylabel=f"{m} / {m} at {ref_fwhm:g}\"")
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def _errorbar_panel(ax, df, label_prefix=""):
    for m, marker in (("accuracy", "o"), ("completeness", "s")):
        ax.errorbar(df["fraction"], df[f"{m}_mean"], yerr=df[f"{m}_std"], fmt=marker + "-", capsize=3,
                    label=f"{label_prefix}{m}")


def figure_volume(tables, path):
    """He et al. Figs. 11-12: accuracy and completeness vs training-set fraction, one panel per case."""
    (df,) = tables
    plt = pyplot()
    cases = sorted(df["case"].unique())
    ncol = min(3, len(cases))
    nrow = math.ceil(len(cases) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), squeeze=False)
    for ax, case in zip(axes.flat, cases):
        part = df[df["case"] == case].sort_values("fraction")
        _errorbar_panel(ax, part)
        paper = PAPER["volume_test"]["table5"].get(case)
        if paper:
            ax.axhline(paper["accuracy"], color="C0", ls=":", lw=0.8, label="paper accuracy (Table 5)")
            ax.axhline(paper["completeness"], color="C1", ls=":", lw=0.8, label="paper completeness")
        ax.set(title=case, xlabel="training set / parent set", ylabel="score")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(cases):]:
        ax.set_visible(False)
    return save_figure(fig, path)


def figure_volume_table5(tables, path):
    """Table 5 as a figure: pooled mean +- std per case beside the paper's values."""
    (df,) = tables
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    x = np.arange(len(df))
    for ax, m in zip(axes, ("accuracy", "completeness")):
        ax.errorbar(x - 0.1, df[f"{m}_mean"], yerr=df[f"{m}_std"], fmt="o", capsize=3, label="this run (mean +- std)")
        ax.errorbar(x + 0.1, df[f"paper_{m}"], yerr=np.sqrt(df[f"paper_{m}_error_1e4"] * 1e-4), fmt="s", capsize=3,
                    label="paper (error read as variance)")
        ax.set_xticks(x, df["case"])
        ax.set(ylabel=m)
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def figure_volume_valsize(tables, path):
    """He et al. Fig. 13: case-2 scores vs training fraction for each validation-set size."""
    (df,) = tables
    plt = pyplot()
    thresholds = sorted(df["threshold"].unique())
    fig, axes = plt.subplots(len(thresholds), 2, figsize=(9, 3.0 * len(thresholds)), squeeze=False)
    for row, thr in zip(axes, thresholds):
        for ax, m in zip(row, ("accuracy", "completeness")):
            for size, part in df[df["threshold"] == thr].groupby("validation_size"):
                part = part.sort_values("fraction")
                ax.errorbar(part["fraction"], part[f"{m}_mean"], yerr=part[f"{m}_std"], fmt="o-", capsize=2,
                            label=f"{size} images")
            ax.set(title=f"p_CNN > {thr:g}", xlabel="training set / parent set", ylabel=m)
            ax.legend(fontsize=7)
    return save_figure(fig, path)


def figure_sersic(tables, path):
    """He et al. Table 4 as a figure: overlaps with the fiducial network's candidates."""
    per_net, summary = tables
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, key, title in zip(axes, ("overlap_machine", "overlap_high"),
                              ("with the fiducial machine candidates", "with the fiducial true-lens candidates")):
        for i, (dist, part) in enumerate(per_net.groupby("distribution") if len(per_net) else []):
            ax.plot(np.full(len(part), i) + np.linspace(-0.1, 0.1, len(part)), part[f"{key}_pct"], "o", alpha=0.6)
            paper = PAPER["sersic_test"][f"{key}_pct"].get(dist)
            if paper is not None:
                ax.plot([i - 0.25, i + 0.25], [paper, paper], "k-", lw=2, label="paper" if i == 0 else None)
        ax.set_xticks(range(len(summary)), summary["distribution"] if len(summary) else [])
        ax.set(title=title, ylabel="overlap [%]", ylim=(0, 105))
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def figure_entropy(tables, path):
    """He et al. section 2: entropy mean +- std per class beside the paper's values."""
    (df,) = tables
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    x = np.arange(len(df))
    ax.errorbar(x - 0.1, df["entropy_mean"], yerr=df["entropy_std"], fmt="o", capsize=3, label="this run")
    ax.errorbar(x + 0.1, df["paper_mean"], yerr=df["paper_std"], fmt="s", capsize=3, label="paper")
    ax.set_xticks(x, df["class"])
    ax.set(ylabel="Shannon entropy [bits]", ylim=(0, 8.5))
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def figure_net_comparison(tables, path):
    """He et al. Table 3 as a figure: candidates per case, as fraction of the sample, beside the paper's."""
    table3, overlaps = tables
    plt = pyplot()
    ref = PAPER["net_comparison"]
    paper_n = {"full": ref["n_lrg_full"], "refined": ref["n_lrg_refined"]}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    x = np.arange(len(table3))
    axes[0].bar(x - 0.2, table3["fraction"], width=0.4, label="this run")
    axes[0].bar(x + 0.2, table3["paper_n_candidates"] / table3["sample"].map(paper_n), width=0.4, label="paper")
    axes[0].set_xticks(x, [f"{c} ({n})" for c, n in zip(table3["case"], table3["candidates"])])
    axes[0].set(ylabel="candidates / sample")
    axes[0].legend(fontsize=7)
    m1 = max(int(table3["n_candidates"].iloc[0]), 1)
    x = np.arange(len(overlaps))
    axes[1].bar(x - 0.2, overlaps["n_overlap"] / m1, width=0.4, label="this run")
    axes[1].bar(x + 0.2, overlaps["paper_n_overlap"] / ref["cases"]["a"]["n_candidates"], width=0.4, label="paper")
    axes[1].set_xticks(x, overlaps["pair"], rotation=30)
    axes[1].set(ylabel="overlap / |M1|")
    axes[1].legend(fontsize=7)
    return save_figure(fig, path)


def figure_li2020_roc(tables, path):
    """Li et al. Fig. 2: ROC with thresholds marked (left); p_CNN of positives and negatives (right)."""
    roc, points, hist = tables
    require_columns(roc, ["fpr", "tpr"], "ROC table")
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    axes[0].plot(roc["fpr"], roc["tpr"], color="C0")
    for i, row in enumerate(points.itertuples()):
        axes[0].plot(row.fpr, row.tpr, "o", color=f"C{i + 1}", label=f"p_CNN = {row.threshold:g}")
    axes[0].plot([0, 1], [0, 1], ls=":", color="grey", lw=0.8)
    axes[0].set(xlabel="FPR", ylabel="TPR", xlim=(0, 1), ylim=(0, 1.01))
    axes[0].legend(fontsize=8, loc="lower right")
    width = hist["bin_high"] - hist["bin_low"]
    axes[1].bar(hist["bin_low"], hist["n_negatives"], width=width, align="edge", color="grey", alpha=0.7, label="negatives")
    axes[1].bar(hist["bin_low"], hist["n_positives"], width=width, align="edge", color="C0", alpha=0.6, label="positives")
    axes[1].axvline(PAPER["li2020_roc"]["lrg_threshold"], color="k", ls="--", lw=0.8, label="0.75")
    axes[1].set(xlabel="p_CNN", ylabel="N", yscale="log")
    axes[1].legend(fontsize=8)
    return save_figure(fig, path)


#: kind -> (function, number of tables it reads)
FIGURES = {
    "psf_test": (figure_psf_test, 1),
    "volume": (figure_volume, 1),
    "volume_table5": (figure_volume_table5, 1),
    "volume_valsize": (figure_volume_valsize, 1),
    "sersic_test": (figure_sersic, 2),
    "entropy": (figure_entropy, 1),
    "net_comparison": (figure_net_comparison, 2),
    "li2020_roc": (figure_li2020_roc, 3),
}
