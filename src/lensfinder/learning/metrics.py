"""Classification metrics of lens finders (pure numpy) and ``lensfinder evaluate``.

Definitions (a stamp is called a lens when ``p_cnn >= threshold``)
-----------------------------------------------------------------
accuracy
    ``(TP + TN) / N`` (He et al. 2020, section 2).
completeness
    True-positive rate ``TP / (TP + FN)`` (He et al. 2020, section 2).
fpr
    False-positive rate ``FP / (FP + TN)``.
purity
    ``TP / (TP + FP)`` (NaN when nothing is called a lens).
ROC curve, AUROC
    TPR against FPR over every distinct score (ties move together);
    AUROC is the trapezoidal area, equal to the probability that a random
    lens scores above a random non-lens, ties counting one half.
TPR0, TPR10
    Metcalf et al. 2019 (Strong Gravitational Lens Finding Challenge,
    section 5): the highest TPR reached, over all thresholds, with zero
    false positives, and with fewer than ten false positives. A threshold
    is a distinct score, so a non-lens tied with lenses costs them.
completeness vs a parameter
    Completeness of the lenses in bins of a metadata column (``theta_E``,
    ``snr``, ``psf_fwhm_arcsec``, ``mag_lens``), with the binomial error
    ``sqrt(c (1 - c) / n)``.

Tables written by ``lensfinder evaluate``
-----------------------------------------
metrics (``--out``, + ``.csv``), one row per threshold:
    ``threshold, n, n_lenses, n_nonlenses, tp, fp, tn, fn, accuracy,
    completeness, fpr, purity, auroc, tpr0, tpr10, model``.
ROC (``--roc``, + ``.csv``), one row per distinct score plus the origin:
    ``threshold`` (``inf`` at the origin), ``fpr, tpr, n_fp, n_tp``.
completeness (``--completeness``, optional, + ``.csv``):
    ``column, threshold, bin_lo, bin_hi, bin_center, n_lenses, n_found,
    completeness, completeness_err``.
Rows with ``p_cnn = NaN`` (stamps skipped by ``lensfinder infer``) are
left out and counted in the log.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from lensfinder.constants import THRESHOLDS
from lensfinder.io import InputError, read_table, require_columns, write_csv, write_table

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
    "COMPLETENESS_COLUMNS",
    "add_evaluate_arguments",
    "run_evaluate",
]

log = logging.getLogger(__name__)

#: 0.5 plus the papers' candidate thresholds (constants.THRESHOLDS).
DEFAULT_THRESHOLDS = tuple(sorted({0.5, *THRESHOLDS.values()}))
#: Simulation metadata columns for completeness curves (architecture.md).
COMPLETENESS_COLUMNS = ("theta_E", "snr", "psf_fwhm_arcsec", "mag_lens")


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


def _read_all(paths, required):
    import pandas as pd

    tables = [read_table(p) for p in paths]
    for p, t in zip(paths, tables):
        require_columns(t, required, str(p))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _joined(prediction_paths, label_paths):
    """Predictions with labels (and metadata) as one table; NaN scores dropped."""
    preds = _read_all(prediction_paths, ["object_id", "p_cnn"])
    source = ", ".join(map(str, prediction_paths))
    dup = preds["object_id"].duplicated()
    if dup.any():
        raise InputError(f"{source}: object_id: {int(dup.sum())} duplicated, e.g. {preds['object_id'][dup].iloc[0]!r}")
    if label_paths:
        labels = _read_all(label_paths, ["object_id", "is_lens"])
        lsource = ", ".join(map(str, label_paths))
        dup = labels["object_id"].duplicated()
        if dup.any():
            raise InputError(f"{lsource}: object_id: {int(dup.sum())} duplicated, e.g. {labels['object_id'][dup].iloc[0]!r}")
        keep = [c for c in labels.columns if c == "object_id" or c not in preds.columns or c == "is_lens"]
        joined = preds.drop(columns=[c for c in ("is_lens",) if c in preds.columns]).merge(
            labels[keep], on="object_id", how="left", validate="one_to_one", indicator=True)
        missing = joined["_merge"] != "both"
        if missing.any():
            raise InputError(f"{lsource}: object_id: no label for {int(missing.sum())} predictions, "
                             f"e.g. {joined['object_id'][missing].iloc[0]!r}")
        joined = joined.drop(columns="_merge")
    else:
        if "is_lens" not in preds.columns:
            raise InputError(f"{source}: is_lens: missing; give --labels or predictions of a simulated set")
        joined = preds
    if joined["is_lens"].isna().any():
        raise InputError(f"{source}: is_lens: missing values")
    nan = ~np.isfinite(joined["p_cnn"].to_numpy(dtype=np.float64))
    if nan.any():
        log.warning("%d predictions with p_cnn NaN (skipped stamps) left out", int(nan.sum()))
        joined = joined[~nan].reset_index(drop=True)
    return joined


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lensfinder evaluate``."""
    parser.add_argument("--predictions", nargs="+", required=True, metavar="PRED.parquet", help="tables with object_id, p_cnn")
    parser.add_argument("--labels", nargs="*", default=[], metavar="META.parquet",
                        help="tables with object_id, is_lens (+ metadata); default: is_lens in the predictions")
    parser.add_argument("--out", required=True, metavar="METRICS.parquet", help="metrics, one row per threshold (+ .csv)")
    parser.add_argument("--roc", required=True, metavar="ROC.parquet", help="ROC curve (+ .csv)")
    parser.add_argument("--thresholds", nargs="+", type=float, default=list(DEFAULT_THRESHOLDS),
                        help=f"p_CNN thresholds (default {' '.join(map(str, DEFAULT_THRESHOLDS))})")
    parser.add_argument("--completeness", metavar="COMPLETENESS.parquet",
                        help=f"completeness in bins of {', '.join(COMPLETENESS_COLUMNS)} (those present; + .csv)")
    parser.add_argument("--bins", type=int, default=8, help="bins per completeness curve (default 8)")


