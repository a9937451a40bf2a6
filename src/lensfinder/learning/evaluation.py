"""The evaluate step: scores joined with their labels, and the metric, ROC and completeness tables.

Rows with ``p_cnn = NaN`` (stamps skipped by inference) are left out and
counted in the log; the tables' columns are listed in docs/learning.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from lensfinder.checks import require_scores
from lensfinder.io import InputError, bool_column, read_table, require_columns, write_csv, write_table
from lensfinder.learning.metrics import DEFAULT_THRESHOLDS, completeness_in_bins, metrics_table, roc_curve

__all__ = ["COMPLETENESS_COLUMNS", "evaluate_files"]

log = logging.getLogger(__name__)

#: Simulation metadata columns for completeness curves (architecture.md).
COMPLETENESS_COLUMNS = ("theta_E", "arc_snr", "snr", "psf_fwhm_arcsec", "mag_lens")


def _read_all(paths, required, scores: bool = False):
    import pandas as pd

    tables = [read_table(p) for p in paths]
    for p, t in zip(paths, tables):
        require_columns(t, required, str(p))
        if scores:
            require_scores(t, p)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _joined(prediction_paths, label_paths):
    """Predictions with labels (and metadata) as one table; NaN scores dropped."""
    preds = _read_all(prediction_paths, ["object_id", "p_cnn"], scores=True)
    preds["object_id"] = preds["object_id"].astype(str)  # ids stored as integers in one table match text ids
    source = ", ".join(map(str, prediction_paths))
    dup = preds["object_id"].duplicated()
    if dup.any():
        raise InputError(f"{source}: object_id: {int(dup.sum())} duplicated, e.g. {preds['object_id'][dup].iloc[0]!r}")
    if label_paths:
        labels = _read_all(label_paths, ["object_id", "is_lens"])
        labels["object_id"] = labels["object_id"].astype(str)
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
    joined["is_lens"] = bool_column(joined["is_lens"].to_numpy(), ", ".join(map(str, label_paths or prediction_paths)),
                                    "is_lens")
    nan = ~np.isfinite(joined["p_cnn"].to_numpy(dtype=np.float64))
    if nan.any():
        log.warning("%d predictions with p_cnn NaN (skipped stamps) left out", int(nan.sum()))
        joined = joined[~nan].reset_index(drop=True)
    return joined


def evaluate_files(predictions, labels, out, roc_out, thresholds=DEFAULT_THRESHOLDS, completeness_out=None,
                   bins: int = 8):
    """Metrics, ROC curve and (optionally) completeness curves of score tables, written as Parquet + CSV.

    Parameters
    ----------
    predictions : sequence of path
        Tables with ``object_id`` and ``p_cnn`` (and ``is_lens`` when no labels are given).
    labels : sequence of path
        Tables with ``object_id``, ``is_lens`` and metadata; may be empty.
    out, roc_out : path
        Metrics (one row per threshold) and ROC tables; a ``.csv`` copy is written beside each.
    thresholds : sequence of float
        ``p_cnn`` thresholds in [0, 1].
    completeness_out : path, optional
        Completeness in bins of :data:`COMPLETENESS_COLUMNS` (those present).
    bins : int
        Bins per completeness curve.

    Returns
    -------
    pandas.DataFrame
        The metrics table.
    """
    import pandas as pd

    table = _joined(predictions, labels)
    y = table["is_lens"].astype(bool).to_numpy()
    s = table["p_cnn"].to_numpy(dtype=np.float64)
    if not (y.any() and (~y).any()):
        log.warning("the evaluated set holds only one class: AUROC, TPR0, TPR10 are NaN or trivial")
    metrics = metrics_table(y, s, sorted(set(thresholds)))
    if "model" in table.columns:
        metrics["model"] = "+".join(sorted(table["model"].astype(str).unique()))
    fpr, tpr, roc_thresholds, n_fp, n_tp = roc_curve(y, s)
    roc = pd.DataFrame({"threshold": roc_thresholds, "fpr": fpr, "tpr": tpr, "n_fp": n_fp, "n_tp": n_tp})
    for df, path in ((metrics, out), (roc, roc_out)):
        write_table(df, path)
        write_csv(df, Path(path).with_suffix(".csv"))
    if completeness_out:
        parts = []
        for column in COMPLETENESS_COLUMNS:
            if column not in table.columns:
                continue
            for t in sorted(set(thresholds)):
                part = completeness_in_bins(table[column], y, s, t, bins, name=column)
                part.insert(0, "threshold", t)
                part.insert(0, "column", column)
                parts.append(part)
        completeness = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["column", "threshold", "bin_lo", "bin_hi", "bin_center", "n_lenses", "n_found",
                     "completeness", "completeness_err"])
        write_table(completeness, completeness_out)
        write_csv(completeness, Path(completeness_out).with_suffix(".csv"))
    row = metrics.iloc[0]
    log.info("%d stamps (%d lenses): AUROC %.4f, TPR0 %.3f, TPR10 %.3f", len(table), int(y.sum()),
             row["auroc"], row["tpr0"], row["tpr10"])
    return metrics
