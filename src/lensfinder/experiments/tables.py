"""The papers' experiments: subsets, aggregation tables and figures.

He et al. 2020 (MNRAS 497, 556) sections 2, 4.3 and 5, and Li et al. 2020
(ApJ 899, 30) section 2.3 and 3.1, as named Snakemake targets (see
``workflow/rules/experiments.smk``). Simulation, training, scoring and the
per-threshold metrics are done by the ordinary steps (``simulate``,
``train``, ``infer``, ``evaluate``, ``entropy``); this module adds

- :func:`select_subset` / ``lensfinder experiment-subset``: seeded,
  class-balanced subsets of a parent set (volume test), optionally
  resampled to a target Sersic-index distribution (Sersic test);
- the aggregations (``lensfinder experiment-table --kind ...``), each a
  pure function from tables to a table, with the papers' values in
  ``paper_*`` columns taken from :data:`PAPER` (the one place they live);
- one figure per table (``lensfinder experiment-figure --kind ...``), drawn
  from the tables only;
- ``lensfinder experiment-roc-sample``: the Li et al. test sample of mock
  lenses plus survey galaxies of the LRG sample.

Tables (all written as Parquet and CSV beside it)
--------------------------------------------------
psf_test
    ``psf_factor``, ``psf_fwhm_arcsec``, ``threshold``, ``accuracy``,
    ``completeness``, ``fpr``, ``accuracy_norm``, ``completeness_norm``
    (divided by the value on the reference-PSF set), ``paper_max_degradation``.
volume_points (Figs. 11, 12)
    ``case``, ``fraction``, ``n_train``, ``threshold``, ``n_runs``,
    ``accuracy_mean``, ``accuracy_std``, ``completeness_mean``, ``completeness_std``.
volume_table5 (Table 5)
    ``case``, ``threshold``, ``n_runs``, then for ``accuracy`` and
    ``completeness``: ``*_mean``, ``*_std``, ``*_variance``, ``*_std_of_size_means``,
    ``paper_*``, ``paper_*_error_1e4``; the paper's "error bar (x1e-4)" is
    compared with ``*_variance`` x 1e4 in ``*_variance_1e4``.
volume_valsize (Fig. 13)
    ``validation_size``, ``fraction``, ``threshold``, ``n_runs`` and the means/stds.
sersic_nets / sersic_table4 (Table 4)
    per network: ``distribution``, ``repeat``, ``n_candidates``,
    ``overlap_machine_pct``, ``overlap_high_pct``; per distribution: means,
    stds, ``paper_*``.
entropy
    ``class`` (positives/negatives), ``n``, ``entropy_mean``, ``entropy_std``,
    ``paper_mean``, ``paper_std``.
net_table3 / net_overlaps (Table 3)
    per case a-d: ``sample``, ``network``, ``threshold``, ``n_sample``,
    ``n_candidates``, ``n_true_lenses`` (mock truth), paper counts; overlaps
    of M1..M4 with the paper's.
roc_points / roc_hist / survey_counts (Li et al. Fig. 2, section 3.1)
    TPR/FPR at the thresholds, negatives-above fractions; p_CNN histograms
    of positives and negatives; survey candidate counts beside the papers'.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from lensfinder.constants import KIDS_MEDIAN_PSF_FWHM_ARCSEC, THRESHOLDS
from lensfinder.plots.style import pyplot as _pyplot
from lensfinder.plots.style import save_figure as _save
from lensfinder.io import InputError, read_table, require_columns, write_csv, write_table

__all__ = [
    "PAPER",
    "reference_table",
    "parse_label",
    "sersic_weights",
    "select_subset",
    "subset_pieces",
    "psf_table",
    "volume_points",
    "volume_table5",
    "volume_valsize",
    "candidate_sets",
    "overlap_pct",
    "sersic_tables",
    "entropy_summary",
    "net_comparison_tables",
    "roc_tables",
    "survey_counts",
    "roc_sample_rows",
    "TABLES",
    "FIGURES",
    "add_experiment_subset_arguments",
    "run_experiment_subset",
    "add_experiment_table_arguments",
    "run_experiment_table",
    "add_experiment_figure_arguments",
    "run_experiment_figure",
    "add_experiment_roc_sample_arguments",
    "run_experiment_roc_sample",
]

log = logging.getLogger(__name__)

#: The papers' reference values: the one place they live. Keys are
#: ``experiment -> quantity -> value``; each block names its source.
PAPER: dict[str, dict] = {
    # He et al. 2020, section 5.1 and Fig. 10: validation PSFs of
    # (0.4 ... 2.0) x 0.65"; degradation "< 10%" (section 5.1), "less than
    # 8%" (section 6.1).
    "psf_test": {
        "reference_fwhm_arcsec": KIDS_MEDIAN_PSF_FWHM_ARCSEC,
        "factors": [0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0],
        "n_lenses": 2000,
        "n_nonlenses": 2000,
        "max_degradation": 0.10,
        "max_degradation_summary": 0.08,
    },
    # He et al. 2020, section 5.2.1 and Table 5 (threshold 0.8). The
    # "error bar (x1e-4)" columns look like variances: a std of 1e-4 would
    # contradict the ~1% spread described in the text.
    "volume_test": {
        "parent_size": 1_000_000,
        "fractions": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        "repeats": 5,
        "validation_sets": 4,
        "validation_size": 2000,
        "threshold": 0.8,
        "spread_completeness": 0.006,  # best - worst over sizes, section 5.2.1
        "spread_accuracy": 0.01,
        "table5": {
            "case0": {"accuracy": 0.984, "completeness": 0.969, "accuracy_error_1e4": 0.492, "completeness_error_1e4": 1.01},
            "case1": {"accuracy": 0.978, "completeness": 0.957, "accuracy_error_1e4": 0.978, "completeness_error_1e4": 2.00},
            "case2": {"accuracy": 0.987, "completeness": 0.975, "accuracy_error_1e4": 0.327, "completeness_error_1e4": 0.671},
            "case3": {"accuracy": 0.982, "completeness": 0.966, "accuracy_error_1e4": 0.913, "completeness_error_1e4": 1.88},
            "case4": {"accuracy": 0.977, "completeness": 0.956, "accuracy_error_1e4": 0.872, "completeness_error_1e4": 1.88},
        },
    },
    # He et al. 2020, section 4.3.3 and Table 4: 20 + 20 training sets of
    # 100,000 from the 1-million parent; overlaps with the fiducial s-Net's
    # 8,143 machine candidates and 48 high-probability candidates.
    "sersic_test": {
        "n_sets": 20,
        "set_size": 100_000,
        "overlap_machine_pct": {"flat": 78.73, "huertas_company": 77.80},
        "overlap_high_pct": {"flat": 81.25, "huertas_company": 80.31},
    },
    # He et al. 2020, section 2: entropy (eq. 2) of 50,000 training images
    # at 64x64, 8 bits; ImageNet 64x64 subset 7.11 +- 0.66.
    "entropy": {
        "positives": {"mean": 4.24, "std": 1.49},
        "negatives": {"mean": 4.07, "std": 1.43},
        "imagenet": {"mean": 7.11, "std": 0.66},
        "n_images": 50_000,
    },
    # He et al. 2020, section 4.3.2 and Table 3 (KiDS DR3 LRGs; thresholds
    # 0.999999 for s-Net, 0.5 for r-Net), and sections 4.1-4.2: 8,143
    # machine candidates -> 48 after inspection (27 new); semi-real 3,465 -> 17
    # (11 new).
    "net_comparison": {
        "cases": {
            "a": {"sample": "full", "network": "s_net", "n_candidates": 8143, "n_high": 48, "n_new": 0},
            "b": {"sample": "refined", "network": "s_net", "n_candidates": 4744, "n_high": 38, "n_new": 0},
            "c": {"sample": "full", "network": "r_net", "n_candidates": 3465, "n_high": 32, "n_new": 17},
            "d": {"sample": "refined", "network": "r_net", "n_candidates": 2877, "n_high": 27, "n_new": 13},
        },
        "overlaps": {"M1&M2": 4744, "M1&M3": 1467, "M1&M4": 1211, "M2&M3": 965, "M2&M4": 965, "M3&M4": 2877},
        "thresholds": {"s_net": THRESHOLDS["he2020_simulated"], "r_net": THRESHOLDS["he2020_semireal"]},
        "n_lrg_full": 28_815,  # section 4 (DR3 LRG sample)
        "n_lrg_refined": 23_067,
        "survey": {"s_net_candidates": 8143, "s_net_high": 48, "s_net_new": 27,
                   "r_net_candidates": 3465, "r_net_high": 17, "r_net_new": 11},
    },
    # Li et al. 2020, section 2.3 and Fig. 2 (2,000 mock lenses + 2,000 LRG
    # galaxies; thresholds 0.25, 0.5, 0.75 marked; fraction of negatives
    # above 0.75 < 6.5%) and section 3.1 (2,848 LRG candidates = 2.24%,
    # 3,552 BG = 0.093%, 54 of 60 LinKS candidates = 90%).
    "li2020_roc": {
        "n_positives": 2000,
        "n_negatives": 2000,
        "thresholds": [0.25, 0.5, 0.75],
        "max_negative_fraction_above_0.75": 0.065,
        "lrg_threshold": THRESHOLDS["li2020_lrg"],
        "bg_threshold": THRESHOLDS["li2020_bg"],
        "lrg_candidates": 2848,
        "lrg_fraction": 0.0224,
        "bg_candidates": 3552,
        "bg_fraction": 0.00093,
        "known_recovered": 54,
        "known_total": 60,
    },
}


def reference_table() -> pd.DataFrame:
    """All scalar reference values of :data:`PAPER` as ``experiment, quantity, value``."""
    rows = []

    def walk(prefix, node, experiment):
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value, experiment)
        elif isinstance(node, (int, float)):
            rows.append({"experiment": experiment, "quantity": prefix, "value": float(node)})

    for experiment, block in PAPER.items():
        walk("", block, experiment)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# labels: "key=value,key=value" strings that tag each input file

def parse_label(label: str) -> dict:
    """``"case=case0,fraction=0.2"`` -> ``{"case": "case0", "fraction": 0.2}`` (numbers parsed)."""
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


def _tagged(paths: Sequence[str], labels: Sequence[str], what: str, required: Sequence[str] = ()) -> pd.DataFrame:
    """Read each table and add its label's keys as columns; concatenated."""
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


