"""How each retraining round does on objects no round trained on: the rounds table (mock survey).

The evaluation set is every stamped object of the held-out tiles (the last
``learning.eval_tiles`` tiles of the mock survey), whose grades never enter a
fine-tuning set; its truth comes from the mock survey's truth tables, read
here and by the simulated inspectors only. The catalogue also detects pieces
of objects (a lensed arc, a knot of a ring) as sources of their own, which
have no truth row: :func:`evaluation_truth` gives each the truth of the
object it belongs to (the nearest truth position within a few arcsec), and a
piece of a lens is left out of the set as a duplicate of that lens, neither
found nor false. Per round (docs/learning.md):

- ``r_precision``: the fraction of genuine lenses among the ``n_lenses``
  best-scored objects (``n_lenses``: genuine lenses in the set), scored by the
  round's combined, calibrated ``p_cnn``; ties broken by ``p_cnn_raw`` (where
  the scores have it: calibration rounds the most confident to 1.0), then by object id;
- ``completeness``: the fraction of the genuine lenses that pass the
  candidate threshold of a sample they belong to (Li et al. 2020: LRG 0.75,
  BG 0.98) on that score;
- ``n_candidates``, ``n_false_positives`` above threshold, and the false
  positives by truth ``object_type`` (``fp_ring``, ``fp_merger``,
  ``fp_spiral``, ``fp_edge_on``, ``fp_companion``, ``fp_irregular``,
  ``fp_other``);
- ``auroc`` over the whole set, of the same ranking (``p_cnn``, ties by
  ``p_cnn_raw``), ``n_lens_pieces`` left out, and
  ``n_trained_on``: graded objects (lenses and hard negatives) in the round's
  fine-tuning set (0 for round 0).
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from lensfinder.io import InputError

__all__ = ["FP_TYPES", "ROUNDS_COLUMNS", "PIECE_RADIUS_ARCSEC", "evaluation_truth", "evaluate_round",
           "rounds_table", "n_graded_in_set", "evaluate_rounds_files"]

log = logging.getLogger(__name__)

#: Mock-survey object types whose false positives are counted one by one; ``companion`` is an
#: elliptical with satellites or one of its satellites (truth type ``satellite``, same ``group_id``).
FP_TYPES = ("ring", "merger", "spiral", "edge_on", "companion", "irregular")
#: Columns of the rounds table, in order.
ROUNDS_COLUMNS = ["round", "n_objects", "n_lenses", "r_precision", "completeness", "n_candidates",
                  "n_false_positives", *[f"fp_{t}" for t in FP_TYPES], "fp_other", "auroc", "n_lens_pieces",
                  "n_trained_on"]
#: A detection without a truth row belongs to the nearest truth object this close: the mock
#: lenses' arcs lie within theta_E <= 3" of their lens, ring knots within the ring's 4" radius.
PIECE_RADIUS_ARCSEC = 5.0


def evaluation_truth(stamp_index, truth, radius_arcsec: float = PIECE_RADIUS_ARCSEC):
    """Truth of every object of an evaluation set, pieces of objects given their parent's.

    Parameters
    ----------
    stamp_index : pandas.DataFrame
        ``object_id``, ``ra``, ``dec`` (deg) of the evaluation set.
    truth : pandas.DataFrame
        Mock-survey truth rows: ``ID`` (or ``object_id``), ``is_lens``,
        ``object_type``, ``ra``, ``dec`` (deg), detected or not.
    radius_arcsec : float
        Largest distance from a piece to its parent.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``object_id`` (the index's order): ``is_lens``,
        ``object_type`` (``""`` when nothing is near; ``companion`` for a
        ``satellite`` and for an elliptical whose ``group_id`` it shares),
        ``lens_piece`` (a detection without a truth row whose parent is a lens),
        ``theta_E`` (arcsec; a lens piece's is its lens's; NaN where the truth has none).
    """
    import pandas as pd
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    key = "object_id" if "object_id" in truth.columns else "ID"
    truth = truth.reset_index(drop=True)
    truth = truth.assign(theta_E=truth["theta_E"].astype(float) if "theta_E" in truth.columns else np.nan)
    if "group_id" in truth.columns:
        hosts = set(truth.loc[truth["object_type"] == "satellite", "group_id"])
        with_satellites = (truth["object_type"] == "elliptical") & truth["group_id"].isin(hosts)
        truth = truth.assign(object_type=truth["object_type"].mask(
            with_satellites | (truth["object_type"] == "satellite"), "companion"))
    rows = truth[truth[key].notna()]  # undetected objects have no id, but may be parents
    rows = rows.assign(**{key: rows[key].astype(str)}).drop_duplicates(key).set_index(key)
    ids = stamp_index["object_id"].astype(str).to_numpy()
    table = pd.DataFrame({"is_lens": rows["is_lens"].reindex(ids).to_numpy(dtype=object),
                          "object_type": rows["object_type"].reindex(ids).to_numpy(dtype=object),
                          "theta_E": rows["theta_E"].reindex(ids).to_numpy(dtype=float)},
                         index=pd.Index(ids, name="object_id"))
    table["lens_piece"] = False
    orphan = table["is_lens"].isna().to_numpy()
    if orphan.any() and len(truth):
        for column, frame in (("ra", stamp_index), ("dec", stamp_index), ("ra", truth), ("dec", truth)):
            if column not in frame.columns:
                raise InputError(f"{'stamp index' if frame is stamp_index else 'truth'}: {column}: missing; "
                                 "pieces of objects are matched to their parents by position (deg)")
        here = SkyCoord(stamp_index["ra"].to_numpy()[orphan] * u.deg, stamp_index["dec"].to_numpy()[orphan] * u.deg)
        parents = SkyCoord(truth["ra"].to_numpy() * u.deg, truth["dec"].to_numpy() * u.deg)
        nearest, separation, _ = here.match_to_catalog_sky(parents)
        close = separation.arcsec <= radius_arcsec
        parent_lens = truth["is_lens"].astype(bool).to_numpy()[nearest]
        where = np.flatnonzero(orphan)
        table.iloc[where, table.columns.get_loc("object_type")] = np.where(
            close, truth["object_type"].astype(str).to_numpy()[nearest], "")
        table.iloc[where, table.columns.get_loc("lens_piece")] = close & parent_lens
        table.iloc[where, table.columns.get_loc("theta_E")] = np.where(
            close & parent_lens, truth["theta_E"].to_numpy()[nearest], np.nan)
    table["is_lens"] = table["is_lens"].fillna(False).astype(bool)
    table["object_type"] = table["object_type"].fillna("").astype(str)
    return table


def evaluate_round(scores, stamp_index, truth, thresholds: dict) -> dict:
    """One round's row of the rounds table.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``object_id, p_cnn``: the round's ranking score of (at least) every
        object of ``stamp_index`` (and ``p_cnn_raw``, which orders objects whose ``p_cnn`` ties).
    stamp_index : pandas.DataFrame
        The evaluation set: ``object_id`` and the sample flag columns named
        in ``thresholds``.
    truth : pandas.DataFrame
        Indexed by ``object_id``: ``is_lens``, ``object_type``, and
        optionally ``lens_piece`` (:func:`evaluation_truth`); objects
        without a row are non-lenses of type ``other``; lens pieces are left out.
    thresholds : dict
        Sample flag -> candidate threshold on ``p_cnn``.

    Returns
    -------
    dict
        The columns of :data:`ROUNDS_COLUMNS` but ``round`` and ``n_trained_on``.
    """
    import pandas as pd

    from lensfinder.inspection.candidates import score_tie_breakers, select_candidates, sort_by_score
    from lensfinder.learning.metrics import auroc

    index = stamp_index.assign(object_id=stamp_index["object_id"].astype(str)).drop_duplicates("object_id")
    pieces = truth.index[truth["lens_piece"].astype(bool)] if "lens_piece" in truth.columns else []
    n_pieces = int(index["object_id"].isin(pieces).sum())
    index = index[~index["object_id"].isin(pieces)]
    table = scores.assign(object_id=scores["object_id"].astype(str)).drop_duplicates("object_id").set_index("object_id")
    score = table["p_cnn"].astype(float)
    unscored = ~index["object_id"].isin(score.index)
    if unscored.any():
        raise InputError(f"scores: object_id {index['object_id'][unscored].iloc[0]!r} of the evaluation set has "
                         f"no score ({int(unscored.sum())} objects)")
    ids = index["object_id"].to_numpy(dtype=object)
    p = score.reindex(ids).to_numpy(dtype=np.float64)
    t = truth.reindex(ids)
    is_lens = t["is_lens"].fillna(False).astype(bool).to_numpy()
    kind = t["object_type"].fillna("").astype(str).to_numpy()
    n_lenses = int(is_lens.sum())
    ranked = pd.DataFrame({"object_id": ids, "p": np.nan_to_num(p, nan=-np.inf), "lens": is_lens})
    for column in score_tie_breakers(table):  # objects whose calibrated scores tie at 1.0: by their raw scores
        ranked[column] = np.nan_to_num(table[column].reindex(ids).to_numpy(dtype=np.float64), nan=-np.inf)
    keys = ranked[["p", *score_tie_breakers(table)]].to_numpy(dtype=np.float64)  # in the order of ids
    ranked = sort_by_score(ranked, ["p"])
    r_precision = float(ranked["lens"].iloc[:n_lenses].mean()) if n_lenses else float("nan")
    candidates = select_candidates(pd.DataFrame({"object_id": ids, "p_cnn": p}), index, thresholds)
    called = np.isin(ids, candidates["object_id"].astype(str).to_numpy())
    false_positive = called & ~is_lens
    row = {"n_objects": len(ids), "n_lenses": n_lenses, "r_precision": r_precision,
           "completeness": float((called & is_lens).sum() / n_lenses) if n_lenses else float("nan"),
           "n_candidates": int(called.sum()), "n_false_positives": int(false_positive.sum())}
    for object_type in FP_TYPES:
        row[f"fp_{object_type}"] = int((false_positive & (kind == object_type)).sum())
    row["fp_other"] = int((false_positive & ~np.isin(kind, FP_TYPES)).sum())
    finite = np.isfinite(p)  # the AUROC of R-precision's order: p_cnn, ties by the raw score
    row["auroc"] = auroc(is_lens[finite], _dense_rank(keys)[finite]) if finite.any() else float("nan")
    row["n_lens_pieces"] = n_pieces
    return row


def _dense_rank(keys):
    """Dense ranks (0, 1, ...) of the rows of ``keys`` (n, k) in lexicographic order; equal rows share one."""
    order = np.lexsort(keys.T[::-1])
    ordered = keys[order]
    step = np.r_[False, np.any(ordered[1:] != ordered[:-1], axis=1)] if len(order) else np.zeros(0, bool)
    rank = np.empty(len(order), dtype=np.float64)
    rank[order] = np.cumsum(step)
    return rank


def rounds_table(round_scores: Sequence, stamp_index, truth, thresholds: dict, n_trained_on: Sequence[int],
                 sources: Sequence[str] = ()):
    """The rounds table: :func:`evaluate_round` of each round's scores (round 0 first).

    ``n_trained_on[k]`` is the number of graded objects round ``k`` trained
    on (0 for round 0); ``sources[k]`` (optional) names round ``k``'s score
    files in errors. Returns a table with :data:`ROUNDS_COLUMNS`, the thresholds in its
    ``attrs["thresholds"]`` (kept in its Parquet file).
    """
    import pandas as pd

    if len(n_trained_on) != len(round_scores):
        raise InputError(f"rounds: {len(round_scores)} rounds of scores but {len(n_trained_on)} training counts")
    rows = []
    for k, (scores, n_graded) in enumerate(zip(round_scores, n_trained_on)):
        try:
            row = {"round": k, **evaluate_round(scores, stamp_index, truth, thresholds), "n_trained_on": int(n_graded)}
        except InputError as exc:
            raise InputError(f"round {k}'s {exc}" + (f" ({sources[k]})" if sources else "")) from None
        rows.append(row)
        log.info("round %d: %d lenses among %d objects, R-precision %.3f, completeness %.3f, "
                 "%d false positives above threshold", k, row["n_lenses"], row["n_objects"], row["r_precision"],
                 row["completeness"], row["n_false_positives"])
    table = pd.DataFrame(rows, columns=ROUNDS_COLUMNS)
    table.attrs["thresholds"] = {str(k): float(v) for k, v in thresholds.items()}  # the figure's legend names them
    if len(table) and table["n_lenses"].iloc[0] < 20:
        log.warning("the evaluation set holds %d genuine lenses (fewer than 20): R-precision and completeness "
                    "are coarse", int(table["n_lenses"].iloc[0]))
    return table


def n_graded_in_set(table) -> int:
    """Distinct graded objects (lenses and hard negatives) in a fine-tuning set's table."""
    graded = table["source"].isin(["graded_lens", "graded_nonlens"])
    return int(table.loc[graded, "source_id"].nunique())


def evaluate_rounds_files(round_predictions: Sequence[Sequence], stamp_indexes, truth_paths, training_sets,
                          thresholds: dict, out, *, radius_arcsec: float = PIECE_RADIUS_ARCSEC):
    """:func:`rounds_table` from files; writes ``out`` (Parquet) and a ``.csv`` copy.

    Parameters
    ----------
    round_predictions : sequence of sequence of path
        Per round (round 0 first), the score tables of the evaluation tiles.
    stamp_indexes : sequence of path
        Stamp indexes of the evaluation tiles (``object_id, ra, dec`` and the sample flags).
    truth_paths : sequence of path
        Mock-survey truth tables (``ID, is_lens, object_type, ra, dec``).
    training_sets : sequence of path
        Fine-tuning set tables of rounds 1, 2, ... (``source, source_id``).
    thresholds : dict
        Sample flag -> threshold.
    out : path
    radius_arcsec : float
        See :func:`evaluation_truth`.
    """
    from pathlib import Path

    import pandas as pd

    from lensfinder.io import read_table, write_csv, write_table

    if len(training_sets) != len(round_predictions) - 1:
        raise InputError(f"--training-sets: {len(training_sets)} tables for {len(round_predictions)} rounds; "
                         "expected one per retraining round")
    index = pd.concat([read_table(p, required=["object_id"]) for p in stamp_indexes], ignore_index=True)
    truth = pd.concat([read_table(p, required=["ID", "is_lens", "object_type"]) for p in truth_paths],
                      ignore_index=True)
    truth = evaluation_truth(index, truth, radius_arcsec)
    scores = [pd.concat([read_table(p, required=["object_id", "p_cnn"]) for p in paths], ignore_index=True)
              for paths in round_predictions]
    n_trained = [0] + [n_graded_in_set(read_table(p, required=["source", "source_id"])) for p in training_sets]
    table = rounds_table(scores, index, truth, thresholds, n_trained,
                         sources=[", ".join(map(str, paths)) for paths in round_predictions])
    write_table(table, out)
    write_csv(table, Path(out).with_suffix(".csv"))
    return table
