"""Ensembles of networks: their names, and one combined score from their calibrated probabilities.

An ensemble is a list of networks (``model`` and ``seed``, and the simulated
set each trains on), each trained and scored on its own; the combined
``p_cnn`` of an object is the mean of the members' calibrated
probabilities, itself calibrated by one more map
(:mod:`lensfinder.learning.calibration`). The first member is named after
its network (``he2020``: today's ``results/models/he2020.keras``), later
ones after network and seed (``he2020_s7``), and their set when it is not
``train`` (``he2020_half_s7_train_neighbours``). Pure numpy/pandas.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
from typing import Sequence

import numpy as np

from lensfinder.io import InputError
from lensfinder.learning.calibration import apply_calibration
from lensfinder.learning.models import MODEL_NAMES

__all__ = ["EnsembleMember", "ensemble_members", "check_init_weights", "combine_scores", "combine_files"]

log = logging.getLogger(__name__)

#: a simulated set's name: a path component and a wildcard value
_SET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclasses.dataclass(frozen=True)
class EnsembleMember:
    """One network of an ensemble: its file name stem, architecture, training seed, the trained
    network it starts from (``None``: ``training.init_weights``, the run's for every member), and the
    simulated set it trains on (a key of ``simulation.sets``; ``train``, the run's, by default)."""

    name: str
    model: str
    seed: int
    init_weights: str | None = None
    train_set: str = "train"


def ensemble_members(entries: Sequence[dict] | None, default_model: str, default_seed: int) -> list[EnsembleMember]:
    """The members of an ensemble from its config entries (``{model, seed, init_weights, train_set}``).

    Parameters
    ----------
    entries : sequence of dict, or None
        ``inference.ensemble``; empty or None: one member, ``default_model``
        with ``default_seed`` (a single network, as without ensembles).
        An entry without ``model`` takes ``default_model``; without
        ``seed``, ``default_seed``; ``init_weights`` (optional) is the
        trained network that member starts from, or keeps as it is with
        ``training.epochs`` 0 (e.g. each member of an exported pair);
        ``train_set`` (optional, ``train`` when absent) the simulated set
        it trains on, so that networks trained on different images can be
        averaged (e.g. one with bright neighbours in its stamps).
    default_model : str
    default_seed : int

    Returns
    -------
    list of EnsembleMember
        Named ``model`` for the first member, ``model_s{seed}`` after it,
        ``model_s{seed}_{train_set}`` for a later member on a set other
        than ``train``.

    Raises
    ------
    InputError
        An unknown network, the same network, seed and training set twice,
        or a training set named ``test`` (the set that measures them all) or
        not a name.
    """
    entries = list(entries or []) or [{"model": default_model, "seed": default_seed}]
    members: list[EnsembleMember] = []
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InputError(f"config: inference.ensemble[{k}]: expected {{model: he2020, seed: 1}}, got {entry!r}")
        model = str(entry.get("model", default_model))
        if model not in MODEL_NAMES:
            raise InputError(f"config: inference.ensemble[{k}].model: {model!r}, expected one of {MODEL_NAMES}")
        try:
            seed = int(entry.get("seed", default_seed))
        except (TypeError, ValueError):
            raise InputError(f"config: inference.ensemble[{k}].seed: {entry.get('seed')!r}, expected an integer") from None
        init = entry.get("init_weights")
        if init is not None and (not isinstance(init, str) or not init):
            raise InputError(f"config: inference.ensemble[{k}].init_weights: {init!r}, expected the path of a "
                             "trained network (.keras)")
        train_set = entry.get("train_set", "train")
        if not isinstance(train_set, str) or not _SET_NAME.fullmatch(train_set) or train_set == "test":
            raise InputError(f"config: inference.ensemble[{k}].train_set: {train_set!r}, expected the name of a "
                             "simulation.sets entry other than test (the set every network is measured on)")
        name = model if not members else f"{model}_s{seed}" + (f"_{train_set}" if train_set != "train" else "")
        if any(m.name == name or (m.model, m.seed, m.train_set) == (model, seed, train_set) for m in members):
            on = f" on {train_set}" if train_set != "train" else ""
            raise InputError(f"config: inference.ensemble[{k}]: {model} with seed {seed}{on} is already a member")
        members.append(EnsembleMember(name, model, seed, init, train_set))
    return members


def check_init_weights(members: dict, init_weights: str | None, epochs: int, **expected) -> None:
    """Refuse, before a run starts, networks its members cannot start from (``ValueError`` naming the key).

    ``members``: name -> :class:`EnsembleMember`; ``init_weights``: ``training.init_weights`` (members
    without their own start from it; None: from scratch); ``epochs``: ``training.epochs``; ``expected``:
    the run's settings a network must have (:func:`lensfinder.learning.sidecar.settings_mismatch`:
    ``model`` is each member's own; ``bands``, ``colour_residual``, ``colour_residual_match``,
    ``preprocess``, ``normalization``). With ``epochs`` 0 every member needs a network to keep, and no
    two members may keep the same file (two identical networks). A network's settings are read from its
    sidecar. A network or sidecar that is not there is refused too: once the run's own network exists, the
    plan would not ask for it, and the run would go on with that network instead.
    """
    from lensfinder.learning.sidecar import settings_mismatch, sidecar_path

    kept = {}
    for name, member in members.items():
        path = member.init_weights or init_weights
        key = f"inference.ensemble init_weights of {name}" if member.init_weights else "training.init_weights"
        if not path:
            if epochs == 0:
                raise ValueError(f"config: training.epochs 0 keeps the network given as training.init_weights "
                                 f"(or the member's init_weights), but network {name} has none; set it or give "
                                 "epochs >= 1")
            continue
        if epochs == 0 and os.path.abspath(path) in kept:
            raise ValueError(f"config: inference.ensemble: networks {kept[os.path.abspath(path)]} and {name} "
                             f"would both keep {path} as it is (training.epochs 0), two identical networks; "
                             "give each member its own init_weights")
        kept[os.path.abspath(path)] = name
        sidecar = sidecar_path(path)
        missing = next((str(f) for f in (path, sidecar) if not os.path.isfile(f)), None)
        if missing:
            raise ValueError(f"config: {key}: {missing}: file not found (relative paths are from the working "
                             f"directory {os.getcwd()}); expected a network and its sidecar written by "
                             "`snakemake export_network` or `lensfinder export-network` (config/pretrained.yaml "
                             "says how to make its network)")
        try:
            theirs = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"config: {key}: {sidecar}: not readable JSON ({exc})") from None
        if theirs.get("ensemble"):
            raise ValueError(f"config: {key}: {path} holds an ensemble of {len(theirs['ensemble'])} networks in one "
                             "file, which scores but cannot be kept by a training; give each inference.ensemble "
                             "member one of its networks as init_weights")
        mismatch = settings_mismatch(theirs, model=member.model, **expected)
        if mismatch:
            what, stored, value = mismatch
            where = {"model": f"network {name}", "bands": "bands"}.get(what, f"training.{what}")
            stored, value = (("-".join(v) or "none") if what == "colour_residual" else v for v in (stored, value))
            instead = "remove the member's init_weights" if member.init_weights else "set training.init_weights: null"
            raise ValueError(f"config: {key}: {path} holds a network with {what} {stored!r}, "
                             f"but this run's {where} is {value!r}; start from a network with the run's "
                             f"settings, or {instead}")


def combine_scores(tables: dict, calibration: dict | None, *, shard: str = ""):
    """Mean of the members' calibrated probabilities, one row per object.

    Parameters
    ----------
    tables : dict
        Member name -> ``lensfinder infer`` table (``object_id, p_cnn``,
        optionally ``model_hash``, ``is_lens``) of the same objects.
    calibration : dict or None
        Member name -> calibration map ``{a, b, c}`` (every member needs one;
        :func:`lensfinder.learning.calibration.apply_calibration`), and for
        several members the ``ensemble`` map applied to their mean. None:
        no maps, ``p_cnn`` is the plain mean of the raw scores (what
        ``lensfinder infer --ensemble`` and an exported ensemble compute).
    shard : str
        Value of the ``shard`` column (e.g. the tile).

    Returns
    -------
    pandas.DataFrame
        ``object_id, p_cnn`` (the combined probability: the ``ensemble``
        map of the mean of the calibrated probabilities),
        ``p_cnn_raw`` (mean of the raw scores), ``n_members``, ``model``
        (members joined by ``+``), ``model_hash``, ``shard`` (+ ``is_lens``),
        in the first member's row order. An object that a member skipped
        (``p_cnn`` NaN) is NaN.
    """
    import pandas as pd

    if not tables:
        raise InputError("combine: no member scores given")
    if calibration is not None:
        missing = [name for name in tables if name not in calibration]
        if missing:
            raise InputError(f"calibration: no map for member {missing[0]!r}; calibrate every member "
                             f"(have {', '.join(sorted(calibration)) or 'none'})")
    maps = calibration or {}
    names = list(tables)
    first = tables[names[0]]
    ids = first["object_id"].astype(str)
    raw, calibrated, hashes = [], [], []
    for name in names:
        table = tables[name]
        series = table.assign(object_id=table["object_id"].astype(str)).drop_duplicates("object_id")
        series = series.set_index("object_id")["p_cnn"].astype(float)
        absent = ~ids.isin(series.index)
        if absent.any() or len(series) != len(ids):
            raise InputError(f"member {name!r}: scores other objects than member {names[0]!r} "
                             f"(e.g. {ids[absent].iloc[0] if absent.any() else 'extra rows'})")
        p = series.reindex(ids).to_numpy(dtype=np.float64)
        raw.append(p)
        calibrated.append(apply_calibration(p, maps[name]) if calibration is not None else p)
        hashes.append(str(table["model_hash"].iloc[0]) if "model_hash" in table.columns and len(table) else name)
    model_hash = hashes[0] if len(names) == 1 else hashlib.sha256("".join(hashes).encode()).hexdigest()[:16]
    p_cnn = np.mean(calibrated, axis=0)
    if len(names) > 1 and "ensemble" in maps:
        p_cnn = apply_calibration(p_cnn, maps["ensemble"])
    out = pd.DataFrame({
        "object_id": ids.to_numpy(dtype=object),
        "p_cnn": p_cnn,
        "p_cnn_raw": np.mean(raw, axis=0),
        "n_members": np.full(len(ids), len(names), dtype=np.int64),
        "model": pd.Series(["+".join(names)] * len(ids), dtype=object),
        "model_hash": pd.Series([model_hash] * len(ids), dtype=object),
        "shard": pd.Series([shard] * len(ids), dtype=object),
    })
    if "is_lens" in first.columns:
        out["is_lens"] = first["is_lens"].astype(bool).to_numpy()
    return out


def combine_files(prediction_paths, calibration_path, out, *, shard: str | None = None):
    """:func:`combine_scores` of members' score files (one table each) with a calibration file
    (``None``: the plain mean of the raw scores).

    The member of a table is its ``model`` column (the model file's stem).
    ``shard`` picks one cube's rows from tables that hold several (their
    ``shard`` column, e.g. one tile from a scoring job's several tiles); by
    default every row is kept and the output's ``shard`` is the first
    table's. Returns the table written to ``out``.
    """
    from lensfinder.checks import require_scores
    from lensfinder.io import read_table, write_table
    from lensfinder.learning.calibration import read_calibration

    tables = {}
    for path in prediction_paths:
        table = read_table(path, required=["object_id", "p_cnn", "model"])
        require_scores(table, path)
        names = table["model"].astype(str).unique()
        if len(names) != 1:
            raise InputError(f"{path}: model: expected one network's scores, got {len(names)} ({', '.join(names[:3])})")
        if names[0] in tables:
            raise InputError(f"{path}: member {names[0]!r} given twice")
        if shard is not None:
            if "shard" not in table.columns:
                raise InputError(f"{path}: no shard column, so the rows of shard {shard!r} cannot be picked")
            picked = table[table["shard"].astype(str) == shard].reset_index(drop=True)
            if picked.empty and not table.empty:
                log.warning("%s: no rows of shard %r (it holds %s)", path, shard,
                            ", ".join(map(str, table["shard"].astype(str).unique()[:5])))
            table = picked
        tables[names[0]] = table
    if not tables:
        raise InputError("--predictions: no score tables given")
    if shard is None:
        first = next(iter(tables.values()))
        shard = str(first["shard"].iloc[0]) if "shard" in first.columns and len(first) else ""
    maps = read_calibration(calibration_path) if calibration_path is not None else None
    combined = combine_scores(tables, maps, shard=shard)
    write_table(combined, out)
    log.info("%s: combined %d members for %d objects -> %s", shard, len(tables), len(combined), out)
    return combined
