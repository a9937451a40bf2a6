"""The ``domain_shift`` experiment's figure, drawn from its tables only.

One PNG, six panels: AUROC / TPR0 / TPR at FPR 1 % on the own and the
independent test set per training set; ROC curves; the fraction of each
negative kind called a lens; completeness against theta_E, arc S/N and PSF
FWHM (independent set solid, own test set dashed). The networks of one
training set trained from several seeds (``domain_shift.training_seeds``, the
summary's ``training_set`` column) share a colour and a legend entry; the
bars are their mean, with whiskers from their min to their max: the seeds table's
figures (``seed_spread``), derived from the summary. A set of one network gets
whiskers from its 95 % bootstrap interval (the summary's ``*_lo``, ``*_hi``).
"""

from __future__ import annotations

import numpy as np

from lensfinder.experiments.domain_shift import seed_spread
from lensfinder.io import require_columns
from lensfinder.plots.style import pyplot, save_figure

__all__ = ["figure_domain_shift", "bar_stats"]

_LABELS = {"theta_E": "theta_E [arcsec]", "arc_snr": "arc S/N (matched filter)", "psf_fwhm_arcsec": "PSF FWHM [arcsec]"}


def _set_names(summary):
    """Each network's training set: the summary's ``training_set``, else (tables from before
    ``training_seeds``) each model its own."""
    return summary["training_set"] if "training_set" in summary else summary["model"]


def _training_sets(summary):
    """model -> (training set, colour index, whether it is the first network of its set)."""
    sets = _set_names(summary)
    order = list(dict.fromkeys(sets))
    seen, out = set(), {}
    for model, name in zip(summary["model"], sets):
        out[model] = (name, order.index(name), name not in seen)
        seen.add(name)
    return out


def bar_stats(summary):
    """The bars' figures: the seeds table (:func:`~lensfinder.experiments.domain_shift.seed_spread`)
    of the summary, one row per training set (:func:`_set_names`) in the summary's order, columns
    ``(statistic, metric)`` for ``n_networks, mean, min, max``."""
    names = _set_names(summary)
    spread = seed_spread(summary.assign(training_set=names))
    return (spread.pivot(index="training_set", columns="metric", values=["n_networks", "mean", "min", "max"])
            .reindex(list(dict.fromkeys(names))))


def _interval(summary, sets, column):
    """Per training set (``sets``' order): the bootstrap interval of ``column`` of its first network
    (used where a set has one network); NaN for tables without intervals."""
    if f"{column}_lo" not in summary:
        return np.full(len(sets), np.nan), np.full(len(sets), np.nan)
    first = summary.assign(training_set=_set_names(summary)).drop_duplicates("training_set").set_index("training_set")
    return (first[f"{column}_lo"].reindex(sets).to_numpy(dtype=float),
            first[f"{column}_hi"].reindex(sets).to_numpy(dtype=float))


def _bars(ax, summary):
    metrics = (("auroc", "AUROC"), ("tpr0", "TPR0"), ("tpr_fpr1", "TPR@FPR1%"))
    stats = bar_stats(summary)
    x = np.arange(len(stats))
    width = 0.8 / (2 * len(metrics))
    counts = stats["n_networks"].max(axis=1).astype(int).to_numpy()
    several = counts > 1  # no whisker for a set of one network
    for j, (name, label) in enumerate(metrics):
        for k, test_set in enumerate(("own", "independent")):
            offset = (2 * j + k - len(metrics) + 0.5) * width
            column = f"{test_set}_{name}"
            mean = stats["mean"][column].to_numpy(dtype=float)
            lo, hi = _interval(summary, stats.index, column)
            spread = np.where(several, [mean - stats["min"][column], stats["max"][column] - mean],
                              [np.clip(mean - lo, 0, None), np.clip(hi - mean, 0, None)])
            ax.bar(x + offset, mean, width, color=f"C{j}", alpha=0.45 if k == 0 else 1.0,
                   hatch="//" if k == 0 else None, label=f"{label} {test_set}",
                   yerr=spread if np.isfinite(spread).any() else None, capsize=1.5, error_kw={"lw": 0.8})
    names = [f"{n} ({k})" if k > 1 else str(n) for n, k in zip(stats.index, counts)]
    ax.set_xticks(x, names, rotation=20, fontsize=7)
    title = "own test (hatched) vs independent"
    if several.any():
        title += "\n(networks per set in brackets: mean, min-max)"
    if not several.all() and "independent_auroc_lo" in summary:
        title += "\n(one network: its 95 % bootstrap interval)"
    # room above 1 for the legend, so that it covers no bar
    ax.set(ylim=(0, 1.3), yticks=np.linspace(0, 1, 6), title=title)
    ax.legend(fontsize=6, ncol=3, loc="upper center")


