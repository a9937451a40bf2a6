"""The ``domain_shift`` experiment's figure, drawn from its tables only.

One PNG, six panels: AUROC / TPR0 / TPR at FPR 1 % on the own and the
independent test set per network; ROC curves; the fraction of each negative
kind called a lens; completeness against theta_E, arc S/N and PSF FWHM
(independent set solid, own test set dashed).
"""

from __future__ import annotations

import numpy as np

from lensfinder.io import require_columns
from lensfinder.plots.style import pyplot, save_figure

__all__ = ["figure_domain_shift"]

_LABELS = {"theta_E": "theta_E [arcsec]", "arc_snr": "arc S/N (matched filter)", "psf_fwhm_arcsec": "PSF FWHM [arcsec]"}


def _bars(ax, summary):
    metrics = (("auroc", "AUROC"), ("tpr0", "TPR0"), ("tpr_fpr1", "TPR@FPR1%"))
    models = list(summary["model"])
    x = np.arange(len(models))
    width = 0.8 / (2 * len(metrics))
    for j, (name, label) in enumerate(metrics):
        for k, test_set in enumerate(("own", "independent")):
            offset = (2 * j + k - len(metrics) + 0.5) * width
            ax.bar(x + offset, summary[f"{test_set}_{name}"], width, color=f"C{j}", alpha=0.45 if k == 0 else 1.0,
                   hatch="//" if k == 0 else None, label=f"{label} {test_set}")
    ax.set_xticks(x, models, rotation=20, fontsize=7)
    ax.set(ylim=(0, 1.05), title="own test (hatched) vs independent")
    ax.legend(fontsize=6, ncol=3)


def _roc(ax, roc):
    for i, (model, part) in enumerate(roc.groupby("model", sort=False)):
        for test_set, style in (("own", "--"), ("independent", "-")):
            curve = part[part["test_set"] == test_set]
            if len(curve):
                ax.plot(np.maximum(curve["fpr"], 1e-4), curve["tpr"], style, color=f"C{i}",
                        label=model if test_set == "independent" else None)
    ax.axvline(0.01, color="grey", lw=0.8, ls=":")
    ax.set(xscale="log", xlim=(1e-4, 1), ylim=(0, 1.02), xlabel="FPR", ylabel="TPR", title="ROC (- - own)")
    ax.legend(fontsize=6)


def _kinds(ax, kinds):
    neg = kinds[(kinds["test_set"] == "independent") & ~kinds["is_lens"].astype(bool)]
    names = list(dict.fromkeys(neg["kind"]))
    models = list(dict.fromkeys(neg["model"]))
    width = 0.8 / max(1, len(models))
    for i, model in enumerate(models):
        part = neg[neg["model"] == model].set_index("kind").reindex(names)
        ax.bar(np.arange(len(names)) + (i - (len(models) - 1) / 2) * width, part["called_lens_fraction"], width,
               yerr=part["called_lens_fraction_err"], color=f"C{i}", label=model)
    threshold = float(neg["threshold"].iloc[0]) if len(neg) else 0.5
    ax.set_xticks(np.arange(len(names)), names, rotation=30, fontsize=7)
    ax.set(ylim=(0, 1), ylabel=f"called lens (p >= {threshold:g})", title="independent negatives")
    ax.legend(fontsize=6)


def _completeness(ax, completeness, column):
    part = completeness[completeness["column"] == column]
    for i, model in enumerate(dict.fromkeys(completeness["model"])):
        for test_set, style in (("own", "s--"), ("independent", "o-")):
            curve = part[(part["model"] == model) & (part["test_set"] == test_set) & (part["n_lenses"] > 0)]
            if len(curve):
                # log axis for the S/N: a bin's geometric centre
                x = np.sqrt(curve["bin_lo"] * curve["bin_hi"]) if column == "arc_snr" else curve["bin_center"]
                ax.errorbar(x, curve["completeness"], yerr=curve["completeness_err"], fmt=style,
                            color=f"C{i}", ms=3, capsize=2, label=model if test_set == "independent" else None)
    if column == "arc_snr":
        ax.set_xscale("log")
    ax.set(ylim=(0, 1.02), xlabel=_LABELS.get(column, column), ylabel="completeness")
    ax.legend(fontsize=6)


def figure_domain_shift(tables, path):
    """Tables ``summary, roc, kinds, completeness`` -> one PNG."""
    summary, roc, kinds, completeness = tables
    require_columns(summary, ["model", "own_auroc", "independent_auroc"], "summary table")
    require_columns(roc, ["model", "test_set", "fpr", "tpr"], "roc table")
    require_columns(kinds, ["model", "test_set", "kind", "is_lens", "called_lens_fraction"], "kinds table")
    require_columns(completeness, ["model", "test_set", "column", "bin_lo", "bin_hi", "bin_center", "completeness"],
                    "completeness table")
    plt = pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    _bars(axes[0, 0], summary)
    _roc(axes[0, 1], roc)
    _kinds(axes[0, 2], kinds)
    for ax, column in zip(axes[1], ("theta_E", "arc_snr", "psf_fwhm_arcsec")):
        _completeness(ax, completeness, column)
    fig.tight_layout()
    return save_figure(fig, path)