# ---------------------------------------------------------------------------
# subsets (volume and Sersic tests)

def _huertas_company_density(n_range=(2.0, 5.0), bins: int = 30, draws: int = 200_000):
    """Histogram density of the simulator's Huertas-Company n distribution.

    Drawn from :func:`lensfinder.simulation.populations.huertas_company_n`, so the
    distribution is defined in one place (the simulator's option).
    """
    from lensfinder.simulation.populations import huertas_company_n

    rng = np.random.default_rng(20130)  # fixed: the density is a constant
    samples = np.fromiter((huertas_company_n(rng, n_range=n_range) for _ in range(draws)), float, draws)
    density, edges = np.histogram(samples, bins=bins, range=n_range, density=True)
    return density, edges


def sersic_weights(meta: pd.DataFrame, distribution: str, columns: Sequence[str],
                   n_range=(2.0, 5.0), density=None) -> np.ndarray:
    """Acceptance weights in [0, 1] that turn a flat-n parent into ``distribution``.

    For ``huertas_company`` each image's weight is the product over
    ``columns`` (e.g. lens light and source Sersic index) of
    ``p_HC(n) / p_flat(n)``, scaled so the largest possible value is 1;
    indices that are missing or outside ``n_range`` (e.g. a disk's n ~ 1)
    contribute a factor 1. ``flat`` gives all ones (the parent is flat).
    """
    weights = np.ones(len(meta))
    if distribution == "flat":
        return weights
    if distribution != "huertas_company":
        raise InputError(f"distribution {distribution!r}: expected 'flat' or 'huertas_company'")
    present = [c for c in columns if c in meta.columns]
    if not present:
        raise InputError(f"metadata: none of the Sersic-index columns {list(columns)} found; "
                         f"have {', '.join(map(str, meta.columns[:20]))}")
    dens, edges = density if density is not None else _huertas_company_density(n_range)
    ratio = dens / dens.max()
    for col in present:
        n = meta[col].to_numpy(dtype=float)
        inside = np.isfinite(n) & (n >= n_range[0]) & (n <= n_range[1])
        idx = np.clip(np.searchsorted(edges, np.where(inside, n, n_range[0]), side="right") - 1, 0, len(ratio) - 1)
        weights *= np.where(inside, ratio[idx], 1.0)
    return weights