def run_evaluate(args) -> int:
    """Entry point of ``lensfinder evaluate``."""
    import pandas as pd

    for t in args.thresholds:
        if not 0 <= t <= 1:
            raise InputError(f"--thresholds: {t} is outside [0, 1]")
    table = _joined(args.predictions, args.labels)
    y = table["is_lens"].astype(bool).to_numpy()
    s = table["p_cnn"].to_numpy(dtype=np.float64)
    if not (y.any() and (~y).any()):
        log.warning("the evaluated set holds only one class: AUROC, TPR0, TPR10 are NaN or trivial")
    metrics = metrics_table(y, s, sorted(set(args.thresholds)))
    if "model" in table.columns:
        metrics["model"] = "+".join(sorted(table["model"].astype(str).unique()))
    fpr, tpr, thresholds, n_fp, n_tp = roc_curve(y, s)
    roc = pd.DataFrame({"threshold": thresholds, "fpr": fpr, "tpr": tpr, "n_fp": n_fp, "n_tp": n_tp})
    for df, path in ((metrics, args.out), (roc, args.roc)):
        write_table(df, path)
        write_csv(df, Path(path).with_suffix(".csv"))
    if args.completeness:
        parts = []
        for column in COMPLETENESS_COLUMNS:
            if column not in table.columns:
                continue
            for t in sorted(set(args.thresholds)):
                part = completeness_in_bins(table[column], y, s, t, args.bins)
                part.insert(0, "threshold", t)
                part.insert(0, "column", column)
                parts.append(part)
        completeness = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["column", "threshold", "bin_lo", "bin_hi", "bin_center", "n_lenses", "n_found",
                     "completeness", "completeness_err"])
        write_table(completeness, args.completeness)
        write_csv(completeness, Path(args.completeness).with_suffix(".csv"))
    row = metrics.iloc[0]
    log.info("%d stamps (%d lenses): AUROC %.4f, TPR0 %.3f, TPR10 %.3f", len(table), int(y.sum()),
             row["auroc"], row["tpr0"], row["tpr10"])
    return 0
