"""Reliability of lens probabilities: the reliability table and the expected calibration error (ECE).

The reliability table bins the lens probability in equal-width bins and
compares each bin's mean ``p`` with its fraction of lenses; the expected
calibration error is their count-weighted mean absolute difference (Naeini et
al. 2015, AAAI; Guo et al. 2017, eq. 3, for the lens class). Beside them, the
mean negative log-likelihood of the labels (binary cross-entropy). The
calibration maps that these measure are in :mod:`lensfinder.learning.calibration`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_BINS", "reliability_table", "expected_calibration_error", "binary_cross_entropy"]

#: Equal-width probability bins of the reliability table (Guo et al. 2017 use 15).
DEFAULT_BINS = 15


def reliability_table(p, is_lens, bins: int = DEFAULT_BINS):
    """Reliability of lens probabilities in equal-width bins of ``p``.

    Returns
    -------
    pandas.DataFrame
        ``bin_lo, bin_hi, n, mean_p, lens_fraction`` per bin (NaN means in
        empty bins); ``p = 1`` falls in the last bin.
    """
    import pandas as pd

    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(is_lens, dtype=bool)
    if p.shape != y.shape:
        raise ValueError(f"scores ({p.size}) and labels ({y.size}) differ in length")
    keep = np.isfinite(p)
    p, y = p[keep], y[keep]
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, int(bins) - 1)
    n = np.bincount(which, minlength=bins)
    sum_p = np.bincount(which, weights=p, minlength=bins)
    sum_y = np.bincount(which, weights=y.astype(np.float64), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(n > 0, sum_p / n, np.nan)
        frac = np.where(n > 0, sum_y / n, np.nan)
    return pd.DataFrame({"bin_lo": edges[:-1], "bin_hi": edges[1:], "n": n.astype(np.int64),
                         "mean_p": mean_p, "lens_fraction": frac})


def expected_calibration_error(p, is_lens, bins: int = DEFAULT_BINS) -> float:
    """ECE: ``sum_b (n_b / N) |mean p_b - lens fraction_b|`` over equal-width bins (NaN for no scores)."""
    table = reliability_table(p, is_lens, bins)
    total = int(table["n"].sum())
    if not total:
        return float("nan")
    filled = table[table["n"] > 0]
    return float(np.sum(filled["n"] * np.abs(filled["mean_p"] - filled["lens_fraction"])) / total)


def binary_cross_entropy(p, y) -> float:
    """Mean negative log-likelihood of labels ``y`` under probabilities ``p`` (clipped to [1e-15, 1 - 1e-15]);
    NaN for no scores."""
    q = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q))) if len(p) else float("nan")