def _roc(ax, roc, sets):
    for model, part in roc.groupby("model", sort=False):
        name, colour, first = sets.get(model, (model, 0, True))
        for test_set, style in (("own", "--"), ("independent", "-")):
            curve = part[part["test_set"] == test_set]
            if len(curve):
                ax.plot(np.maximum(curve["fpr"], 1e-4), curve["tpr"], style, color=f"C{colour}",
                        label=name if test_set == "independent" and first else None)
    ax.axvline(0.01, color="grey", lw=0.8, ls=":")
    ax.set(xscale="log", xlim=(1e-4, 1), ylim=(0, 1.02), xlabel="FPR", ylabel="TPR", title="ROC (- - own)")
    ax.legend(fontsize=6)


def _kinds(ax, kinds, sets):
    neg = kinds[(kinds["test_set"] == "independent") & ~kinds["is_lens"].astype(bool)]
    names = list(dict.fromkeys(neg["kind"]))
    neg = neg.assign(training_set=[sets.get(m, (m, 0, True))[0] for m in neg["model"]])
    colours = {name: colour for name, colour, _ in sets.values()}
    groups = list(neg.groupby("training_set", sort=False))
    width = 0.8 / max(1, len(groups))
    for i, (name, group) in enumerate(groups):
        # one network: its binomial error; several: their mean, whiskers from min to max
        rates = group.groupby("kind")["called_lens_fraction"].agg(["mean", "min", "max", "size"]).reindex(names)
        err = group.groupby("kind")["called_lens_fraction_err"].mean().reindex(names)
        several = rates["size"] > 1
        yerr = np.where(several, [rates["mean"] - rates["min"], rates["max"] - rates["mean"]], [err, err])
        ax.bar(np.arange(len(names)) + (i - (len(groups) - 1) / 2) * width, rates["mean"], width,
               yerr=yerr, color=f"C{colours.get(name, i)}", label=name)
    threshold = float(neg["threshold"].iloc[0]) if len(neg) else 0.5
    ax.set_xticks(np.arange(len(names)), names, rotation=30, fontsize=7)
    ax.set(ylim=(0, 1), ylabel=f"called lens (p >= {threshold:g})", title="independent negatives")
    ax.legend(fontsize=6)


def _completeness(ax, completeness, column, sets):
    part = completeness[completeness["column"] == column]
    for model in dict.fromkeys(completeness["model"]):
        name, colour, first = sets.get(model, (model, 0, True))
        for test_set, style in (("own", "s--"), ("independent", "o-")):
            curve = part[(part["model"] == model) & (part["test_set"] == test_set) & (part["n_lenses"] > 0)]
            if len(curve):
                # log axis for the S/N: a bin's geometric centre
                x = np.sqrt(curve["bin_lo"] * curve["bin_hi"]) if column == "arc_snr" else curve["bin_center"]
                ax.errorbar(x, curve["completeness"], yerr=curve["completeness_err"], fmt=style,
                            color=f"C{colour}", ms=3, capsize=2,
                            label=name if test_set == "independent" and first else None)
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
    sets = _training_sets(summary)
    _bars(axes[0, 0], summary)
    _roc(axes[0, 1], roc, sets)
    _kinds(axes[0, 2], kinds, sets)
    for ax, column in zip(axes[1], ("theta_E", "arc_snr", "psf_fwhm_arcsec")):
        _completeness(ax, completeness, column, sets)
    fig.tight_layout()
    return save_figure(fig, path)
