"""The ``domain_shift`` experiment's tables: each network on its own test set and on the independent set.

Inputs are score tables of ``lensfinder infer`` (``object_id, p_cnn``), each
tagged ``model=...,test_set=...`` (own | independent), the metadata of the
scored sets (``object_id, is_lens``, ``kind`` when known and, where present, ``theta_E``,
``arc_snr``, ``psf_fwhm_arcsec``, ``host_object_id``) and the training sets'
metadata tagged ``model=...`` (for the host counts). Every builder is a pure
function of tables; the columns are listed in docs/experiments.md. The tables
by kind and by bin (rates per kind, top negatives, completeness and ROC curves)
are in :mod:`lensfinder.experiments.domain_shift_details`, exported here too.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from lensfinder.experiments.domain_shift_details import (COMPLETENESS_BINS, TOP_NEGATIVE_COLUMNS, completeness_table,
                                                       kind_rates, roc_table, top_negatives)
from lensfinder.experiments.independent import NEGATIVE_KINDS, POSITIVE_KINDS, RENDERED_NEGATIVE_KINDS
from lensfinder.io import InputError, bool_column, require_columns
from lensfinder.learning.metrics import (BOOTSTRAP_METRICS, auroc, bootstrap_intervals, paired_differences,
                                         roc_curve, tpr0, tpr10)

__all__ = [
    "COMPLETENESS_BINS",
    "HELD_BACK_LIKE",
    "RENDERED",
    "ON_HOSTS",
    "DEFAULT_SUBSETS",
    "tpr_at_fpr",
    "TOP_NEGATIVE_COLUMNS",
    "top_negatives",
    "parse_subset",
    "subset_metrics",
    "join_scores",
    "host_counts",
    "metrics_long",
    "side_by_side",
    "seed_spread",
    "kind_rates",
    "completeness_table",
    "roc_table",
]

log = logging.getLogger(__name__)

#: the summary metrics, in table order
METRICS = ("auroc", "tpr0", "tpr10", "tpr_fpr1")
#: their 95 % bootstrap intervals (:func:`~lensfinder.learning.metrics.bootstrap_intervals`), in table order
INTERVALS = tuple(f"{name}_{end}" for name in BOOTSTRAP_METRICS for end in ("lo", "hi"))
#: each network minus the first one (column ``vs``) on the same images, with 95 % paired bootstrap
#: intervals (:func:`~lensfinder.learning.metrics.paired_differences`), in table order
DIFFERENCES = tuple(f"{name}_diff{end}" for name in BOOTSTRAP_METRICS for end in ("", "_lo", "_hi"))
#: the kinds of the maintainers' held-back set (issue 13: lenses rendered whole, and ellipticals
#: alone, with a small nearby galaxy, and large irregular galaxies; no survey hosts), as a subset of
#: the independent set: ``name:lens kinds:negative kinds``
HELD_BACK_LIKE = "held_back_like:lens_rendered:elliptical,elliptical_companion,irregular"
#: the independent set's two parts, each against its own negatives: the lenses rendered whole against
#: every rendered negative kind (:data:`~lensfinder.experiments.independent.RENDERED_NEGATIVE_KINDS`),
#: and the lenses painted on survey hosts against those hosts' stamps alone. The whole set weighs them
#: by the share of survey-host images it happens to have (capped by how many hosts the held-out tiles
#: hold: 11 % on one mock tile, 29 % on ten), so these are the figures to compare between sets
RENDERED = f"rendered:lens_rendered:{','.join(RENDERED_NEGATIVE_KINDS)}"
ON_HOSTS = "on_hosts:lens_host:survey_host"
#: the subsets the table step and the workflow report unless told otherwise
DEFAULT_SUBSETS = (HELD_BACK_LIKE, RENDERED, ON_HOSTS)


def tpr_at_fpr(y_true, scores, max_fpr: float = 0.01) -> float:
    """Highest TPR at a false-positive rate of at most ``max_fpr`` (NaN when a class is absent)."""
    fpr, tpr, *_ = roc_curve(y_true, scores)
    if np.isnan(fpr).any() or np.isnan(tpr).any():
        return float("nan")
    return float(tpr[fpr <= max_fpr + 1e-12].max())


def join_scores(scores: pd.DataFrame, metadata: pd.DataFrame, source: str = "--metadata") -> pd.DataFrame:
    """Scores (``model, test_set, object_id, p_cnn``) with their images' metadata; NaN scores dropped.

    An image without a ``kind`` (its set's metadata has no such column, or the value is missing) gets
    its class as its kind: ``lens`` or ``nonlens`` from ``is_lens``, so that one kind never mixes the
    two classes. ``source`` names the metadata files in errors (``is_lens`` must be booleans or 0/1).
    """
    require_columns(scores, ["model", "test_set", "object_id", "p_cnn"], "--scores")
    require_columns(metadata, ["object_id", "is_lens"], source)
    meta = metadata.assign(object_id=metadata["object_id"].astype(str))
    meta["is_lens"] = bool_column(meta["is_lens"].to_numpy(), source, "is_lens")  # "False" is no lens
    clash = meta.groupby("object_id")["is_lens"].nunique() > 1  # one image in two sets, two classes
    if clash.any():
        raise InputError(f"{source}: is_lens: {int(clash.sum())} object_id(s) both a lens and a non-lens, e.g. "
                         f"{clash.index[clash][0]!r}; expected one class per image")
    meta = meta.drop_duplicates("object_id")
    # images without kinds (a set whose metadata has none, beside sets that have them): the class is the kind
    by_class = pd.Series(np.where(meta["is_lens"], "lens", "nonlens"), index=meta.index)
    meta["kind"] = (meta["kind"].astype(object).fillna(by_class) if "kind" in meta.columns else by_class).astype(str)
    keep = [c for c in ("object_id", "is_lens", "kind", *COMPLETENESS_BINS, "host_object_id") if c in meta.columns]
    joined = scores.drop(columns=[c for c in ("is_lens", "kind") if c in scores.columns]).assign(
        object_id=scores["object_id"].astype(str)).merge(meta[keep], on="object_id", how="left", indicator=True)
    missing = joined["_merge"] != "both"
    if missing.any():
        raise InputError(f"{source}: object_id: no metadata for {int(missing.sum())} scored images, "
                         f"e.g. {joined['object_id'][missing].iloc[0]!r}")
    joined = joined.drop(columns="_merge")
    joined = joined.assign(**{c: np.nan for c in (*COMPLETENESS_BINS, "host_object_id") if c not in joined.columns})
    finite = np.isfinite(joined["p_cnn"].to_numpy(dtype=np.float64))
    return joined[finite].reset_index(drop=True)


def _hosts(table: pd.DataFrame | None) -> set:
    if table is None or "host_object_id" not in table.columns:
        return set()
    ids = table["host_object_id"].dropna().astype(str)
    return set(ids[ids != ""])


def host_counts(joined: pd.DataFrame, train: pd.DataFrame | None) -> pd.DataFrame:
    """Per (model, test_set): survey hosts in the test set, in the model's training set, and shared."""
    rows = []
    for (model, test_set), part in joined.groupby(["model", "test_set"], sort=False):
        test_hosts = _hosts(part)
        train_hosts = _hosts(None if train is None else train[train["model"] == model])
        rows.append({"model": model, "test_set": test_set, "n_hosts_test": len(test_hosts),
                     "n_hosts_train": len(train_hosts), "n_hosts_shared": len(test_hosts & train_hosts)})
    return pd.DataFrame(rows)


def _clusters(part: pd.DataFrame) -> np.ndarray:
    """The bootstrap's clusters: the survey host of a stamp cut around one, else the image itself."""
    images = "image:" + part["object_id"].astype(str)
    if "host_object_id" not in part.columns:
        return images.to_numpy()
    host = part["host_object_id"].astype(object)
    has_host = host.notna().to_numpy() & (host.astype(str) != "").to_numpy()
    return np.where(has_host, "host:" + host.astype(str), images)


def _metric_row(model, test_set, part: pd.DataFrame, threshold: float) -> dict:
    """The metrics of one network on one set, with 95 % bootstrap intervals of ``auroc``, ``tpr0`` and
    ``tpr_fpr1`` (``*_lo``, ``*_hi``): lenses and negatives resampled apart, within each the stamps of one
    survey host drawn together (:func:`_clusters`); 1,000 resamples, seed 0, so a table is repeatable.
    Without lenses or without negatives every ranking metric is NaN (``tpr0`` and ``tpr10`` too, which
    :func:`~lensfinder.learning.metrics.tpr_at_fp` would call perfect with no negatives to pass)."""
    y, s = part["is_lens"].to_numpy(dtype=bool), part["p_cnn"].to_numpy(dtype=np.float64)
    called = s >= threshold
    both = bool(y.any() and (~y).any())
    intervals = bootstrap_intervals(y, s, _clusters(part), max_fpr=0.01)
    return {
        "model": model, "test_set": test_set, "n": len(part), "n_lenses": int(y.sum()),
        "auroc": auroc(y, s), "tpr0": tpr0(y, s) if both else np.nan, "tpr10": tpr10(y, s) if both else np.nan,
        "tpr_fpr1": tpr_at_fpr(y, s, 0.01),
        **{f"{name}_{end}": value for name, (lo, hi) in intervals.items() for end, value in (("lo", lo), ("hi", hi))},
        "threshold": threshold,
        "completeness": float(called[y].mean()) if y.any() else np.nan,
        "fpr": float(called[~y].mean()) if (~y).any() else np.nan,
    }


def metrics_long(joined: pd.DataFrame, threshold: float, train: pd.DataFrame | None = None,
                 subsets=()) -> pd.DataFrame:
    """One row per (model, test_set): sizes, ``auroc, tpr0, tpr10, tpr_fpr1`` and their intervals, rates
    at ``threshold``, hosts, and, on a set every model scored (the independent set), each model minus
    the first (``vs``) with paired intervals (:data:`DIFFERENCES`; NaN for the first and elsewhere).

    ``subsets``: :func:`parse_subset` triples; each adds a row per model for the independent
    set's images of those kinds alone, ``test_set`` ``independent:NAME`` (:func:`subset_metrics`).
    """
    rows = [_metric_row(model, test_set, part, threshold)
            for (model, test_set), part in joined.groupby(["model", "test_set"], sort=False)]
    long = pd.DataFrame(rows).merge(host_counts(joined, train), on=["model", "test_set"], how="left")
    subset_parts = list(_subset_parts(joined, subsets))
    if subset_parts:
        long = pd.concat([long, _subset_rows(subset_parts, threshold)], ignore_index=True)
    sets = [*joined.groupby("test_set", sort=False), *subset_parts]
    differences = [row for test_set, part in sets for row in _differences(part, test_set)]
    return long.merge(pd.DataFrame(differences, columns=["model", "test_set", "vs", *DIFFERENCES]),
                      on=["model", "test_set"], how="left")


def _differences(part: pd.DataFrame, test_set: str) -> list[dict]:
    """Each model of one test set's scores (``part``) against the first: ``model, test_set, vs`` and
    :data:`DIFFERENCES`, on the images both scored (the independent set and its subsets; not the own
    test sets, which differ from one training set to the next and share no image). An image only one
    of the two scored (the other's score NaN, dropped by :func:`join_scores`) is left out of that pair,
    and the number left out logged; without lenses or negatives among the shared images the
    differences are NaN, as the metrics are (:func:`_metric_row`)."""
    models = list(dict.fromkeys(part["model"]))
    if len(models) < 2:
        return []
    reference = part[part["model"] == models[0]][["object_id", "p_cnn"]]
    rows = []
    for model in models[1:]:
        scored = part[part["model"] == model]
        pair = scored.merge(reference, on="object_id", suffixes=("", "_reference"))
        if not len(pair):
            continue
        if len(pair) < max(len(scored), len(reference)):
            log.warning("%s vs %s on %s: %d of %s's and %d of %s's scored images left out of the paired "
                        "difference (not scored by both); it is on the %d they share", model, models[0], test_set,
                        len(scored) - len(pair), model, len(reference) - len(pair), models[0], len(pair))
        y = pair["is_lens"].to_numpy(dtype=bool)
        diff = (paired_differences(y, pair["p_cnn"], pair["p_cnn_reference"], _clusters(pair))
                if y.any() and (~y).any() else {name: (np.nan, np.nan, np.nan) for name in BOOTSTRAP_METRICS})
        rows.append({"model": model, "test_set": test_set, "vs": models[0],
                     **{f"{name}_diff{end}": value for name, values in diff.items()
                        for end, value in zip(("", "_lo", "_hi"), values)}})
    return rows


def parse_subset(text: str) -> tuple:
    """``NAME:LENS_KIND[,...]:NEGATIVE_KIND[,...]`` -> ``(name, lens kinds, negative kinds)``."""
    parts = str(text).split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise InputError(f"--subset {text!r}: expected NAME:LENS_KIND[,...]:NEGATIVE_KIND[,...], e.g. {HELD_BACK_LIKE}")
    name, lenses, negatives = parts
    return name.strip(), tuple(k.strip() for k in lenses.split(",")), tuple(k.strip() for k in negatives.split(","))


def subset_metrics(joined: pd.DataFrame, threshold: float, subsets) -> pd.DataFrame:
    """Metrics of each model on the independent set's images of some kinds alone.

    Each subset ``(name, lens kinds, negative kinds)`` gives one row per model with ``test_set``
    ``independent:NAME``, as :func:`metrics_long`'s (host counts are the survey hosts among those
    images). A kind that the independent renderer does not make (:data:`~lensfinder.experiments.
    independent.POSITIVE_KINDS`, ``NEGATIVE_KINDS``), or a lens kind given as a negative or the
    reverse, raises :class:`InputError` naming it and the kinds there are; a small set may lack
    some of its kinds, and the row is then of those it has.
    """
    return _subset_rows(_subset_parts(joined, subsets), threshold)


def _subset_rows(subset_parts, threshold: float) -> pd.DataFrame:
    """:func:`subset_metrics`' rows from :func:`_subset_parts`."""
    rows = []
    for test_set, part in subset_parts:
        for model, scored in part.groupby("model", sort=False):
            row = _metric_row(model, test_set, scored, threshold)
            row.update(n_hosts_test=len(_hosts(scored)), n_hosts_train=np.nan, n_hosts_shared=np.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def _subset_parts(joined: pd.DataFrame, subsets):
    """``(independent:NAME, the independent set's scores of those kinds)`` per subset, kinds checked."""
    independent = joined[joined["test_set"] == "independent"]
    for name, lenses, negatives in subsets:
        for kinds, known, what in ((lenses, POSITIVE_KINDS, "lens"), (negatives, NEGATIVE_KINDS, "negative")):
            unknown = sorted(set(kinds) - set(known))
            if unknown:
                raise InputError(f"--subset {name}: {what} kind(s) {', '.join(unknown)}: expected among the "
                                 f"independent set's {what} kinds ({', '.join(known)})")
        yield f"independent:{name}", independent[independent["kind"].isin([*lenses, *negatives])]


def side_by_side(long: pd.DataFrame, training_sets: dict | None = None) -> pd.DataFrame:
    """One row per model: own-test and independent metrics and host counts beside each other.

    Columns ``model``, ``training_set`` (``training_sets[model]``: the set a network was trained on,
    shared by the networks of one set trained from other seeds; the model's own name when not
    given), ``{own,independent}_{n,n_lenses,auroc,tpr0,tpr10,tpr_fpr1,fpr,completeness,n_hosts_test,
    n_hosts_shared}`` and the 95 % bootstrap intervals ``{own,independent}_{auroc,tpr0,tpr_fpr1}_{lo,hi}``
    (:func:`_metric_row`), ``n_hosts_train`` and ``delta_auroc`` (own minus independent); then, for each
    subset of the independent set in ``long`` (``test_set`` ``independent:NAME``),
    ``NAME_{n,auroc,tpr0,tpr10,tpr_fpr1}`` and its intervals.
    """
    require_columns(long, ["model", "test_set", *METRICS], "metrics table")
    values = ["n", "n_lenses", *METRICS, *INTERVALS, "fpr", "completeness", "n_hosts_test", "n_hosts_shared"]
    wide = long.pivot(index="model", columns="test_set", values=[v for v in values if v in long.columns])
    wide.columns = [f"{test_set}_{name}" for name, test_set in wide.columns]
    wide = wide.reset_index()
    for name in values:
        for test_set in ("own", "independent"):
            if f"{test_set}_{name}" not in wide.columns:
                wide[f"{test_set}_{name}"] = np.nan
    order = pd.Index(long["model"].drop_duplicates())
    wide = wide.set_index("model").loc[order].reset_index()
    wide["n_hosts_train"] = long.groupby("model", sort=False)["n_hosts_train"].max().loc[order].to_numpy()
    wide["delta_auroc"] = wide["own_auroc"] - wide["independent_auroc"]
    wide["training_set"] = [str((training_sets or {}).get(model, model)) for model in wide["model"]]
    columns = ["model", "training_set", *(f"{t}_{v}" for t in ("own", "independent") for v in values),
               "n_hosts_train", "delta_auroc"]
    for test_set in long["test_set"].drop_duplicates():
        if str(test_set).startswith("independent:"):
            name = str(test_set).split(":", 1)[1]
            for value in ("n", *METRICS, *INTERVALS):
                wide[f"{name}_{value}"] = wide.get(f"{test_set}_{value}", np.nan)
                columns.append(f"{name}_{value}")
    return wide[columns]


def seed_spread(summary: pd.DataFrame) -> pd.DataFrame:
    """How far the networks of one training set, trained from different seeds, differ.

    One row per ``training_set`` of :func:`side_by_side`'s ``summary`` and headline metric (own and
    independent ``auroc, tpr0, tpr10, tpr_fpr1``, ``delta_auroc``, and each subset's four): the
    number of networks with a value, and their mean, standard deviation (ddof 1; NaN for one
    network), min and max. At the default's size the training seed alone moves the independent
    AUROC by 0.01-0.02 (docs/experiments.md): a recipe change is worth as much as it clears this.
    """
    require_columns(summary, ["model", "training_set"], "summary table")
    subsets = [c[: -len("_auroc")] for c in summary.columns
               if c.endswith("_auroc") and c not in ("own_auroc", "independent_auroc", "delta_auroc")]
    metrics = [f"{side}_{m}" for side in ("own", "independent", *subsets) for m in METRICS] + ["delta_auroc"]
    rows = []
    for training_set, group in summary.groupby("training_set", sort=False):
        for metric in (m for m in metrics if m in group.columns):
            values = group[metric].to_numpy(dtype=np.float64)
            values = values[np.isfinite(values)]
            rows.append({"training_set": training_set, "metric": metric, "n_networks": len(values),
                         "models": ",".join(map(str, group["model"])),
                         "mean": float(values.mean()) if len(values) else np.nan,
                         "std": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
                         "min": float(values.min()) if len(values) else np.nan,
                         "max": float(values.max()) if len(values) else np.nan})
    return pd.DataFrame(rows, columns=["training_set", "metric", "n_networks", "models", "mean", "std", "min", "max"])
