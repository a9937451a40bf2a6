"""The ``domain_shift`` experiment's tables by kind and by bin: what each network calls a lens.

Per (model, test_set) of the scores joined with their metadata
(:func:`lensfinder.experiments.domain_shift.join_scores`): the rates and AUROC
of each kind, the negatives that set TPR0 and TPR at FPR 1 %, the lenses'
completeness in bins of ``theta_E``, arc S/N and PSF FWHM, and the ROC curves.
Pure functions of tables, exported by :mod:`lensfinder.experiments.domain_shift`
too; the columns are listed in docs/experiments.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lensfinder.learning.metrics import auroc, completeness_in_bins, roc_curve

__all__ = ["COMPLETENESS_BINS", "kind_rates", "TOP_NEGATIVE_COLUMNS", "top_negatives", "completeness_table",
           "roc_table"]

#: bin edges of the completeness curves, shared by every set so that the curves compare
COMPLETENESS_BINS = {
    "theta_E": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0],                   # arcsec
    "arc_snr": [3.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 1000.0, 1e5],    # matched-filter S/N
    "psf_fwhm_arcsec": [0.4, 0.55, 0.7, 0.85, 1.0, 1.2],                    # arcsec
}


def kind_rates(joined: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per (model, test_set, kind): images, fraction called a lens at ``threshold`` (FPR of a negative
    kind, completeness of a lens kind) and its binomial error, the median ``p_cnn``, and ``auroc``:
    the kind against the whole other class of its test set (a negative kind against all the lenses, a
    lens kind against all the negatives; NaN when that class is empty), which ranks the kinds without
    a threshold."""
    rows = []
    for (model, test_set), group in joined.groupby(["model", "test_set"], sort=False):
        lens = group["is_lens"].to_numpy(dtype=bool)
        scores = group["p_cnn"].to_numpy(dtype=np.float64)
        for kind, part in group.groupby("kind", sort=False):
            called = part["p_cnn"].to_numpy(dtype=np.float64) >= threshold
            rate = float(called.mean())
            is_lens = bool(part["is_lens"].iloc[0])
            pair = (group["kind"] == kind).to_numpy() | (lens != is_lens)
            rows.append({"model": model, "test_set": test_set, "kind": kind, "is_lens": is_lens,
                         "n": len(part), "threshold": threshold, "called_lens_fraction": rate,
                         "called_lens_fraction_err": float(np.sqrt(rate * (1 - rate) / len(part))),
                         "median_p_cnn": float(part["p_cnn"].median()),
                         "auroc": auroc(lens[pair], scores[pair])})
    return pd.DataFrame(rows)


#: what the top-negatives table says of each image, where its set's metadata has it: the independent
#: set's kind, central galaxy, companion, PSF and survey host (:mod:`lensfinder.experiments.independent`),
#: and the simulator's central galaxy and companion (own test sets)
TOP_NEGATIVE_COLUMNS = ("mag_lens", "lens_light_profile", "lens_light_model", "galaxy_morphology",
                        "companion_distance_arcsec", "companion_mag", "companion_g_r", "companion_morphology",
                        "mag_companion", "psf_family",
                        "psf_fwhm_arcsec", "host_object_id", "host_tile")


def top_negatives(joined: pd.DataFrame, metadata: pd.DataFrame | None = None, max_fpr: float = 0.01) -> pd.DataFrame:
    """The negatives that set TPR at FPR ``max_fpr``, per (model, test_set): the floor(``max_fpr`` x
    negatives) + 1 highest-scored ones, highest first (``rank`` 1, 2, ...). ``lenses_above`` is the
    fraction of the set's lenses scored above each: TPR0 on the first row and TPR at FPR ``max_fpr``
    on the last (scores tied with a negative count as below it). Beside them, the columns of
    :data:`TOP_NEGATIVE_COLUMNS` that ``metadata`` has (by ``object_id``), so that what fills the top
    of a ranking can be read, and each image found again in its set."""
    parts = []
    for (model, test_set), part in joined.groupby(["model", "test_set"], sort=False):
        lens = part["is_lens"].to_numpy(dtype=bool)
        negatives = part[~lens].sort_values("p_cnn", ascending=False, kind="stable")
        if not len(negatives):
            continue
        top = negatives.head(int(np.floor(max_fpr * len(negatives) + 1e-9)) + 1)
        lens_scores = np.sort(part["p_cnn"].to_numpy(dtype=np.float64)[lens])
        above = (1 - np.searchsorted(lens_scores, top["p_cnn"].to_numpy(dtype=np.float64), side="right")
                 / lens_scores.size) if lens_scores.size else np.nan
        parts.append(pd.DataFrame({"model": model, "test_set": test_set, "rank": np.arange(1, len(top) + 1),
                                   "object_id": top["object_id"].to_numpy(), "kind": top["kind"].to_numpy(),
                                   "p_cnn": top["p_cnn"].to_numpy(dtype=np.float64),
                                   "lenses_above": above,
                                   "n_negatives": len(negatives), "max_fpr": max_fpr}))
    columns = ["model", "test_set", "rank", "object_id", "kind", "p_cnn", "lenses_above", "n_negatives", "max_fpr"]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    if metadata is not None:
        extra = [c for c in TOP_NEGATIVE_COLUMNS if c in metadata.columns]
        meta = metadata.assign(object_id=metadata["object_id"].astype(str)).drop_duplicates("object_id")
        table = table.merge(meta[["object_id", *extra]], on="object_id", how="left")  # joined: str ids
    return table


def completeness_table(joined: pd.DataFrame, threshold: float, bins: dict | None = None) -> pd.DataFrame:
    """Completeness of the lenses in bins of ``theta_E``, ``arc_snr`` and ``psf_fwhm_arcsec``
    per (model, test_set) (rows where a set lacks the column are left out; lenses outside the bins are
    left out too, and counted in a warning)."""
    parts = []
    for (model, test_set), part in joined.groupby(["model", "test_set"], sort=False):
        for column, edges in (bins or COMPLETENESS_BINS).items():
            values = part[column].to_numpy(dtype=np.float64)
            if not np.isfinite(values[part["is_lens"].to_numpy()]).any():
                continue
            curve = completeness_in_bins(values, part["is_lens"], part["p_cnn"], threshold, edges,
                                         name=f"{model} on {test_set}: {column}")
            curve.insert(0, "column", column)
            curve.insert(0, "test_set", test_set)
            curve.insert(0, "model", model)
            curve["threshold"] = threshold
            parts.append(curve)
    if not parts:
        return pd.DataFrame(columns=["model", "test_set", "column", "bin_lo", "bin_hi", "bin_center", "n_lenses",
                                     "n_found", "completeness", "completeness_err", "threshold"])
    return pd.concat(parts, ignore_index=True)


def roc_table(joined: pd.DataFrame, max_points: int = 400) -> pd.DataFrame:
    """ROC curves per (model, test_set), thinned to at most ``max_points`` points each (for the figure)."""
    parts = []
    for (model, test_set), part in joined.groupby(["model", "test_set"], sort=False):
        fpr, tpr, *_ = roc_curve(part["is_lens"], part["p_cnn"])
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(max_points, len(fpr))).astype(int))
        parts.append(pd.DataFrame({"model": model, "test_set": test_set, "fpr": fpr[keep], "tpr": tpr[keep]}))
    return pd.concat(parts, ignore_index=True)
