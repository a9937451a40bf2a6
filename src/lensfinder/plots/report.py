"""The report's figures of the search (network performance, preselection, p_CNN per sample).

Drawn from result tables only, so restyling a figure never retrains a network;
each function takes tables and an output path and writes a PNG atomically.
"""

from __future__ import annotations

from lensfinder.io import require_columns
from lensfinder.plots.style import pyplot, save_figure

__all__ = [
    "SAMPLE_LABELS",
    "COMPLETENESS_LABELS",
    "plot_roc",
    "plot_learning_curve",
    "plot_completeness",
    "plot_pcnn_samples",
    "plot_cutflow",
]

#: preselection sample flag -> legend label
SAMPLE_LABELS = {
    "bg_li2020": "BG (Li et al. 2020)",
    "lrg_li2020": "LRG (Li et al. 2020)",
    "lrg_he2020": "LRG (He et al. 2020)",
    "lrg_he2020_refined": "refined LRG (He et al. 2020)",
}


def plot_roc(roc, metrics, path):
    """ROC curve with the metric thresholds marked (cf. Li et al. 2020, Fig. 2).

    Parameters
    ----------
    roc : pandas.DataFrame
        Columns ``fpr`` and ``tpr``.
    metrics : pandas.DataFrame
        One row per threshold: ``threshold``, ``fpr``, ``completeness``, and ``auroc``.
    """
    require_columns(roc, ["fpr", "tpr"], "ROC table")
    require_columns(metrics, ["threshold", "fpr", "completeness", "auroc"], "metrics table")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    auroc = float(metrics["auroc"].iloc[0]) if len(metrics) else float("nan")
    ax.plot(roc["fpr"], roc["tpr"], color="C0", label=f"AUROC = {auroc:.3f}")
    for i, row in enumerate(metrics.itertuples()):
        ax.plot(row.fpr, row.completeness, "o", color=f"C{i + 1}", label=f"p_CNN = {row.threshold:g}")
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=0.8)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate (completeness)", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


#: completeness-table column -> axis label. The simulations' ``snr`` is the
#: lens (foreground) galaxy's S/N in an aperture (He et al. 2020, eq. 17),
#: not the arc's; ``arc_snr``, where the table has it, replaces it.
COMPLETENESS_LABELS = {
    "theta_E": "Einstein radius theta_E (arcsec)",
    "snr": "lens-galaxy S/N (not the arc's)",
    "arc_snr": "arc S/N",
    "psf_fwhm_arcsec": "PSF FWHM (arcsec)",
    "mag_lens": "lens magnitude r (mag)",
}


def plot_completeness(completeness, path):
    """Completeness of the simulated test lenses against their parameters, one panel each.

    With an ``arc_snr`` panel the lens galaxy's ``snr`` is left out.
    """
    require_columns(completeness, ["column", "threshold", "bin_center", "completeness", "completeness_err"],
                    "completeness table")
    plt = pyplot()
    columns = list(dict.fromkeys(completeness["column"]))
    if "arc_snr" in columns and "snr" in columns:
        columns.remove("snr")
    n = max(len(columns), 1)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.2), squeeze=False, sharey=True)
    for ax, column in zip(axes[0], columns):
        rows = completeness[completeness["column"] == column]
        for i, (threshold, group) in enumerate(rows.groupby("threshold")):
            ax.errorbar(group["bin_center"], group["completeness"], yerr=group["completeness_err"],
                        marker="o", ms=3, capsize=2, color=f"C{i}", label=f"p_CNN >= {threshold:g}")
        ax.set(xlabel=COMPLETENESS_LABELS.get(column, column), ylim=(0, 1.05))
    axes[0][0].set_ylabel("completeness")
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, path)


def plot_learning_curve(history, path):
    """Loss and accuracy per epoch from the Keras history CSV.

    A network that started from another (``stage`` ``init``: that network's
    epochs, then ``this run``'s) gets a dotted line where this run began;
    one kept as it was (no rows of this run) says so in the title.
    """
    require_columns(history, ["epoch", "loss"], "history table")
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    from matplotlib.ticker import MaxNLocator

    epoch = history["epoch"]  # 1-based already (lensfinder.learning.training)
    stage = history["stage"] if "stage" in history.columns else None
    for ax, key in zip(axes, ["loss", "accuracy"]):
        for prefix, style in (("", "-"), ("val_", "--")):
            if prefix + key in history.columns:
                ax.plot(epoch, history[prefix + key], style, marker="o", ms=3,
                        label="validation" if prefix else "training")
        if stage is not None and (stage == "init").any() and (stage == "this run").any():
            ax.axvline(epoch[stage == "init"].max() + 0.5, color="0.5", ls=":", lw=1, label="this run starts")
        ax.set(xlabel="epoch", ylabel=key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    if stage is not None and not (stage == "this run").any():
        fig.suptitle("a trained network kept as it was: its own training's epochs", fontsize=9)
    elif history.empty:
        fig.suptitle("no epochs", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_pcnn_samples(predictions, path, thresholds=None):
    """Histograms of p_CNN per sample on a log scale (cf. Li et al. 2020, Fig. 4)."""
    import numpy as np

    require_columns(predictions, ["p_cnn"], "predictions table")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    bins = np.linspace(0, 1, 41)
    drawn = 0
    for i, (column, label) in enumerate(SAMPLE_LABELS.items()):
        if column in predictions.columns:
            values = predictions.loc[predictions[column].astype(bool), "p_cnn"]
            ax.hist(values, bins=bins, histtype="step", lw=1.5, color=f"C{i}", label=f"{label}: {len(values)}")
            if thresholds and column in thresholds:
                ax.axvline(thresholds[column], color=f"C{i}", ls=":", lw=1)
            drawn += 1
    if not drawn:
        ax.hist(predictions["p_cnn"], bins=bins, histtype="step", label=f"all: {len(predictions)}")
    ax.set_yscale("log")
    ax.set(xlabel="p_CNN", ylabel="number of galaxies")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_cutflow(cutflow, path):
    """Objects left after each preselection cut, per sample."""
    require_columns(cutflow, ["sample", "step", "cut", "n_remaining"], "cut-flow table")
    plt = pyplot()
    samples = list(dict.fromkeys(cutflow["sample"]))
    n = max(len(samples), 1)
    # constrained layout leaves each panel room for its own cut names
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.4), squeeze=False, layout="constrained")
    for ax, sample in zip(axes[0], samples):
        rows = cutflow[cutflow["sample"] == sample].sort_values("step")
        y = range(len(rows))
        ax.barh(list(y), rows["n_remaining"], color="C0")
        ax.set_yticks(list(y), rows["cut"], fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("symlog")
        # a decade of room right of the longest bar for its count
        ax.set_xlim(0, 10 * max(int(rows["n_remaining"].max()), 1))
        for yi, count in zip(y, rows["n_remaining"]):
            ax.text(count, yi, f" {count:,}", va="center", fontsize=7)
        ax.set(title=SAMPLE_LABELS.get(sample, sample), xlabel="objects remaining")
    return save_figure(fig, path)
