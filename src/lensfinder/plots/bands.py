"""The ``bands_test`` experiment's figure, drawn from its metrics table only.

One panel per test set (own, independent): AUROC, TPR0 and TPR10 of the
single-band and the colour network of each survey preset, side by side.
"""

from __future__ import annotations

import numpy as np

from lensfinder.io import require_columns
from lensfinder.plots.style import pyplot, save_figure

__all__ = ["figure_bands_test"]

_METRICS = (("auroc", "AUROC"), ("tpr0", "TPR0"), ("tpr10", "TPR10"))


def figure_bands_test(metrics, path):
    """Bars of AUROC, TPR0 and TPR10 per preset and band set (hatched: the single band), written atomically.

    ``metrics`` is the table of :func:`lensfinder.experiments.bands.bands_metrics`.
    """
    require_columns(metrics, ["preset", "bands", "n_bands", "test_set", "auroc", "tpr0", "tpr10"], "bands_test metrics")
    plt = pyplot()
    test_sets = [t for t in ("own", "independent") if (metrics["test_set"] == t).any()] or ["own"]
    fig, axes = plt.subplots(1, len(test_sets), figsize=(5.5 * len(test_sets), 3.8), squeeze=False)
    for ax, test_set in zip(axes[0], test_sets):
        part = metrics[metrics["test_set"] == test_set].sort_values(["preset", "n_bands"], kind="mergesort")
        labels = [f"{p}\n{b.replace('+', ',')}" for p, b in zip(part["preset"], part["bands"])]
        x = np.arange(len(part))
        width = 0.8 / len(_METRICS)
        single = (part["n_bands"] == part.groupby("preset")["n_bands"].transform("min")).to_numpy()
        for j, (name, label) in enumerate(_METRICS):
            bars = ax.bar(x + (j - 1) * width, part[name].to_numpy(dtype=float), width, color=f"C{j}", label=label)
            for bar, hatched in zip(bars, single):
                bar.set_hatch("//" if hatched else None)
        ax.set_xticks(x, labels, fontsize=7)
        ax.set(ylim=(0, 1.05), title=f"{test_set} test set (hatched: one band)")
        if not len(part):
            ax.text(0.5, 0.5, "no scores", ha="center", transform=ax.transAxes)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path, dpi=150, bbox_inches=None)
