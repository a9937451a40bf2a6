"""Classification metrics of lens finders, pure numpy: confusion counts, ROC, AUROC, TPR0/TPR10.

A stamp is called a lens when ``p_cnn >= threshold``; definitions in docs/learning.md.
"""

from __future__ import annotations

import numpy as np

from lensfinder.constants import THRESHOLDS

__all__ = [
    "confusion",
    "threshold_metrics",
    "roc_curve",
    "auroc",
    "tpr_at_fp",
    "tpr0",
    "tpr10",
    "completeness_in_bins",
    "metrics_table",
    "DEFAULT_THRESHOLDS",
]

#: 0.5 plus the papers' candidate thresholds (constants.THRESHOLDS).
DEFAULT_THRESHOLDS = tuple(sorted({0.5, *THRESHOLDS.values()}))


def _check(y_true, scores):
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels ({y.size}) and scores ({s.size}) differ in length")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite (drop skipped stamps first)")
    return y, s


def confusion(y_true, scores, threshold: float) -> dict:
    """``tp, fp, tn, fn`` counts with ``scores >= threshold`` called lenses."""
    y, s = _check(y_true, scores)
    called = s >= threshold
    return {
        "tp": int(np.count_nonzero(called & y)), "fp": int(np.count_nonzero(called & ~y)),
        "tn": int(np.count_nonzero(~called & ~y)), "fn": int(np.count_nonzero(~called & y)),
    }


def _ratio(a, b):
    return a / b if b else float("nan")


def threshold_metrics(y_true, scores, threshold: float) -> dict:
    """Counts plus ``accuracy, completeness, fpr, purity`` at one threshold."""
    c = confusion(y_true, scores, threshold)
    n = sum(c.values())
    return {
        "threshold": float(threshold), "n": n, "n_lenses": c["tp"] + c["fn"], "n_nonlenses": c["fp"] + c["tn"],
        **c,
        "accuracy": _ratio(c["tp"] + c["tn"], n),
        "completeness": _ratio(c["tp"], c["tp"] + c["fn"]),
        "fpr": _ratio(c["fp"], c["fp"] + c["tn"]),
        "purity": _ratio(c["tp"], c["tp"] + c["fp"]),
    }


def roc_curve(y_true, scores):
    """ROC curve over the distinct scores, from the origin.

    Returns
    -------
    fpr, tpr : numpy.ndarray
        Rates at each threshold (NaN where a class is absent).
    thresholds : numpy.ndarray
        Decreasing; ``inf`` first (nothing called a lens).
    n_fp, n_tp : numpy.ndarray of int
        Cumulative counts.
    """
    y, s = _check(y_true, scores)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1] if s.size else np.zeros(0, int)
    n_tp = np.r_[0, np.cumsum(y_sorted)[last_of_value]].astype(np.int64)
    n_fp = np.r_[0, np.cumsum(~y_sorted)[last_of_value]].astype(np.int64)
    thresholds = np.r_[np.inf, s_sorted[last_of_value]]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    tpr = n_tp / n_pos if n_pos else np.full(n_tp.shape, np.nan)
    fpr = n_fp / n_neg if n_neg else np.full(n_fp.shape, np.nan)
    return fpr, tpr, thresholds, n_fp, n_tp


def auroc(y_true, scores) -> float:
    """Area under the ROC curve (NaN when a class is absent)."""
    fpr, tpr, *_ = roc_curve(y_true, scores)
    if not fpr.size or np.isnan(fpr).any() or np.isnan(tpr).any():
        return float("nan")
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def tpr_at_fp(y_true, scores, max_false_positives: int) -> float:
    """Highest TPR with at most ``max_false_positives`` false positives (NaN without lenses)."""
    _, tpr, _, n_fp, _ = roc_curve(y_true, scores)
    if np.isnan(tpr).any():
        return float("nan")
    return float(tpr[n_fp <= max_false_positives].max())


def tpr0(y_true, scores) -> float:
    """TPR0 of Metcalf et al. 2019: highest TPR with zero false positives."""
    return tpr_at_fp(y_true, scores, 0)


def tpr10(y_true, scores) -> float:
    """TPR10 of Metcalf et al. 2019: highest TPR with fewer than ten false positives."""
    return tpr_at_fp(y_true, scores, 9)


def completeness_in_bins(values, y_true, scores, threshold: float, bins=8):
    """Completeness of the lenses in bins of a parameter.

    Parameters
    ----------
    values : array_like
        The parameter per stamp (e.g. ``theta_E`` in arcsec); NaN rows and
        non-lenses are ignored.
    y_true, scores : array_like
    threshold : float
    bins : int or sequence of float
        Number of equal-width bins over the lenses' range, or bin edges.

    Returns
    -------
    pandas.DataFrame
        ``bin_lo, bin_hi, bin_center, n_lenses, n_found, completeness,
        completeness_err`` (rows for empty bins have NaN completeness).
    """
    import pandas as pd

    y, s = _check(y_true, scores)
    v = np.asarray(values, dtype=np.float64).ravel()
    keep = y & np.isfinite(v)
    v, found = v[keep], s[keep] >= threshold
    if np.isscalar(bins):
        lo, hi = (v.min(), v.max()) if v.size else (0.0, 1.0)
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64)
    which = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, len(edges) - 2)
    inside = (v >= edges[0]) & (v <= edges[-1])
    n = np.bincount(which[inside], minlength=len(edges) - 1)
    k = np.bincount(which[inside], weights=found[inside], minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(n > 0, k / np.maximum(n, 1), np.nan)
        err = np.where(n > 0, np.sqrt(c * (1 - c) / np.maximum(n, 1)), np.nan)
    return pd.DataFrame({
        "bin_lo": edges[:-1], "bin_hi": edges[1:], "bin_center": (edges[:-1] + edges[1:]) / 2,
        "n_lenses": n.astype(np.int64), "n_found": k.astype(np.int64), "completeness": c, "completeness_err": err,
    })


def metrics_table(y_true, scores, thresholds=DEFAULT_THRESHOLDS):
    """One row per threshold with the threshold metrics plus ``auroc, tpr0, tpr10``."""
    import pandas as pd

    summary = {"auroc": auroc(y_true, scores), "tpr0": tpr0(y_true, scores), "tpr10": tpr10(y_true, scores)}
    return pd.DataFrame([{**threshold_metrics(y_true, scores, t), **summary} for t in thresholds])
