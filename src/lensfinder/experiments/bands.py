"""The ``bands_test`` experiment: the same search in one band against several, per survey preset.

Per preset, one simulated training set and one test set are made in every
band of the preset; two networks train on them, one seeing the detection
band alone (the papers' r) and one seeing all the preset's bands (g, r, i).
Both score the same test images (and, where given, the ``domain_shift``
independent set), so the difference is the colour alone. The tables hold
AUROC, TPR0 and TPR10 (Metcalf et al. 2019, the lens-finding challenge) per preset, band set and
test set, and the gain of colour over the single band. Described in
docs/experiments.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lensfinder.io import InputError, require_columns
from lensfinder.learning.metrics import auroc, tpr0, tpr10

__all__ = ["BAND_SEPARATOR", "band_label", "label_bands", "bands_metrics", "colour_gain"]

#: Band names in a file label (``bands=g+r+i``): labels split at commas.
BAND_SEPARATOR = "+"
_KEYS = ["preset", "bands", "test_set"]


def band_label(bands) -> str:
    """``["g", "r", "i"]`` -> ``"g+r+i"`` (a label value; :func:`label_bands` reads it back)."""
    return BAND_SEPARATOR.join(bands)


def label_bands(label: str) -> tuple:
    """``"g+r+i"`` -> ``("g", "r", "i")``."""
    return tuple(str(label).split(BAND_SEPARATOR))


def bands_metrics(scores: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """AUROC, TPR0 and TPR10 of each network on each test set.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``object_id``, ``p_cnn``, and the label columns ``preset``, ``bands``
        (:func:`band_label`) and ``test_set`` (``own`` or ``independent``).
    labels : pandas.DataFrame
        ``object_id``, ``is_lens`` of every scored image.

    Returns
    -------
    pandas.DataFrame
        One row per (preset, bands, test_set): ``n_bands``, ``n_lenses``,
        ``n_non_lenses``, ``n_nan`` (scores left out), ``auroc``, ``tpr0``, ``tpr10``.
    """
    require_columns(scores, ["object_id", "p_cnn", *_KEYS], "scores", "bands_test score labels")
    require_columns(labels, ["object_id", "is_lens"], "labels")
    truth = labels.drop_duplicates("object_id").astype({"object_id": str})
    # the labels are the truth: a scores table may carry its own copy (infer on simulated shards)
    joined = scores.drop(columns=["is_lens"], errors="ignore").astype({"object_id": str}).merge(
        truth[["object_id", "is_lens"]], on="object_id", how="left")
    if joined["is_lens"].isna().any():
        missing = joined.loc[joined["is_lens"].isna(), "object_id"].iloc[0]
        raise InputError(f"labels: object_id: no is_lens for scored image {missing!r} "
                         f"({int(joined['is_lens'].isna().sum())} in all)")
    rows = []
    for (preset, bands, test_set), group in joined.groupby(_KEYS, sort=True):
        ok = group["p_cnn"].notna()
        y, p = group.loc[ok, "is_lens"].astype(bool).to_numpy(), group.loc[ok, "p_cnn"].to_numpy(dtype=float)
        both = y.any() and (~y).any()
        rows.append({"preset": preset, "bands": bands, "n_bands": len(label_bands(bands)), "test_set": test_set,
                     "n_lenses": int(y.sum()), "n_non_lenses": int((~y).sum()), "n_nan": int((~ok).sum()),
                     "auroc": auroc(y, p) if both else np.nan, "tpr0": tpr0(y, p) if both else np.nan,
                     "tpr10": tpr10(y, p) if both else np.nan})
    return pd.DataFrame(rows).sort_values(["preset", "test_set", "n_bands"], kind="mergesort").reset_index(drop=True)


def colour_gain(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per preset and test set: the single band's metrics, the most bands', and the gain (most - single).

    Returns
    -------
    pandas.DataFrame
        ``preset, test_set, single_bands, colour_bands``, then ``<metric>_single``,
        ``<metric>_colour`` and ``<metric>_gain`` for auroc, tpr0 and tpr10.
    """
    require_columns(metrics, [*_KEYS, "n_bands", "auroc", "tpr0", "tpr10"], "bands_test metrics")
    rows = []
    for (preset, test_set), group in metrics.groupby(["preset", "test_set"], sort=True):
        single, colour = group.loc[group["n_bands"].idxmin()], group.loc[group["n_bands"].idxmax()]
        if single["n_bands"] == colour["n_bands"]:
            continue  # one band set only (e.g. Euclid VIS without NISP): nothing to compare
        row = {"preset": preset, "test_set": test_set, "single_bands": single["bands"], "colour_bands": colour["bands"]}
        for metric in ("auroc", "tpr0", "tpr10"):
            row.update({f"{metric}_single": single[metric], f"{metric}_colour": colour[metric],
                        f"{metric}_gain": colour[metric] - single[metric]})
        rows.append(row)
    columns = ["preset", "test_set", "single_bands", "colour_bands"] + [
        f"{m}_{k}" for m in ("auroc", "tpr0", "tpr10") for k in ("single", "colour", "gain")]
    return pd.DataFrame(rows, columns=columns)
