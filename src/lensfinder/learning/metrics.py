"""Classification metrics of lens finders, pure numpy: confusion counts, ROC, AUROC, TPR0/TPR10,
and their bootstrap confidence intervals (scipy.stats.bootstrap).

A stamp is called a lens when ``p_cnn >= threshold``; definitions in docs/learning.md.
"""

from __future__ import annotations

import logging

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
    "bootstrap_intervals",
    "paired_differences",
    "BOOTSTRAP_METRICS",
    "metrics_table",
    "DEFAULT_THRESHOLDS",
]

log = logging.getLogger(__name__)

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


def _score_order(s):
    """The order of decreasing score (stable) and, in it, the last index of each distinct score:
    a threshold takes a whole tie."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1] if s.size else np.zeros(0, int)
    return order, last_of_value


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
    order, last_of_value = _score_order(s)
    s_sorted, y_sorted = s[order], y[order]
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


def _weighted_rank_metrics(y_sorted, last_of_value, weights, max_fpr: float):
    """AUROC, TPR0 and the highest TPR at FPR <= ``max_fpr`` of images counted ``weights`` times.

    ``y_sorted``: the labels in order of decreasing score; ``last_of_value``: the last index of each
    distinct score in that order; ``weights``: (B, n) in the same order, one row per resample (an
    image drawn k times counts k times: the metrics of the resampled set, ties kept together).
    Returns (3, B).
    """
    tp = np.cumsum(weights * y_sorted, axis=1)[:, last_of_value]
    fp = np.cumsum(weights * ~y_sorted, axis=1)[:, last_of_value]
    zero = np.zeros((weights.shape[0], 1))
    tp, fp = np.hstack([zero, tp]), np.hstack([zero, fp])
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr, fpr = tp / tp[:, -1:], fp / fp[:, -1:]
    area = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, axis=1)
    at_zero = np.where(fp <= 0, tpr, -np.inf).max(axis=1)
    at_fpr = np.where(fpr <= max_fpr + 1e-12, tpr, -np.inf).max(axis=1)
    return np.stack([area, at_zero, at_fpr])


#: the metrics :func:`bootstrap_intervals` gives intervals of, in its order
BOOTSTRAP_METRICS = ("auroc", "tpr0", "tpr_fpr1")


def _ranking(y, s, max_fpr: float):
    """(B, n) weights in input order -> (3, B) :func:`_weighted_rank_metrics` of the scores ``s``."""
    order, last_of_value = _score_order(s)
    y_sorted = y[order]
    return lambda weights: _weighted_rank_metrics(y_sorted, last_of_value, weights[:, order], max_fpr)


def _cluster_bootstrap(y, groups, statistic, *, n_resamples: int, confidence_level: float, seed: int):
    """Percentile intervals of ``statistic`` (weights (B, n) -> (k, B)) over resamples that keep each
    class apart and, within a class, draw the images of one ``groups`` label together (a label's lenses
    and its non-lenses are two clusters, drawn independently); None when a class has fewer than two
    clusters."""
    from scipy import stats

    labels = np.arange(y.size) if groups is None else np.asarray(groups, dtype=object).ravel()
    if labels.shape != y.shape:
        raise ValueError(f"labels ({y.size}) and groups ({labels.size}) differ in length")
    classes = []  # per class: its images, the cluster of each, the number of clusters
    for in_class in (y, ~y):
        where = np.flatnonzero(in_class)
        _, cluster = np.unique(labels[where].astype(str), return_inverse=True)
        classes.append((where, cluster, int(cluster.max()) + 1 if cluster.size else 0))
    if min(n for *_, n in classes) < 2:
        return None

    def resampled(lens_draws, other_draws, axis=-1):
        batch = lens_draws.shape[:-1]
        weights = np.zeros((int(np.prod(batch, dtype=int)), y.size))
        for draws, (where, cluster, n) in zip((lens_draws, other_draws), classes):
            draws = draws.reshape(-1, draws.shape[-1]).astype(np.int64)
            rows = np.arange(draws.shape[0])[:, None] * n
            counts = np.bincount((draws + rows).ravel(), minlength=draws.shape[0] * n).reshape(-1, n)
            weights[:, where] = counts[:, cluster]
        values = statistic(weights)
        return values.reshape(values.shape[0], *batch)

    result = stats.bootstrap(tuple(np.arange(n) for *_, n in classes), resampled, vectorized=True, paired=False,
                             n_resamples=n_resamples, batch=200, method="percentile",
                             confidence_level=confidence_level, rng=np.random.default_rng(seed))
    return result.confidence_interval


def bootstrap_intervals(y_true, scores, groups=None, *, max_fpr: float = 0.01, n_resamples: int = 1000,
                        confidence_level: float = 0.95, seed: int = 0) -> dict:
    """Percentile bootstrap intervals of ``auroc``, ``tpr0`` and ``tpr_fpr1`` (TPR at FPR <= ``max_fpr``).

    The lenses and the non-lenses are resampled apart (scipy.stats.bootstrap with two samples,
    ``paired=False``), and by cluster within each class: images of one class that share a ``groups``
    label (e.g. the survey host two stamps were cut around) are drawn together, so that a set that
    shows one host several times is not taken for a larger one. Each resample keeps each class's
    number of clusters (its class sizes, where every image is its own cluster). A label's lenses
    and its non-lenses (a host's painted lens and its bare stamp) are two clusters drawn
    independently, so the interval leaves out the correlation between them.
    ``groups=None``: every image on its own. The percentile method, as pROC's
    ``ci.auc(method = "bootstrap")`` (Robin et al. 2011; pROC's default is DeLong's): BCa's
    jackknife would cost one more statistic per cluster, and its correction is ill-defined for
    TPR0, whose resamples take few distinct values. Same inputs and ``seed``, same intervals.
    Returns ``{metric: (low, high)}``, NaN where a class has fewer than two clusters.
    """
    y, s = _check(y_true, scores)
    interval = _cluster_bootstrap(y, groups, _ranking(y, s, max_fpr), n_resamples=n_resamples,
                                  confidence_level=confidence_level, seed=seed)
    if interval is None:
        return {name: (float("nan"), float("nan")) for name in BOOTSTRAP_METRICS}
    return {name: (float(lo), float(hi)) for name, lo, hi in zip(BOOTSTRAP_METRICS, *interval)}


def paired_differences(y_true, scores, reference_scores, groups=None, *, max_fpr: float = 0.01,
                       n_resamples: int = 1000, confidence_level: float = 0.95, seed: int = 0) -> dict:
    """``auroc``, ``tpr0`` and ``tpr_fpr1`` of ``scores`` minus those of ``reference_scores`` (two
    networks on the same images, in the same order), with a 95 % interval from resamples shared by
    both (a paired bootstrap, drawn as :func:`bootstrap_intervals` draws them): what the images
    both networks find hard or easy cancels, so the interval of the difference is narrower than
    either network's own. Returns ``{metric: (difference, low, high)}``; an interval that excludes 0
    says the networks differ on the population these images are drawn from.
    """
    y, s = _check(y_true, scores)
    _, r = _check(y_true, reference_scores)
    net, ref = _ranking(y, s, max_fpr), _ranking(y, r, max_fpr)
    ones = np.ones((1, y.size))
    difference = (net(ones) - ref(ones))[:, 0]
    interval = _cluster_bootstrap(y, groups, lambda weights: net(weights) - ref(weights), n_resamples=n_resamples,
                                  confidence_level=confidence_level, seed=seed)
    low, high = (np.full(3, np.nan), np.full(3, np.nan)) if interval is None else interval
    return {name: (float(d), float(lo), float(hi))
            for name, d, lo, hi in zip(BOOTSTRAP_METRICS, difference, low, high)}


def completeness_in_bins(values, y_true, scores, threshold: float, bins=8, name: str = "values"):
    """Completeness of the lenses in bins of a parameter.

    Parameters
    ----------
    values : array_like
        The parameter per stamp (e.g. ``theta_E`` in arcsec); NaN rows and
        non-lenses are ignored.
    y_true, scores : array_like
    threshold : float
    bins : int or sequence of float
        Number of equal-width bins over the lenses' range, or bin edges (lenses outside them are
        left out, and their number logged in a warning).
    name : str
        What ``values`` are (e.g. the column), named in that warning.

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
    if not inside.all():
        log.warning("%s: %d of %d lenses outside the completeness bins [%g, %g] left out", name,
                    int((~inside).sum()), inside.size, edges[0], edges[-1])
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
