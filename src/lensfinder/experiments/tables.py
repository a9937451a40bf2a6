"""The experiments' aggregations: per-run metrics and survey scores in, one table out.

Each builder is a pure function of tables; the papers' values go beside the
results in ``paper_*`` columns, taken from :data:`lensfinder.experiments.reference.PAPER`.
The tables and their columns are listed in docs/experiments.md.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from lensfinder.experiments.reference import PAPER
from lensfinder.io import InputError, read_table, require_columns

__all__ = [
    "parse_label",
    "read_labelled",
    "read_tables",
    "survey_table",
    "read_survey_scores",
    "in_sample",
    "psf_table",
    "volume_points",
    "volume_table5",
    "volume_valsize",
    "entropy_summary",
    "roc_tables",
    "survey_counts",
]


# ---------------------------------------------------------------------------
# reading: labelled per-run tables, survey scores

def parse_label(label: str) -> dict:
    """``"case=case0,fraction=0.2"`` -> ``{"case": "case0", "fraction": 0.2}`` (numbers parsed).

    A label tags one per-run input file (which case, fraction, repeat ... it belongs to).
    """
    out: dict = {}
    for part in filter(None, (p.strip() for p in str(label).split(","))):
        if "=" not in part:
            raise InputError(f"label {label!r}: {part!r}: expected key=value")
        key, value = part.split("=", 1)
        try:
            number = float(value)
            out[key] = int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
        except ValueError:
            out[key] = value
    return out


def read_labelled(paths: Sequence[str], labels: Sequence[str], what: str, required: Sequence[str] = ()) -> pd.DataFrame:
    """Read each table, add its label's keys (:func:`parse_label`) as columns, and concatenate.

    ``what`` names the files in error messages (e.g. ``--metrics``).
    """
    if len(paths) != len(labels):
        raise InputError(f"{what}: {len(paths)} files but {len(labels)} labels; expected one label per file")
    parts = []
    for path, label in zip(paths, labels):
        df = read_table(path, required=required)
        for key, value in parse_label(label).items():
            df[key] = value
        parts.append(df)
    if not parts:
        raise InputError(f"{what}: no input files")
    return pd.concat(parts, ignore_index=True)


def read_tables(paths: Sequence[str] | None, required: Sequence[str] = ()) -> pd.DataFrame | None:
    """The tables at ``paths`` concatenated, or None when there are none."""
    if not paths:
        return None
    return pd.concat([read_table(p, required=required) for p in paths], ignore_index=True)


def survey_table(predictions: pd.DataFrame, indexes: pd.DataFrame | None, truth: pd.DataFrame | None) -> pd.DataFrame:
    """Scores joined with stamp-index columns (sample flags, masked fraction) and mock truth."""
    require_columns(predictions, ["object_id", "p_cnn"], "predictions")
    df = predictions.copy()
    df["object_id"] = df["object_id"].astype(str)
    if indexes is not None:
        idx = indexes.copy()
        idx["object_id"] = idx["object_id"].astype(str)
        idx = idx.drop_duplicates("object_id")
        keep = [c for c in idx.columns if c not in df.columns or c == "object_id"]
        df = df.merge(idx[keep], on="object_id", how="left")
    if truth is not None:
        require_columns(truth, ["ID", "is_lens"], "truth")
        t = truth[["ID", "is_lens"]].rename(columns={"ID": "object_id", "is_lens": "true_lens"})
        t["object_id"] = t["object_id"].astype(str)
        df = df.merge(t.drop_duplicates("object_id"), on="object_id", how="left")
        df["true_lens"] = df["true_lens"].fillna(False).astype(bool)
    return df


def in_sample(df: pd.DataFrame, sample: str | None, max_masked_fraction: float | None = None) -> pd.Series:
    """Rows of a stamp table in ``sample`` (a flag column), optionally unmasked and off the tile edge.

    With ``max_masked_fraction``, rows with ``masked_fraction`` above it or at a tile ``edge`` are left out
    (where those columns exist).
    """
    mask = pd.Series(True, index=df.index)
    if sample:
        if sample not in df.columns:
            raise InputError(f"stamp index: no sample flag column {sample!r}; add it to preselection.samples")
        mask &= df[sample].fillna(False).astype(bool)
    if max_masked_fraction is not None:
        if "masked_fraction" in df.columns:
            mask &= df["masked_fraction"].fillna(1.0) <= max_masked_fraction
        if "edge" in df.columns:
            mask &= ~df["edge"].fillna(True).astype(bool)
    return mask


def read_survey_scores(predictions: Sequence[str], labels: Sequence[str], stamp_index: Sequence[str] = (),
                       truth: Sequence[str] = ()) -> pd.DataFrame:
    """Labelled prediction tables joined with the stamp indexes and the mock truth (:func:`survey_table`)."""
    preds = read_labelled(predictions, labels, "--predictions", required=["object_id", "p_cnn"])
    return survey_table(preds, read_tables(stamp_index, ["object_id"]), read_tables(truth))


# ---------------------------------------------------------------------------
# aggregations: tables in, table out

def _metric_rows(metrics: pd.DataFrame, source: str) -> pd.DataFrame:
    require_columns(metrics, ["threshold", "accuracy", "completeness"], source, "per-threshold metrics")
    return metrics


def _numbers(df: pd.DataFrame, columns: Sequence[str], source: str) -> pd.DataFrame:
    """``df`` with its label columns ``columns`` as numbers; :class:`InputError` naming the first value that
    is not one (``--labels psf_factor=one``)."""
    df = df.copy()
    for col in columns:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            raise InputError(f"{source}: {col} {df.loc[bad, col].iloc[0]!r}: expected a number "
                             f"(--labels {col}=NUMBER)")
        df[col] = values
    return df


def _one_row_per_run(metrics: pd.DataFrame, keys: Sequence[str], source: str) -> None:
    """Refuse two rows of one run at one threshold: two files with the same label, which would count twice."""
    keys = [*keys, "threshold"]
    twice = metrics.duplicated(keys, keep=False)
    if twice.any():
        row = metrics[twice].iloc[0]
        n = int((metrics[keys] == row[keys]).all(axis=1).sum())
        label = ",".join(f"{k}={row[k]:g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in keys[:-1])
        raise InputError(f"{source}: {n} rows at threshold {float(row['threshold'])!r} labelled {label} (the same "
                         "label on several --metrics files); expected one file per label")


def psf_table(metrics: pd.DataFrame, reference_fwhm_arcsec: float = 0.65, reference_factor: float = 1.0) -> pd.DataFrame:
    """Fig. 10: metrics per PSF factor and threshold, normalised to the reference-PSF set.

    ``metrics`` has ``psf_factor``, ``threshold``, ``accuracy``, ``completeness`` (and ``fpr``).
    """
    _metric_rows(metrics, "psf metrics")
    require_columns(metrics, ["psf_factor"], "psf metrics")
    cols = ["psf_factor", "threshold", "accuracy", "completeness"] + (["fpr"] if "fpr" in metrics else [])
    df = _numbers(metrics[cols], ["psf_factor"], "psf metrics")
    df["psf_factor"] = df["psf_factor"].astype(float)
    _one_row_per_run(df, ["psf_factor"], "psf metrics")
    # exactly (the labels write 1 for the workflow's 1.0): 1.00001 is another set, not a second reference
    ref = df[np.isclose(df["psf_factor"], reference_factor, rtol=0.0, atol=1e-9)].set_index("threshold")
    if ref.empty:
        raise InputError(f"psf metrics: no set with psf_factor {reference_factor} to normalise to")
    df["psf_fwhm_arcsec"] = (df["psf_factor"] * reference_fwhm_arcsec).round(6)
    for m in ("accuracy", "completeness"):
        denom = df["threshold"].map(ref[m])
        df[f"{m}_norm"] = df[m] / denom.where(denom > 0)
        df[f"{m}_degradation"] = 1.0 - df[f"{m}_norm"]
    df["paper_max_degradation"] = PAPER["psf_test"]["max_degradation"]
    df["within_paper_limit"] = (df[["accuracy_degradation", "completeness_degradation"]].max(axis=1)
                                <= df["paper_max_degradation"])
    return df.sort_values(["threshold", "psf_factor"]).reset_index(drop=True)


def _mean_std(df: pd.DataFrame, keys: list[str], metrics=("accuracy", "completeness")) -> pd.DataFrame:
    g = df.groupby(keys, sort=True)
    out = g.size().rename("n_runs").to_frame()
    for m in metrics:
        out[f"{m}_mean"] = g[m].mean()
        out[f"{m}_std"] = g[m].std(ddof=0)
    return out.reset_index()


def _at_threshold(metrics: pd.DataFrame, threshold: float, source: str) -> pd.DataFrame:
    """The rows of ``metrics`` at ``threshold`` exactly (to 1e-12, not relative: one metrics file holds
    thresholds as close as 0.99999 and 0.999999). Raises :class:`InputError` naming ``source`` and the
    thresholds there are when none is at it."""
    values = metrics["threshold"].to_numpy(dtype=np.float64)
    at = np.isclose(values, float(threshold), rtol=0.0, atol=1e-12)
    if not at.any():
        found = ", ".join(repr(float(t)) for t in np.unique(values)[:20])
        raise InputError(f"{source}: no rows at threshold {float(threshold)!r}; expected one of the thresholds "
                         f"evaluated: {found or 'none'}")
    return metrics[at]


def volume_points(metrics: pd.DataFrame, threshold: float, parent_size: int | None = None) -> pd.DataFrame:
    """Figs. 11-12: mean and std over (repeat x validation set) per case and training fraction.

    The std is the population std of the ``n_runs`` values (the paper's
    error bar: "the standard derivation of the 20 sets"). Only the rows at
    ``threshold`` exactly count; none there raises :class:`InputError`.
    """
    _metric_rows(metrics, "volume metrics")
    require_columns(metrics, ["case", "fraction", "repeat", "validation"], "volume metrics")
    metrics = _numbers(metrics, ["fraction", "repeat", "validation"], "volume metrics")
    _one_row_per_run(metrics, ["case", "fraction", "repeat", "validation"], "volume metrics")
    df = _at_threshold(metrics, threshold, "volume metrics")
    out = _mean_std(df, ["case", "fraction"])
    out.insert(2, "threshold", threshold)
    if parent_size:
        out.insert(2, "n_train", (out["fraction"] * parent_size).round().astype(int))
    return out


def volume_table5(metrics: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Table 5: per case, pooled over all sizes, repeats and validation sets.

    Reports mean, std, variance (and variance x 1e4 beside the paper's
    "error bar (x1e-4)") and the std of the per-size means. Only the rows at
    ``threshold`` exactly count; none there raises :class:`InputError`.
    """
    _metric_rows(metrics, "volume metrics")
    require_columns(metrics, ["case", "fraction"], "volume metrics")
    runs = [k for k in ("repeat", "validation") if k in metrics]
    metrics = _numbers(metrics, ["fraction", *runs], "volume metrics")
    if len(runs) == 2:  # without them, which rows are one run is not known
        _one_row_per_run(metrics, ["case", "fraction", *runs], "volume metrics")
    df = _at_threshold(metrics, threshold, "volume metrics")
    rows = []
    for case, part in df.groupby("case", sort=True):
        row = {"case": case, "threshold": threshold, "n_runs": len(part), "n_sizes": part["fraction"].nunique()}
        paper = PAPER["volume_test"]["table5"].get(case, {})
        for m in ("accuracy", "completeness"):
            values = part[m].to_numpy(dtype=float)
            row[f"{m}_mean"] = values.mean()
            row[f"{m}_std"] = values.std(ddof=0)
            row[f"{m}_variance"] = values.var(ddof=0)
            row[f"{m}_variance_1e4"] = values.var(ddof=0) * 1e4
            row[f"{m}_std_1e4"] = values.std(ddof=0) * 1e4
            row[f"{m}_std_of_size_means"] = part.groupby("fraction")[m].mean().std(ddof=0)
            row[f"paper_{m}"] = paper.get(m, np.nan)
            row[f"paper_{m}_error_1e4"] = paper.get(f"{m}_error_1e4", np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def volume_valsize(metrics: pd.DataFrame, thresholds: Sequence[float] | None = None) -> pd.DataFrame:
    """Fig. 13: case-2 networks on validation sets of several sizes, per threshold.

    With ``thresholds``, only the rows at those exactly (the metrics files also hold the volume test's own
    threshold); one of them missing raises :class:`InputError`. None (or none) keeps every threshold.
    """
    source = "validation-size metrics"
    _metric_rows(metrics, source)
    require_columns(metrics, ["validation_size", "fraction", "repeat"], source)
    metrics = _numbers(metrics, ["validation_size", "fraction", "repeat"], source)
    _one_row_per_run(metrics, ["validation_size", "fraction", "repeat"], source)
    if thresholds:
        metrics = pd.concat([_at_threshold(metrics, t, source) for t in dict.fromkeys(thresholds)])
    return _mean_std(metrics, ["validation_size", "fraction", "threshold"])


def entropy_summary(entropy: pd.DataFrame) -> pd.DataFrame:
    """Entropy mean and std of positives and negatives beside the paper's (He et al. section 2).

    ``entropy`` is either the per-class table of ``lensfinder entropy``
    (``class`` positive/negative/all, ``n_images``, ``entropy_mean``,
    ``entropy_std``) or per-image values (``entropy``, ``is_lens``).
    """
    if {"class", "entropy_mean", "entropy_std"} <= set(entropy.columns):
        summary = entropy.set_index(entropy["class"].astype(str))
        n_col = "n_images" if "n_images" in entropy.columns else None
    else:
        require_columns(entropy, ["entropy", "is_lens"], "entropy table", "per-class summary or per-image values")
        rows = []
        for name, is_lens in (("positive", True), ("negative", False)):
            values = entropy.loc[entropy["is_lens"].astype(bool) == is_lens, "entropy"].to_numpy(dtype=float)
            rows.append({"class": name, "n_images": values.size,
                         "entropy_mean": values.mean() if values.size else np.nan,
                         "entropy_std": values.std(ddof=1) if values.size > 1 else np.nan})
        summary = pd.DataFrame(rows).set_index("class")
        n_col = "n_images"
    rows = []
    for name, key in (("positive", "positives"), ("negative", "negatives")):
        if name not in summary.index:
            raise InputError(f"entropy table: no row for class {name!r}")
        row = summary.loc[name]
        ref = PAPER["entropy"][key]
        rows.append({"class": key, "n": int(row[n_col]) if n_col else -1, "entropy_mean": float(row["entropy_mean"]),
                     "entropy_std": float(row["entropy_std"]), "paper_mean": ref["mean"], "paper_std": ref["std"]})
    ref = PAPER["entropy"]["imagenet"]
    rows.append({"class": "imagenet (paper only)", "n": 49_999, "entropy_mean": np.nan, "entropy_std": np.nan,
                 "paper_mean": ref["mean"], "paper_std": ref["std"]})
    return pd.DataFrame(rows)


def roc_tables(predictions: pd.DataFrame, thresholds: Sequence[float], bins: int = 20) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Li et al. Fig. 2: TPR/FPR at the thresholds and p_CNN histograms of positives and negatives.

    ``negatives_fraction_above`` is the fraction of negatives with
    ``p_cnn >= threshold`` (FPR); ``contamination_above`` is the fraction of
    negatives among all objects above the threshold. Li et al. report the
    negatives above 0.75 stay below 6.5%.
    """
    require_columns(predictions, ["p_cnn", "is_lens"], "test predictions")
    p = predictions["p_cnn"].to_numpy(dtype=float)
    y = predictions["is_lens"].astype(bool).to_numpy()
    rows = []
    for thr in thresholds:
        above = p >= thr
        rows.append({"threshold": float(thr), "n_positives": int(y.sum()), "n_negatives": int((~y).sum()),
                     "tpr": above[y].mean() if y.any() else np.nan,
                     "fpr": above[~y].mean() if (~y).any() else np.nan,
                     "negatives_fraction_above": above[~y].mean() if (~y).any() else np.nan,
                     "contamination_above": (above & ~y).sum() / above.sum() if above.any() else np.nan,
                     "paper_max_negative_fraction": PAPER["li2020_roc"]["max_negative_fraction_above_0.75"]
                     if np.isclose(thr, 0.75) else np.nan})
    edges = np.linspace(0.0, 1.0, bins + 1)
    hist = pd.DataFrame({"bin_low": edges[:-1], "bin_high": edges[1:],
                         "n_positives": np.histogram(p[y], edges)[0], "n_negatives": np.histogram(p[~y], edges)[0]})
    return pd.DataFrame(rows), hist


def survey_counts(table: pd.DataFrame, thresholds: Mapping[str, float]) -> pd.DataFrame:
    """Li et al. section 3.1: candidates per sample above its threshold, and truth lenses recovered."""
    ref = PAPER["li2020_roc"]
    paper = {"lrg_li2020": (ref["lrg_candidates"], ref["lrg_fraction"]), "bg_li2020": (ref["bg_candidates"], ref["bg_fraction"])}
    rows = []
    for sample, thr in thresholds.items():
        mask = in_sample(table, sample)
        part = table[mask]
        cand = part["p_cnn"] >= thr
        true = part.get("true_lens", pd.Series(False, index=part.index)).astype(bool)
        p_n, p_f = paper.get(sample, (np.nan, np.nan))
        rows.append({"sample": sample, "threshold": float(thr), "n_sample": int(len(part)), "n_candidates": int(cand.sum()),
                     "fraction": float(cand.mean()) if len(part) else np.nan,
                     "n_true_lenses": int(true.sum()), "n_true_lenses_recovered": int((cand & true).sum()),
                     "recovered_fraction": float((cand & true).sum() / true.sum()) if true.any() else np.nan,
                     "paper_n_candidates": p_n, "paper_fraction": p_f,
                     "paper_recovered_fraction": ref["known_recovered"] / ref["known_total"] if sample == "lrg_li2020" else np.nan})
    return pd.DataFrame(rows)
