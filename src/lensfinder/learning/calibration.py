"""Calibrated lens probabilities: fitted calibration maps, reliability tables and the expected calibration error.

A network trained on balanced simulations piles its softmax scores at 0 and
1 and need not read as a probability. Each network's scores are mapped by

    p' = sigmoid(a ln p - b ln(1 - p) + c),    a, b > 0,

fitted on held-out simulated images by minimum negative log-likelihood. The
family holds three published calibrations, the ``calibration`` methods:

- ``temperature``: ``a = b = 1/T``, ``c = 0`` (Guo et al. 2017, ICML,
  section 4.2: temperature scaling, one parameter);
- ``platt``: ``a = b``, ``c`` free (Platt 1999: a scale and a bias on the logit);
- ``beta``: ``a``, ``b``, ``c`` free (Kull, Silva Filho & Flach 2017, AISTATS:
  beta calibration, which also corrects asymmetric distortions);
- ``none``: the raw scores.

With ``a, b > 0`` every map is increasing: calibration never reorders the
scores, but float64 can round distinct scores to one calibrated value, most of
all at the extremes (:func:`apply_calibration`), so rankings break ties by the
raw score. The reliability table bins the lens probability
and compares each bin's mean ``p`` with its fraction of lenses; the expected
calibration error (ECE) is their count-weighted mean absolute difference
(Naeini et al. 2015, AAAI; Guo et al. 2017, eq. 3, for the lens class; both
in :mod:`lensfinder.learning.reliability`, and importable from here).
:func:`calibrate_members` measures it by two-fold cross-fitting, so every
image's calibrated score comes from a map fitted on the other half. Pure
numpy/scipy (scikit-learn, which betacal needs, is not a dependency).
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from lensfinder.io import InputError, bool_column
from lensfinder.learning.reliability import (DEFAULT_BINS, binary_cross_entropy, expected_calibration_error,
                                             reliability_table)

__all__ = [
    "CALIBRATION_METHODS", "DEFAULT_BINS", "LOGIT_LIMIT", "logit", "fit_calibration", "apply_calibration",
    "fit_temperature", "apply_temperature", "reliability_table", "expected_calibration_error",
    "calibration_split", "calibrate_members", "calibrate_files", "read_calibration",
]

log = logging.getLogger(__name__)

#: Calibration maps, from one parameter to three (see the module docstring).
CALIBRATION_METHODS = ("beta", "platt", "temperature", "none")
#: p_cnn is computed in float64 (from the network's logits; lensfinder.learning.inference), whose spacing
#: below 1 is 2**-53: fits and :func:`logit` see the scores clipped to [2**-53, 1 - 2**-53] (|logit| <= ~36.7);
#: maps are applied to them clipped only at float64's smallest normal number below, which keeps their order.
_EPS, _TINY = 2.0**-53, float(np.finfo(np.float64).tiny)
LOGIT_LIMIT = float(np.log((1.0 - _EPS) / _EPS))
_SLOPE_BOUNDS = (1e-3, 1e3)
_IDENTITY = {"a": 1.0, "b": 1.0, "c": 0.0}


def _features(p, low: float = _EPS):
    """``(ln p, -ln(1 - p))`` of scores clipped to ``[low, 1 - 2**-53]``, shape (n, 2)."""
    q = np.clip(np.asarray(p, dtype=np.float64), low, 1.0 - _EPS)
    return np.stack([np.log(q), -np.log1p(-q)], axis=-1)


def logit(p):
    """``log(p / (1 - p))`` of lens probabilities, clipped to +-:data:`LOGIT_LIMIT`."""
    return _features(p).sum(axis=-1)


def apply_calibration(p, params: dict):
    """Calibrated probabilities ``sigmoid(a ln p - b ln(1 - p) + c)``; NaN scores stay NaN.

    The map never reorders scores (clipped only at float64's smallest normal number, 2.2e-308, below),
    but rounding can give distinct scores one value: float64 holds no probability between ``1 - 2**-53``
    and 1, so a steepening map (``b > 1``) takes raw scores above about ``1 - 1e-9`` to exactly 1.0, and
    ``a > 1`` the lowest to 0 (:func:`lensfinder.inspection.candidates.score_tie_breakers` orders ties by
    their raw scores).
    """
    from scipy.special import expit  # the logistic function, precise near 0 as well
    a, b, c = (float(params[k]) for k in "abc")
    if not (a > 0 and b > 0):
        raise ValueError(f"calibration: a = {a}, b = {b}; expected both > 0 (an increasing map)")
    p = np.asarray(p, dtype=np.float64)
    x = _features(p, _TINY)
    t = a * x[..., 0] + b * x[..., 1] + c
    return np.where(np.isnan(p), np.nan, expit(t))


def fit_calibration(p, is_lens, method: str = "beta") -> dict:
    """Parameters ``{a, b, c}`` of a calibration map fitted to held-out scores and labels.

    Parameters
    ----------
    p : array_like
        Lens probabilities of held-out images (NaN rows ignored).
    is_lens : array_like of bool
        Their labels; both classes must be present (except for ``none``).
    method : {"beta", "platt", "temperature", "none"}

    Returns
    -------
    dict
        ``a``, ``b``, ``c`` (floats); :func:`apply_calibration` applies them.
    """
    from scipy.optimize import minimize

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method {method!r}: expected one of {', '.join(CALIBRATION_METHODS)}")
    if method == "none":
        return dict(_IDENTITY)
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(is_lens, dtype=bool)
    keep = np.isfinite(p)
    x, y = _features(p[keep]), y[keep].astype(np.float64)
    if not (y.any() and (1 - y).any()):
        raise ValueError("fitting a calibration needs lenses and non-lenses")
    expand = {"temperature": lambda w: (w[0], w[0], 0.0), "platt": lambda w: (w[0], w[0], w[1]),
              "beta": lambda w: (w[0], w[1], w[2])}[method]
    start = {"temperature": [1.0], "platt": [1.0, 0.0], "beta": [1.0, 1.0, 0.0]}[method]
    bounds = {"temperature": [_SLOPE_BOUNDS], "platt": [_SLOPE_BOUNDS, (None, None)],
              "beta": [_SLOPE_BOUNDS, _SLOPE_BOUNDS, (None, None)]}[method]

    def nll(w):
        a, b, c = expand(w)
        t = a * x[:, 0] + b * x[:, 1] + c
        return float(np.mean(np.logaddexp(0.0, t) - y * t))  # binary cross-entropy, the stable form

    result = minimize(nll, start, method="L-BFGS-B", bounds=bounds)
    a, b, c = (float(v) for v in expand(result.x))
    return {"a": a, "b": b, "c": c}


def fit_temperature(p, is_lens) -> float:
    """Temperature ``T`` of temperature scaling (``T > 1`` softens an over-confident network)."""
    return 1.0 / fit_calibration(p, is_lens, "temperature")["a"]


def apply_temperature(p, temperature: float):
    """Probabilities ``sigmoid(logit(p) / T)``; NaN scores stay NaN."""
    if not temperature > 0:
        raise ValueError(f"temperature: {temperature}, expected > 0")
    return apply_calibration(p, {"a": 1.0 / temperature, "b": 1.0 / temperature, "c": 0.0})


def calibration_split(object_ids, seed: int):
    """Seeded half split of held-out images (the two folds of the cross-fitting): a bool per image.

    Decided per object id (a hash of seed and id), so an image keeps its half
    whichever shard or order it comes in.
    """
    flags = []
    for oid in map(str, object_ids):
        digest = hashlib.sha256(f"{int(seed)}:{oid}".encode()).digest()
        flags.append(digest[0] & 1 == 0)
    return np.asarray(flags, dtype=bool)


def _cross_fitted(p, y, fold, method):
    """Calibrated scores where each half's map was fitted on the other half."""
    out = np.full(len(p), np.nan)
    for half in (True, False):
        out[fold != half] = apply_calibration(p[fold != half], fit_calibration(p[fold == half], y[fold == half], method))
    return out


def _combined(scores, y, fold, method):
    """An ensemble's score, a map of the mean of its calibrated members: cross-fitted, and the map fitted on all."""

    def fit(rows):
        maps = [fit_calibration(p[rows], y[rows], method) for p in scores]
        return maps, fit_calibration(np.mean([apply_calibration(p[rows], m) for p, m in zip(scores, maps)], axis=0),
                                     y[rows], method)

    out = np.full(len(y), np.nan)
    for half in (True, False):
        maps, top = fit(fold == half)
        mean = np.mean([apply_calibration(p[fold != half], m) for p, m in zip(scores, maps)], axis=0)
        out[fold != half] = apply_calibration(mean, top)
    return out, fit(np.ones(len(y), dtype=bool))[1]


def calibrate_members(scores: dict, labels, *, method: str = "beta", seed: int = 42, bins: int = DEFAULT_BINS):
    """Fit each network's calibration on a held-out set and measure it by two-fold cross-fitting.

    Parameters
    ----------
    scores : dict
        Network name -> table with ``object_id`` and ``p_cnn`` (the
        simulated test set scored by that network).
    labels : pandas.DataFrame
        ``object_id, is_lens`` of the same images.
    method : {"beta", "platt", "temperature", "none"}
    seed : int
        Seed of the two folds (:func:`calibration_split`).
    bins : int
        Bins of the reliability tables and the ECE.

    Returns
    -------
    params : dict
        Network name -> ``{a, b, c}`` fitted on all images (what the search
        applies); with several networks also ``ensemble``: the map of the
        mean of their calibrated probabilities (a mean of calibrated
        probabilities is itself under-confident where the members disagree).
    summary : pandas.DataFrame
        One row per network, and one for ``ensemble`` (its combined score)
        when there are several: ``member, method,
        a, b, c, temperature`` (``1/a`` for temperature scaling), ``n``,
        ``ece_raw, ece_calibrated, nll_raw, nll_calibrated``; the calibrated
        values are cross-fitted (each half calibrated by the map of the other).
    reliability : pandas.DataFrame
        ``member, scores`` (raw or calibrated, cross-fitted) and the columns
        of :func:`reliability_table`.
    """
    import pandas as pd

    if method not in CALIBRATION_METHODS:
        raise InputError(f"--method: {method!r}: expected one of {', '.join(CALIBRATION_METHODS)}")
    if not scores:
        raise InputError("calibration: no network scores given")
    truth = labels.assign(object_id=labels["object_id"].astype(str)).drop_duplicates("object_id")
    truth = truth.set_index("object_id")["is_lens"]
    truth = pd.Series(bool_column(truth.to_numpy(), "labels", "is_lens"), index=truth.index)
    ids, raw = None, {}
    for name, table in scores.items():
        series = table.assign(object_id=table["object_id"].astype(str)).set_index("object_id")["p_cnn"]
        missing = ~series.index.isin(truth.index)
        if missing.any():
            raise InputError(f"{name}: object_id {series.index[missing][0]!r} has no is_lens label")
        ids = series.index if ids is None else ids.intersection(series.index, sort=False)
        raw[name] = series.astype(float)
    ids = ids.sort_values()
    finite = np.all([np.isfinite(raw[n].reindex(ids).to_numpy()) for n in raw], axis=0)
    ids = ids[finite]
    y = truth.reindex(ids).to_numpy(dtype=bool)
    fold = calibration_split(ids, seed)
    for where, rows in (("the scored set", np.ones(len(y), bool)), ("half 1", fold), ("half 2", ~fold)):
        if y[rows].all() or not y[rows].any():  # each half's map is fitted on lenses and non-lenses
            raise InputError(f"calibration: {where} of the {len(y)} scored held-out images (two-fold cross-fitting, "
                             f"seed {seed}) has {int(y[rows].sum())} lenses and {int((~y[rows]).sum())} non-lenses; "
                             "expected both" + (": a larger simulated test set (simulation.sets.test.n_images)"
                                                if where != "the scored set" else ""))
    params, rows, curves, raws = {}, [], [], []
    for name, series in raw.items():
        p = series.reindex(ids).to_numpy(dtype=np.float64)
        params[name] = fit_calibration(p, y, method)
        p_cal = _cross_fitted(p, y, fold, method)
        raws.append(p)
        rows.append(_summary_row(name, method, params[name], p, p_cal, y, bins))
        curves += [_curve(name, "raw", p, y, bins), _curve(name, "calibrated", p_cal, y, bins)]
        log.info("%s: %s calibration a %.3f, b %.3f, c %.3f; ECE %.4f -> %.4f on %d held-out images "
                 "(cross-fitted)", name, method, *(params[name][k] for k in "abc"), rows[-1]["ece_raw"],
                 rows[-1]["ece_calibrated"], len(ids))
    if len(raw) > 1:
        p_raw = np.mean(raws, axis=0)
        p_ens, params["ensemble"] = _combined(raws, y, fold, method)
        rows.append(_summary_row("ensemble", method, params["ensemble"], p_raw, p_ens, y, bins))
        curves += [_curve("ensemble", "raw", p_raw, y, bins), _curve("ensemble", "calibrated", p_ens, y, bins)]
        log.info("ensemble of %d: ECE %.4f (mean of the raw scores: %.4f)", len(raw), rows[-1]["ece_calibrated"],
                 rows[-1]["ece_raw"])
    return params, pd.DataFrame(rows), pd.concat(curves, ignore_index=True)


def _summary_row(name, method, params, p_raw, p_cal, y, bins):
    a, b, c = (np.nan,) * 3 if params is None else (params["a"], params["b"], params["c"])
    return {"member": name, "method": method, "a": a, "b": b, "c": c,
            "temperature": 1.0 / a if method == "temperature" and params is not None else np.nan, "n": len(y),
            "ece_raw": expected_calibration_error(p_raw, y, bins),
            "ece_calibrated": expected_calibration_error(p_cal, y, bins),
            "nll_raw": binary_cross_entropy(p_raw, y), "nll_calibrated": binary_cross_entropy(p_cal, y)}


def _curve(name, kind, p, y, bins):
    table = reliability_table(p, y, bins)
    table.insert(0, "scores", kind)
    table.insert(0, "member", name)
    return table


def calibrate_files(prediction_paths, label_paths, out, summary_out, reliability_out, *,
                    method: str = "beta", seed: int = 42, bins: int = DEFAULT_BINS):
    """:func:`calibrate_members` on score files; writes the maps (JSON) and two tables.

    Parameters
    ----------
    prediction_paths : sequence of path
        ``lensfinder infer`` tables of the held-out simulated set
        (``object_id, p_cnn, model``), any number of shards and networks;
        the ``model`` column (the model file's stem) names the network.
    label_paths : sequence of path
        Tables with ``object_id, is_lens`` (the set's metadata); empty: the
        predictions' own ``is_lens``.
    out : path
        JSON ``{"method", "seed", "bins", "params": {network: {a, b, c}}, "ece_calibrated"}``.
    summary_out, reliability_out : path
        The summary and reliability tables of :func:`calibrate_members`
        (Parquet, with a ``.csv`` copy beside each).

    Returns
    -------
    dict
        Network name -> ``{a, b, c}``.
    """
    import json
    from pathlib import Path

    import pandas as pd

    from lensfinder.checks import require_scores
    from lensfinder.io import read_table, write_csv, write_table, write_text

    tables = [read_table(p, required=["object_id", "p_cnn", "model"]) for p in prediction_paths]
    for path, table in zip(prediction_paths, tables):
        require_scores(table, path)
    if not tables:
        raise InputError("--predictions: no score tables given")
    scores = pd.concat(tables, ignore_index=True)
    if label_paths:
        labels = pd.concat([read_table(p, columns=["object_id", "is_lens"], required=["object_id", "is_lens"])
                            for p in label_paths], ignore_index=True)
        labels["is_lens"] = bool_column(labels["is_lens"].to_numpy(), ", ".join(map(str, label_paths)), "is_lens")
    elif "is_lens" in scores.columns:
        labels = scores[["object_id", "is_lens"]].drop_duplicates("object_id")
    else:
        raise InputError(f"{prediction_paths[0]}: is_lens: missing; give --labels")
    by_member = {}
    for name, part in scores.groupby(scores["model"].astype(str), sort=True):
        dup = part["object_id"].duplicated()
        if dup.any():
            raise InputError(f"--predictions: network {name!r} scores object_id {part['object_id'][dup].iloc[0]!r} "
                             "twice; give each network's shards once")
        by_member[name] = part
    params, summary, reliability = calibrate_members(by_member, labels, method=method, seed=seed, bins=bins)
    record = {"method": method, "seed": int(seed), "bins": int(bins), "params": params,
              "ece_calibrated": {r["member"]: r["ece_calibrated"] for r in summary.to_dict("records")}}
    write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", out)
    for table, path in ((summary, summary_out), (reliability, reliability_out)):
        write_table(table, path)
        write_csv(table, Path(path).with_suffix(".csv"))
    return params


def read_calibration(path) -> dict:
    """Network name (and ``ensemble``) -> ``{a, b, c}`` from a file written by :func:`calibrate_files`."""
    import json
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        params = {str(k): {p: float(v[p]) for p in "abc"} for k, v in record["params"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: params: expected the JSON written by `lensfinder calibrate` ({exc})") from exc
    for name, value in params.items():
        if not (value["a"] > 0 and value["b"] > 0):
            raise InputError(f"{path}: params: {name!r} has a = {value['a']}, b = {value['b']}; expected both > 0")
    return params