def select_subset(labels, n_images: int, seed: int, weights=None) -> np.ndarray:
    """Positions of a class-balanced random subset (half lenses), sorted.

    Parameters
    ----------
    labels : array of bool
        ``is_lens`` of every parent image.
    n_images : int
        Subset size; ``n_images // 2`` lenses and the rest non-lenses.
    seed : int
        The subset's seed; the same (labels, n, seed, weights) give the same subset.
    weights : array of float in [0, 1], optional
        Acceptance probabilities (rejection sampling): the accepted images
        follow parent density x weight, e.g. a Huertas-Company n distribution.
    """
    labels = np.asarray(labels, dtype=bool)
    rng = np.random.default_rng(seed)
    accept = np.ones(labels.size, dtype=bool)
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.shape != labels.shape or np.any(weights < 0) or np.any(weights > 1):
            raise InputError(f"weights: expected {labels.size} values in [0, 1]")
        accept = rng.random(labels.size) < weights
    chosen = []
    for is_lens, n_class in ((True, n_images // 2), (False, n_images - n_images // 2)):
        pool = np.flatnonzero((labels == is_lens) & accept)
        if pool.size < n_class:
            kind = "lenses" if is_lens else "non-lenses"
            raise InputError(f"parent set: {pool.size} eligible {kind}, need {n_class} for a subset of {n_images}; "
                             "use a larger parent or a smaller subset")
        chosen.append(rng.choice(pool, size=n_class, replace=False))
    return np.sort(np.concatenate(chosen))


def subset_pieces(n_images: int, shard_size: int) -> int:
    """Number of output shards of a subset (at most ``shard_size`` images each)."""
    return max(1, math.ceil(n_images / shard_size))


def _write_subset(pairs, positions: np.ndarray, out_dir: Path, n_pieces: int, subset_name: str) -> None:
    """Copy the chosen rows of the parent shards into ``n_pieces`` output shards."""
    from lensfinder.learning.datasets import CubeReader
    from lensfinder.io import write_cube

    metas, offsets, readers = [], [0], []
    for cube, meta in pairs:
        table = read_table(meta, required=["object_id", "is_lens"])
        reader = CubeReader(cube)
        if len(table) != reader.n:
            raise InputError(f"{meta}: {len(table)} rows, but {cube} holds {reader.n} images")
        metas.append(table)
        readers.append(reader)
        offsets.append(offsets[-1] + reader.n)
    offsets = np.asarray(offsets)
    header = readers[0].header
    for k, chunk in enumerate(np.array_split(positions, n_pieces)):
        images, rows = [], []
        shard_of = np.searchsorted(offsets, chunk, side="right") - 1
        for s in np.unique(shard_of):
            local = chunk[shard_of == s] - offsets[s]
            images.append(readers[s].take(local))
            part = metas[s].iloc[local].copy()
            part["parent_shard"] = Path(pairs[s][0]).stem
            part["parent_row"] = local
            rows.append(part)
        cube = np.concatenate(images) if images else np.zeros((0, *readers[0].shape), np.float32)
        table = pd.concat(rows, ignore_index=True) if rows else metas[0].iloc[:0]
        table["subset"] = subset_name
        write_cube(cube, out_dir / f"shard_{k:03d}.fits", header.get("PIXSCALE", 0.2), header.get("ZEROPT", 30.0))
        write_table(table, out_dir / f"shard_{k:03d}.parquet")
        log.info("subset %s: shard %d of %d with %d images", subset_name, k + 1, n_pieces, len(table))
    for r in readers:
        r.close()


# ---------------------------------------------------------------------------
# aggregations: tables in, table out

def _metric_rows(metrics: pd.DataFrame, source: str) -> pd.DataFrame:
    require_columns(metrics, ["threshold", "accuracy", "completeness"], source, "per-threshold metrics")
    return metrics


def psf_table(metrics: pd.DataFrame, reference_fwhm_arcsec: float = 0.65, reference_factor: float = 1.0) -> pd.DataFrame:
    """Fig. 10: metrics per PSF factor and threshold, normalised to the reference-PSF set.

    ``metrics`` has ``psf_factor``, ``threshold``, ``accuracy``, ``completeness`` (and ``fpr``).
    """
    _metric_rows(metrics, "psf metrics")
    require_columns(metrics, ["psf_factor"], "psf metrics")
    cols = ["psf_factor", "threshold", "accuracy", "completeness"] + (["fpr"] if "fpr" in metrics else [])
    df = metrics[cols].copy()
    df["psf_factor"] = df["psf_factor"].astype(float)
    ref = df[np.isclose(df["psf_factor"], reference_factor)].set_index("threshold")
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


def volume_points(metrics: pd.DataFrame, threshold: float, parent_size: int | None = None) -> pd.DataFrame:
    """Figs. 11-12: mean and std over (repeat x validation set) per case and training fraction.

    The std is the population std of the ``n_runs`` values (the paper's
    error bar: "the standard derivation of the 20 sets").
    """
    _metric_rows(metrics, "volume metrics")
    require_columns(metrics, ["case", "fraction", "repeat", "validation"], "volume metrics")
    df = metrics[np.isclose(metrics["threshold"], threshold)]
    if df.empty:
        raise InputError(f"volume metrics: no rows at threshold {threshold}")
    out = _mean_std(df, ["case", "fraction"])
    out.insert(2, "threshold", threshold)
    if parent_size:
        out.insert(2, "n_train", (out["fraction"] * parent_size).round().astype(int))
    return out


def volume_table5(metrics: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Table 5: per case, pooled over all sizes, repeats and validation sets.

    Reports mean, std, variance (and variance x 1e4 beside the paper's
    "error bar (x1e-4)") and the std of the per-size means.
    """
    _metric_rows(metrics, "volume metrics")
    require_columns(metrics, ["case", "fraction"], "volume metrics")
    df = metrics[np.isclose(metrics["threshold"], threshold)]
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


def volume_valsize(metrics: pd.DataFrame) -> pd.DataFrame:
    """Fig. 13: case-2 networks on validation sets of several sizes, per threshold."""
    _metric_rows(metrics, "validation-size metrics")
    require_columns(metrics, ["validation_size", "fraction", "repeat"], "validation-size metrics")
    return _mean_std(metrics, ["validation_size", "fraction", "threshold"])


def _survey_table(predictions: pd.DataFrame, indexes: pd.DataFrame | None, truth: pd.DataFrame | None) -> pd.DataFrame:
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


def _in_sample(df: pd.DataFrame, sample: str | None, max_masked_fraction: float | None = None) -> pd.Series:
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


def candidate_sets(table: pd.DataFrame, by: str, threshold: float, sample_mask: pd.Series | None = None) -> dict:
    """``{group: set of object_id with p_cnn >= threshold}`` for each value of column ``by``."""
    df = table if sample_mask is None else table[sample_mask]
    return {key: set(part.loc[part["p_cnn"] >= threshold, "object_id"]) for key, part in df.groupby(by, sort=True)}


def overlap_pct(candidates: set, reference: set) -> float:
    """Percentage of ``reference`` that is also in ``candidates`` (NaN for an empty reference)."""
    return 100.0 * len(candidates & reference) / len(reference) if reference else float("nan")


def sersic_tables(table: pd.DataFrame, threshold: float, fiducial_threshold: float,
                  sample: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 4: overlaps of each network's candidates with the fiducial network's.

    ``overlap_*_pct`` is the percentage of the fiducial set recovered (the
    paper's measure); ``in_fiducial_pct`` the percentage of the network's own
    candidates that the fiducial network also selected.

    ``table`` holds survey scores of all networks (column ``network``:
    ``fiducial`` or ``{distribution}_r{repeat}``, plus ``distribution`` and
    ``repeat``), joined with the stamp flags and the mock truth
    (``true_lens``). The paper's "48 high-probability candidates" (after
    human inspection) become the fiducial candidates that are true lenses
    in the mock truth.
    """
    mask = _in_sample(table, sample)
    fid = table[mask & (table["network"] == "fiducial")]
    machine = set(fid.loc[fid["p_cnn"] >= fiducial_threshold, "object_id"])
    high = set(fid.loc[(fid["p_cnn"] >= fiducial_threshold) & fid.get("true_lens", False), "object_id"])
    rows = []
    nets = table[mask & (table["network"] != "fiducial")]
    for (dist, rep), part in nets.groupby(["distribution", "repeat"], sort=True):
        cand = set(part.loc[part["p_cnn"] >= threshold, "object_id"])
        rows.append({"distribution": dist, "repeat": int(rep), "n_candidates": len(cand),
                     "n_fiducial_machine": len(machine), "n_fiducial_high": len(high),
                     "overlap_machine_pct": overlap_pct(cand, machine), "overlap_high_pct": overlap_pct(cand, high),
                     "in_fiducial_pct": overlap_pct(machine, cand)})
    per_net = pd.DataFrame(rows)
    summary = []
    for dist, part in per_net.groupby("distribution", sort=True) if len(per_net) else []:
        summary.append({
            "distribution": dist, "n_networks": len(part), "threshold": threshold,
            "n_fiducial_machine": len(machine), "n_fiducial_high": len(high),
            "overlap_machine_pct_mean": part["overlap_machine_pct"].mean(),
            "overlap_machine_pct_std": part["overlap_machine_pct"].std(ddof=0),
            "overlap_high_pct_mean": part["overlap_high_pct"].mean(),
            "overlap_high_pct_std": part["overlap_high_pct"].std(ddof=0),
            "in_fiducial_pct_mean": part["in_fiducial_pct"].mean(),
            "n_candidates_mean": part["n_candidates"].mean(),
            "paper_overlap_machine_pct": PAPER["sersic_test"]["overlap_machine_pct"].get(dist, np.nan),
            "paper_overlap_high_pct": PAPER["sersic_test"]["overlap_high_pct"].get(dist, np.nan),
        })
    return per_net, pd.DataFrame(summary)


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


def net_comparison_tables(table: pd.DataFrame, full_sample: str | None, refined_sample: str | None,
                          refined_max_masked_fraction: float | None,
                          thresholds: Mapping[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 3: candidate counts M1-M4 of s-Net and r-Net on the full and refined samples, and overlaps."""
    samples = {"full": _in_sample(table, full_sample),
               "refined": _in_sample(table, refined_sample, refined_max_masked_fraction)}
    sets, rows = {}, []
    for i, (case, spec) in enumerate(PAPER["net_comparison"]["cases"].items()):
        net = spec["network"]
        mask = samples[spec["sample"]] & (table["network"] == net)
        part = table[mask]
        thr = float(thresholds[net])
        cand = part["p_cnn"] >= thr
        sets[f"M{i + 1}"] = set(part.loc[cand, "object_id"])
        true = part.get("true_lens", pd.Series(False, index=part.index))
        rows.append({"case": case, "candidates": f"M{i + 1}", "sample": spec["sample"], "network": net, "threshold": thr,
                     "n_sample": int(len(part)), "n_candidates": int(cand.sum()),
                     "fraction": float(cand.mean()) if len(part) else np.nan,
                     "n_true_lenses_in_sample": int(true.sum()), "n_true_lenses": int((cand & true).sum()),
                     "paper_n_candidates": spec["n_candidates"], "paper_n_high": spec["n_high"],
                     "paper_n_new": spec["n_new"]})
    overlaps = [{"pair": pair, "n_overlap": len(sets[pair[:2]] & sets[pair[3:]]),
                 "paper_n_overlap": value}
                for pair, value in PAPER["net_comparison"]["overlaps"].items()]
    return pd.DataFrame(rows), pd.DataFrame(overlaps)


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
        mask = _in_sample(table, sample)
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


# ---------------------------------------------------------------------------
# CLI: experiment-subset

def add_experiment_subset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parent", nargs="+", required=True, help="parent shards (.fits, .parquet or directories)")
    parser.add_argument("--n", type=int, required=True, help="images in the subset (half lenses)")
    parser.add_argument("--seed", type=int, required=True, help="the subset's seed")
    parser.add_argument("--distribution", choices=["flat", "huertas_company"], default="flat",
                        help="Sersic-index distribution of the subset (default flat = the parent's)")
    parser.add_argument("--sersic-columns", nargs="+", default=["lens_light_n_sersic", "source_n_sersic", "n_sersic"],
                        help="metadata columns whose Sersic index is resampled (those present are used)")
    parser.add_argument("--n-shards", type=int, default=1, help="output shards")
    parser.add_argument("--name", default="subset", help="subset name stored in the metadata")
    parser.add_argument("--out-dir", required=True, help="directory for shard_000.fits/.parquet ...")


def run_experiment_subset(args) -> int:
    from lensfinder.learning.datasets import resolve_shards

    pairs = resolve_shards(args.parent)
    meta = pd.concat([read_table(m, required=["object_id", "is_lens"]) for _, m in pairs], ignore_index=True)
    weights = sersic_weights(meta, args.distribution, args.sersic_columns) if args.distribution != "flat" else None
    positions = select_subset(meta["is_lens"].astype(bool).to_numpy(), args.n, args.seed, weights)
    log.info("subset %s: %d of %d parent images (seed %d, %s)", args.name, positions.size, len(meta), args.seed, args.distribution)
    _write_subset(pairs, positions, Path(args.out_dir), args.n_shards, args.name)
    return 0


# ---------------------------------------------------------------------------
# CLI: experiment-table

def _read_all(paths: Sequence[str] | None, required=()) -> pd.DataFrame | None:
    if not paths:
        return None
    return pd.concat([read_table(p, required=required) for p in paths], ignore_index=True)


def _table_psf(args):
    return [psf_table(_tagged(args.metrics, args.labels, "--metrics"), args.reference_fwhm_arcsec)]


def _table_volume_points(args):
    return [volume_points(_tagged(args.metrics, args.labels, "--metrics"), args.threshold, args.parent_size)]


def _table_volume_table5(args):
    return [volume_table5(_tagged(args.metrics, args.labels, "--metrics"), args.threshold)]


def _table_volume_valsize(args):
    return [volume_valsize(_tagged(args.metrics, args.labels, "--metrics"))]


def _scores(args) -> pd.DataFrame:
    preds = _tagged(args.predictions, args.labels, "--predictions", required=["object_id", "p_cnn"])
    return _survey_table(preds, _read_all(args.stamp_index, ["object_id"]), _read_all(args.truth))


def _table_sersic(args):
    df = _scores(args)
    return list(sersic_tables(df, args.threshold, args.fiducial_threshold, args.sample))


def _table_entropy(args):
    return [entropy_summary(_read_all(args.entropy))]


def _table_net_comparison(args):
    df = _scores(args)
    return list(net_comparison_tables(df, args.sample, args.refined_sample, args.refined_max_masked_fraction,
                                      {"s_net": args.fiducial_threshold, "r_net": args.threshold}))


def _table_roc(args):
    preds = _read_all(args.predictions, ["p_cnn", "is_lens"])
    return list(roc_tables(preds, args.thresholds))


def _table_survey_counts(args):
    df = _scores(args)
    thresholds = dict(item.split("=", 1) for item in args.sample_thresholds)
    return [survey_counts(df, {k: float(v) for k, v in thresholds.items()})]


def _table_reference(args):
    return [reference_table()]


#: kind -> function(args) -> list of tables, written to --out in order.
TABLES = {
    "psf_test": _table_psf,
    "volume_points": _table_volume_points,
    "volume_table5": _table_volume_table5,
    "volume_valsize": _table_volume_valsize,
    "sersic_test": _table_sersic,
    "entropy": _table_entropy,
    "net_comparison": _table_net_comparison,
    "li2020_roc": _table_roc,
    "survey_counts": _table_survey_counts,
    "reference": _table_reference,
}


def add_experiment_table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", required=True, choices=sorted(TABLES))
    parser.add_argument("--metrics", nargs="*", default=[], help="per-threshold metrics tables from `lensfinder evaluate`")
    parser.add_argument("--predictions", nargs="*", default=[], help="prediction tables from `lensfinder infer`")
    parser.add_argument("--labels", nargs="*", default=[], help="one key=value[,key=value] label per --metrics/--predictions file")
    parser.add_argument("--stamp-index", nargs="*", default=[], help="stamp index tables (sample flags, masked_fraction)")
    parser.add_argument("--truth", nargs="*", default=[], help="mock-survey truth tables (ID, is_lens)")
    parser.add_argument("--entropy", nargs="*", default=[], help="tables from `lensfinder entropy`")
    parser.add_argument("--threshold", type=float, default=0.8, help="p_CNN threshold of the experiment")
    parser.add_argument("--fiducial-threshold", type=float, default=0.999999, help="threshold of the fiducial s-Net")
    parser.add_argument("--thresholds", type=float, nargs="*", default=[0.25, 0.5, 0.75])
    parser.add_argument("--sample-thresholds", nargs="*", default=[], help="SAMPLE=THRESHOLD for survey counts")
    parser.add_argument("--sample", default=None, help="stamp sample flag column (the LRG test sample)")
    parser.add_argument("--refined-sample", default=None, help="sample flag column of the refined sample")
    parser.add_argument("--refined-max-masked-fraction", type=float, default=None,
                        help="refined sample: stamps with at most this masked fraction and not at a tile edge")
    parser.add_argument("--reference-fwhm-arcsec", type=float, default=PAPER["psf_test"]["reference_fwhm_arcsec"])
    parser.add_argument("--parent-size", type=int, default=None, help="parent set size (volume test)")
    parser.add_argument("--out", nargs="+", required=True, help="output Parquet table(s); a CSV is written beside each")


def run_experiment_table(args) -> int:
    tables = TABLES[args.kind](args)
    if len(tables) != len(args.out):
        raise InputError(f"--out: kind {args.kind} writes {len(tables)} table(s), got {len(args.out)} path(s)")
    for table, path in zip(tables, args.out):
        write_table(table, path)
        write_csv(table, Path(path).with_suffix(".csv"))
        log.info("%s: %d rows -> %s", args.kind, len(table), path)
    return 0


# ---------------------------------------------------------------------------
# figures: tables in, PNG out

def figure_psf_test(tables, path):
    """He et al. Fig. 10: normalised completeness and accuracy vs PSF FWHM, one line per threshold."""
    (df,) = tables
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    limit = PAPER["psf_test"]["max_degradation"]
    ref = df.loc[np.isclose(df["psf_factor"], 1.0), "psf_fwhm_arcsec"]
    ref_fwhm = float(ref.iloc[0]) if len(ref) else PAPER["psf_test"]["reference_fwhm_arcsec"]
    for ax, m in zip(axes, ("completeness", "accuracy")):
        for i, (thr, part) in enumerate(df.groupby("threshold")):
            ax.plot(part["psf_fwhm_arcsec"], part[f"{m}_norm"], "o-" if i == 0 else "s--", label=f"p_CNN > {thr:g}")
        ax.axhspan(1 - limit, 1.0, color="grey", alpha=0.15, label=f"paper: degradation < {limit:.0%}")
        ax.axvline(ref_fwhm, color="grey", lw=0.8, ls=":")
        ax.set(xlabel="PSF FWHM of the validation set [arcsec]", ylabel=f"{m} / {m} at {ref_fwhm:g}\"")
        ax.legend(fontsize=7)
    return _save(fig, path)


def _errorbar_panel(ax, df, label_prefix=""):
    for m, marker in (("accuracy", "o"), ("completeness", "s")):
        ax.errorbar(df["fraction"], df[f"{m}_mean"], yerr=df[f"{m}_std"], fmt=marker + "-", capsize=3,
                    label=f"{label_prefix}{m}")


def figure_volume(tables, path):
    """He et al. Figs. 11-12: accuracy and completeness vs training-set fraction, one panel per case."""
    (df,) = tables
    plt = _pyplot()
    cases = sorted(df["case"].unique())
    ncol = min(3, len(cases))
    nrow = math.ceil(len(cases) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), squeeze=False)
    for ax, case in zip(axes.flat, cases):
        part = df[df["case"] == case].sort_values("fraction")
        _errorbar_panel(ax, part)
        paper = PAPER["volume_test"]["table5"].get(case)
        if paper:
            ax.axhline(paper["accuracy"], color="C0", ls=":", lw=0.8, label="paper accuracy (Table 5)")
            ax.axhline(paper["completeness"], color="C1", ls=":", lw=0.8, label="paper completeness")
        ax.set(title=case, xlabel="training set / parent set", ylabel="score")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(cases):]:
        ax.set_visible(False)
    return _save(fig, path)


def figure_volume_table5(tables, path):
    """Table 5 as a figure: pooled mean +- std per case beside the paper's values."""
    (df,) = tables
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    x = np.arange(len(df))
    for ax, m in zip(axes, ("accuracy", "completeness")):
        ax.errorbar(x - 0.1, df[f"{m}_mean"], yerr=df[f"{m}_std"], fmt="o", capsize=3, label="this run (mean +- std)")
        ax.errorbar(x + 0.1, df[f"paper_{m}"], yerr=np.sqrt(df[f"paper_{m}_error_1e4"] * 1e-4), fmt="s", capsize=3,
                    label="paper (error read as variance)")
        ax.set_xticks(x, df["case"])
        ax.set(ylabel=m)
        ax.legend(fontsize=7)
    return _save(fig, path)


def figure_volume_valsize(tables, path):
    """He et al. Fig. 13: case-2 scores vs training fraction for each validation-set size."""
    (df,) = tables
    plt = _pyplot()
    thresholds = sorted(df["threshold"].unique())
    fig, axes = plt.subplots(len(thresholds), 2, figsize=(9, 3.0 * len(thresholds)), squeeze=False)
    for row, thr in zip(axes, thresholds):
        for ax, m in zip(row, ("accuracy", "completeness")):
            for size, part in df[df["threshold"] == thr].groupby("validation_size"):
                part = part.sort_values("fraction")
                ax.errorbar(part["fraction"], part[f"{m}_mean"], yerr=part[f"{m}_std"], fmt="o-", capsize=2,
                            label=f"{size} images")
            ax.set(title=f"p_CNN > {thr:g}", xlabel="training set / parent set", ylabel=m)
            ax.legend(fontsize=7)
    return _save(fig, path)


def figure_sersic(tables, path):
    """He et al. Table 4 as a figure: overlaps with the fiducial network's candidates."""
    per_net, summary = tables
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, key, title in zip(axes, ("overlap_machine", "overlap_high"),
                              ("with the fiducial machine candidates", "with the fiducial true-lens candidates")):
        for i, (dist, part) in enumerate(per_net.groupby("distribution") if len(per_net) else []):
            ax.plot(np.full(len(part), i) + np.linspace(-0.1, 0.1, len(part)), part[f"{key}_pct"], "o", alpha=0.6)
            paper = PAPER["sersic_test"][f"{key}_pct"].get(dist)
            if paper is not None:
                ax.plot([i - 0.25, i + 0.25], [paper, paper], "k-", lw=2, label="paper" if i == 0 else None)
        ax.set_xticks(range(len(summary)), summary["distribution"] if len(summary) else [])
        ax.set(title=title, ylabel="overlap [%]", ylim=(0, 105))
        ax.legend(fontsize=7)
    return _save(fig, path)


def figure_entropy(tables, path):
    """He et al. section 2: entropy mean +- std per class beside the paper's values."""
    (df,) = tables
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    x = np.arange(len(df))
    ax.errorbar(x - 0.1, df["entropy_mean"], yerr=df["entropy_std"], fmt="o", capsize=3, label="this run")
    ax.errorbar(x + 0.1, df["paper_mean"], yerr=df["paper_std"], fmt="s", capsize=3, label="paper")
    ax.set_xticks(x, df["class"])
    ax.set(ylabel="Shannon entropy [bits]", ylim=(0, 8.5))
    ax.legend(fontsize=8)
    return _save(fig, path)


def figure_net_comparison(tables, path):
    """He et al. Table 3 as a figure: candidates per case, as fraction of the sample, beside the paper's."""
    table3, overlaps = tables
    plt = _pyplot()
    ref = PAPER["net_comparison"]
    paper_n = {"full": ref["n_lrg_full"], "refined": ref["n_lrg_refined"]}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    x = np.arange(len(table3))
    axes[0].bar(x - 0.2, table3["fraction"], width=0.4, label="this run")
    axes[0].bar(x + 0.2, table3["paper_n_candidates"] / table3["sample"].map(paper_n), width=0.4, label="paper")
    axes[0].set_xticks(x, [f"{c} ({n})" for c, n in zip(table3["case"], table3["candidates"])])
    axes[0].set(ylabel="candidates / sample")
    axes[0].legend(fontsize=7)
    m1 = max(int(table3["n_candidates"].iloc[0]), 1)
    x = np.arange(len(overlaps))
    axes[1].bar(x - 0.2, overlaps["n_overlap"] / m1, width=0.4, label="this run")
    axes[1].bar(x + 0.2, overlaps["paper_n_overlap"] / ref["cases"]["a"]["n_candidates"], width=0.4, label="paper")
    axes[1].set_xticks(x, overlaps["pair"], rotation=30)
    axes[1].set(ylabel="overlap / |M1|")
    axes[1].legend(fontsize=7)
    return _save(fig, path)


def figure_li2020_roc(tables, path):
    """Li et al. Fig. 2: ROC with thresholds marked (left); p_CNN of positives and negatives (right)."""
    roc, points, hist = tables
    require_columns(roc, ["fpr", "tpr"], "ROC table")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    axes[0].plot(roc["fpr"], roc["tpr"], color="C0")
    for i, row in enumerate(points.itertuples()):
        axes[0].plot(row.fpr, row.tpr, "o", color=f"C{i + 1}", label=f"p_CNN = {row.threshold:g}")
    axes[0].plot([0, 1], [0, 1], ls=":", color="grey", lw=0.8)
    axes[0].set(xlabel="FPR", ylabel="TPR", xlim=(0, 1), ylim=(0, 1.01))
    axes[0].legend(fontsize=8, loc="lower right")
    width = hist["bin_high"] - hist["bin_low"]
    axes[1].bar(hist["bin_low"], hist["n_negatives"], width=width, align="edge", color="grey", alpha=0.7, label="negatives")
    axes[1].bar(hist["bin_low"], hist["n_positives"], width=width, align="edge", color="C0", alpha=0.6, label="positives")
    axes[1].axvline(PAPER["li2020_roc"]["lrg_threshold"], color="k", ls="--", lw=0.8, label="0.75")
    axes[1].set(xlabel="p_CNN", ylabel="N", yscale="log")
    axes[1].legend(fontsize=8)
    return _save(fig, path)


#: kind -> (function, number of tables it reads)
FIGURES = {
    "psf_test": (figure_psf_test, 1),
    "volume": (figure_volume, 1),
    "volume_table5": (figure_volume_table5, 1),
    "volume_valsize": (figure_volume_valsize, 1),
    "sersic_test": (figure_sersic, 2),
    "entropy": (figure_entropy, 1),
    "net_comparison": (figure_net_comparison, 2),
    "li2020_roc": (figure_li2020_roc, 3),
}


def add_experiment_figure_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", required=True, choices=sorted(FIGURES))
    parser.add_argument("--tables", nargs="+", required=True, help="the experiment's Parquet tables")
    parser.add_argument("--out", required=True, help="output PNG")


def run_experiment_figure(args) -> int:
    func, n_tables = FIGURES[args.kind]
    if len(args.tables) != n_tables:
        raise InputError(f"--tables: figure {args.kind} reads {n_tables} table(s), got {len(args.tables)}")
    func([read_table(p) for p in args.tables], args.out)
    return 0


# ---------------------------------------------------------------------------
# CLI: experiment-roc-sample (Li et al. 2020, section 2.3)

def roc_sample_rows(sim_meta: pd.DataFrame, survey: pd.DataFrame, n_positives: int, n_negatives: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the mock lenses (in ``sim_meta``) and survey negatives (in ``survey``), seeded.

    ``survey`` rows are the LRG-sample stamps already filtered to non-lenses.
    """
    rng = np.random.default_rng(seed)
    lenses = np.flatnonzero(sim_meta["is_lens"].astype(bool).to_numpy())
    if lenses.size < n_positives:
        raise InputError(f"simulated set: {lenses.size} lenses, need {n_positives}")
    if len(survey) < n_negatives:
        raise InputError(f"survey sample: {len(survey)} galaxies, need {n_negatives}; "
                         "lower li2020_roc.n_negatives or add tiles")
    return (np.sort(rng.choice(lenses, n_positives, replace=False)),
            np.sort(rng.choice(len(survey), n_negatives, replace=False)))


def add_experiment_roc_sample_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sim", nargs="+", required=True, help="simulated shards (lenses are drawn from them)")
    parser.add_argument("--stamp-cubes", nargs="+", required=True)
    parser.add_argument("--stamp-index", nargs="+", required=True)
    parser.add_argument("--truth", nargs="*", default=[], help="mock truth: true lenses are left out of the negatives")
    parser.add_argument("--sample", default="lrg_li2020", help="sample flag of the negatives (default lrg_li2020)")
    parser.add_argument("--n-positives", type=int, default=2000)
    parser.add_argument("--n-negatives", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-cube", required=True)
    parser.add_argument("--out-index", required=True)


def run_experiment_roc_sample(args) -> int:
    from lensfinder.learning.datasets import CubeReader, resolve_shards
    from lensfinder.io import write_cube

    if len(args.stamp_cubes) != len(args.stamp_index):
        raise InputError("--stamp-cubes/--stamp-index: expected one index per cube")
    pairs = resolve_shards(args.sim)
    sim_meta = pd.concat([read_table(m, required=["object_id", "is_lens"]).assign(_shard=i, _row=lambda d: np.arange(len(d)))
                          for i, (_, m) in enumerate(pairs)], ignore_index=True)
    survey = pd.concat([read_table(p, required=["object_id"]).assign(_cube=i, _row=lambda d: np.arange(len(d)))
                        for i, p in enumerate(args.stamp_index)], ignore_index=True)
    survey["object_id"] = survey["object_id"].astype(str)
    keep = _in_sample(survey, args.sample)
    truth = _read_all(args.truth)
    if truth is not None:
        lenses = set(truth.loc[truth["is_lens"].astype(bool), "ID"].astype(str))
        keep &= ~survey["object_id"].isin(lenses)
    survey = survey[keep].reset_index(drop=True)
    pos, neg = roc_sample_rows(sim_meta, survey, args.n_positives, args.n_negatives, args.seed)
    sim_readers = [CubeReader(c) for c, _ in pairs]
    stamp_readers = [CubeReader(c) for c in args.stamp_cubes]
    images, rows = [], []
    for src, readers, key in ((sim_meta.iloc[pos], sim_readers, "_shard"), (survey.iloc[neg], stamp_readers, "_cube")):
        for k, part in src.groupby(key, sort=True):
            images.append(readers[k].take(part["_row"].to_numpy()))
            rows.append(pd.DataFrame({"object_id": part["object_id"].astype(str).to_numpy(),
                                      "is_lens": key == "_shard",
                                      "source": "simulation" if key == "_shard" else "survey"}))
    shapes = {im.shape[1:] for im in images}
    if len(shapes) > 1:
        raise InputError(f"simulated and survey stamps differ in shape: {sorted(shapes)}; simulate at the survey's stamp size")
    header = sim_readers[0].header
    write_cube(np.concatenate(images), args.out_cube, header.get("PIXSCALE", 0.2), header.get("ZEROPT", 30.0))
    write_table(pd.concat(rows, ignore_index=True), args.out_index)
    for r in sim_readers + stamp_readers:
        r.close()
    return 0
