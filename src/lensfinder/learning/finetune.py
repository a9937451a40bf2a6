"""Retraining on what people graded: the fine-tuning set of a round (the network is fine-tuned on it by
:mod:`lensfinder.learning.finetune_network`).

Round ``k + 1`` of a search (docs/learning.md, "Retraining rounds") starts
from round ``k``'s network and trains it further on

- graded lenses: objects whose mean grade reaches B (``p_human = mean score /
  best score >= 0.7``: Li et al. 2020 scheme A 10, B 7, C 3, D 0);
- hard negatives: graded objects whose mean score is below C (``p_human <
  0.3``), the false positives people rejected;
  both in their eight 90-degree rotations and flips (``graded_copies``);
- random survey stamps as negatives (lenses are rare), never graded ones of
  another label;
- simulated images of the training set, ``sim_ratio`` per survey image, so
  the network keeps what the simulations taught it.

Objects graded in several rounds keep their latest round's mean score;
graded objects with ``0.3 <= p_human < 0.7`` are left out. Blind-mixed
simulations and objects outside the search tiles (the evaluation tiles of
the mock survey) are never used.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from lensfinder.io import InputError
from lensfinder.learning.residual import MOFFAT_FIT_PREFIXES

__all__ = [
    "POSITIVE_MIN_P_HUMAN",
    "HARD_NEGATIVE_MAX_P_HUMAN",
    "SOURCES",
    "graded_labels",
    "select_training_objects",
    "dihedral_copies",
    "finetune_set",
    "finetune_set_files",
]

log = logging.getLogger(__name__)

#: Mean grade at or above B (7 of 10 in Li et al. 2020's scheme): a lens for training.
POSITIVE_MIN_P_HUMAN = 0.7
#: Mean grade below C (3 of 10): a hard negative.
HARD_NEGATIVE_MAX_P_HUMAN = 0.3
#: ``source`` values of a fine-tuning set's rows.
SOURCES = ("graded_lens", "graded_nonlens", "random_survey", "simulated")


def graded_labels(rounds_of_grades: Sequence, scheme: str = "li2020"):
    """Training labels from the effective grades of one or more rounds.

    Parameters
    ----------
    rounds_of_grades : sequence of pandas.DataFrame
        Effective grades per round, oldest first
        (:func:`lensfinder.inspection.grades.read_grades`).
    scheme : {"li2020", "he2020"}

    Returns
    -------
    pandas.DataFrame
        Indexed by ``object_id``: ``round`` (the latest round that graded
        it), ``n_graders``, ``score_mean``, ``p_human`` (mean score / best
        score) and ``label``: ``lens``, ``nonlens`` or ``""`` (in between).
    """
    import pandas as pd

    from lensfinder.inspection.grades import SCHEMES, per_object_scores

    if scheme not in SCHEMES:
        raise InputError(f"--scheme: {scheme!r}: expected one of {', '.join(SCHEMES)}")
    best = max(SCHEMES[scheme].values())
    parts = []
    for k, grades in enumerate(rounds_of_grades):
        per = per_object_scores(grades, scheme)[["n_graders", "score_mean"]].astype(float)
        parts.append(per.assign(round=k))
    columns = ["round", "n_graders", "score_mean", "p_human", "label"]
    if not parts:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="object_id"))
    table = pd.concat(parts)
    table = table[~table.index.duplicated(keep="last")].sort_index()
    table.index.name = "object_id"
    table["p_human"] = table["score_mean"] / best
    table["label"] = np.where(table["p_human"] >= POSITIVE_MIN_P_HUMAN, "lens",
                              np.where(table["p_human"] < HARD_NEGATIVE_MAX_P_HUMAN, "nonlens", ""))
    table["round"] = table["round"].astype(np.int64)
    table["n_graders"] = table["n_graders"].astype(np.int64)
    return table[columns]


def select_training_objects(labels, survey_ids: Sequence[str], rng: np.random.Generator,
                            n_random_negatives: int, exclude: Sequence[str] = ()):
    """Which survey objects a round trains on, and as what.

    Parameters
    ----------
    labels : pandas.DataFrame
        From :func:`graded_labels`.
    survey_ids : sequence of str
        Objects of the search tiles that have stamps; graded objects outside
        them (evaluation tiles, mixed-in simulations) are dropped.
    rng : numpy.random.Generator
        Draws the random negatives.
    n_random_negatives : int
        Ungraded survey stamps drawn as negatives (fewer when fewer exist).
    exclude : sequence of str
        Object ids never used (e.g. the blind-mixed simulations).

    Returns
    -------
    pandas.DataFrame
        ``object_id, is_lens, source`` (``graded_lens``, ``graded_nonlens``,
        ``random_survey``), ``p_human`` (NaN for random stamps), sorted by
        source then object id.
    """
    import pandas as pd

    survey = pd.Index(pd.unique(np.asarray(list(map(str, survey_ids)), dtype=object)))
    excluded = set(map(str, exclude))
    graded = labels[labels.index.isin(survey) & ~labels.index.isin(excluded)]
    n_outside = int((~labels.index.isin(survey)).sum())
    if n_outside:
        log.info("%d graded objects are outside the search tiles (evaluation tiles or mixed-in simulations): "
                 "not trained on", n_outside)
    lenses = graded.index[graded["label"] == "lens"]
    nonlenses = graded.index[graded["label"] == "nonlens"]
    pool = np.asarray(sorted(set(survey) - set(labels.index) - excluded), dtype=object)
    n_random = min(int(n_random_negatives), len(pool))
    random_ids = np.sort(rng.choice(pool, n_random, replace=False)) if n_random else np.zeros(0, dtype=object)
    parts = [
        pd.DataFrame({"object_id": np.asarray(lenses, dtype=object), "is_lens": True, "source": "graded_lens",
                      "p_human": graded.loc[lenses, "p_human"].to_numpy(dtype=float)}),
        pd.DataFrame({"object_id": np.asarray(nonlenses, dtype=object), "is_lens": False,
                      "source": "graded_nonlens", "p_human": graded.loc[nonlenses, "p_human"].to_numpy(dtype=float)}),
        pd.DataFrame({"object_id": random_ids, "is_lens": False, "source": "random_survey", "p_human": np.nan}),
    ]
    table = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else parts[0]
    table["is_lens"] = table["is_lens"].astype(bool)
    log.info("training objects: %d graded lenses, %d graded non-lenses, %d random survey stamps "
             "(%d graded objects in between left out)", len(lenses), len(nonlenses), n_random,
             int((graded["label"] == "").sum()))
    return table


def dihedral_copies(images, n_copies: int = 8):
    """``n_copies`` of each square image: its eight rotations by 90 degrees and flips, then again.

    Returns
    -------
    numpy.ndarray, shape (n * n_copies, ...)
        Copies of image ``i`` at rows ``i * n_copies ... (i + 1) * n_copies - 1``;
        copy ``c`` is ``rot90(image, c % 4)``, flipped left-right when ``c % 8 >= 4``.
    """
    images = np.asarray(images)
    if int(n_copies) < 1:
        raise ValueError(f"n_copies: {n_copies}, expected >= 1")
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images of {images.shape[-2]}x{images.shape[-1]} pixels: rotations need square images")
    axes = (images.ndim - 2, images.ndim - 1)  # the image plane is the last two axes
    copies = []
    for c in range(int(n_copies)):
        turned = np.rot90(images, c % 4, axes=axes)
        copies.append(np.flip(turned, axis=axes[1]) if c % 8 >= 4 else turned)
    return np.stack(copies, axis=1).reshape(-1, *images.shape[1:]).astype(images.dtype, copy=False)


def finetune_set(selection, survey_stamps, simulated, *, graded_copies: int = 8, sim_ratio: float = 0.5,
                 rng: np.random.Generator):
    """Images and metadata of a fine-tuning set.

    Parameters
    ----------
    selection : pandas.DataFrame
        From :func:`select_training_objects`.
    survey_stamps : callable
        ``survey_stamps(object_ids) -> images`` in the same order.
    simulated : lensfinder.learning.datasets.ShardSet or None
        The simulated training set; ``round(sim_ratio * n_survey)`` of its
        images are drawn (without replacement, at most all of them).
    graded_copies : int
        Copies of each graded object (:func:`dihedral_copies`): the few
        objects people graded weigh more than the many random stamps. Each
        graded lens gets more copies where needed, so that the survey's
        lenses weigh as much as its non-lenses: otherwise the network learns
        that a survey stamp (not a simulation) is rarely a lens.
    sim_ratio : float
        Simulated images per survey image.
    rng : numpy.random.Generator

    Returns
    -------
    images : numpy.ndarray, float32
    table : pandas.DataFrame
        ``object_id`` (unique per row: ``<id>#<copy>`` for copies),
        ``source_id``, ``is_lens``, ``source``, ``p_human``, ``copy``, and the
        selection's Moffat fits of the survey stamps' PSFs (``psf_moffat_*``
        columns, if any; NaN for the simulations), with which training
        matches their colour residual as scoring does.
    """
    import pandas as pd

    if sim_ratio < 0:
        raise InputError(f"--sim-ratio: {sim_ratio}, expected >= 0")
    ids = selection["object_id"].astype(str).to_numpy()
    fit_columns = [c for c in selection.columns if c.startswith(MOFFAT_FIT_PREFIXES)]
    stamps = np.asarray(survey_stamps(list(ids)), dtype=np.float32)
    if len(stamps) != len(ids):
        raise InputError(f"stamps: {len(stamps)} images for {len(ids)} training objects")
    source = selection["source"].to_numpy(dtype=object)
    # lenses are rare: each graded lens is repeated until the survey's lenses weigh as much as its non-lenses
    n_negative = graded_copies * int((source == "graded_nonlens").sum()) + int((source == "random_survey").sum())
    n_lens = int((source == "graded_lens").sum())
    copies_of = {"graded_lens": max(int(graded_copies), -(-n_negative // n_lens) if n_lens else 0),
                 "graded_nonlens": int(graded_copies), "random_survey": 1}
    images, tables = [], []
    for kind, n in copies_of.items():
        rows = np.flatnonzero(source == kind)
        if not len(rows):
            continue
        images.append(dihedral_copies(stamps[rows], n))
        source_ids = np.repeat(ids[rows], n)
        copy = np.tile(np.arange(n), len(rows))
        tables.append(pd.DataFrame({
            "object_id": source_ids if kind == "random_survey" else [f"{s}#{c}" for s, c in zip(source_ids, copy)],
            "source_id": source_ids, "is_lens": kind == "graded_lens", "source": kind,
            "p_human": np.repeat(selection["p_human"].to_numpy(dtype=float)[rows], n), "copy": copy,
            **{c: np.repeat(selection[c].to_numpy(dtype=float)[rows], n) for c in fit_columns}}))
    n_survey = sum(len(t) for t in tables)
    n_sim = min(int(round(sim_ratio * n_survey)), len(simulated) if simulated is not None else 0)
    if n_sim:
        sim_rows = np.sort(rng.choice(len(simulated), n_sim, replace=False))
        images.append(simulated.take(sim_rows))
        sim_ids = _shard_object_ids(simulated, sim_rows)
        tables.append(pd.DataFrame({"object_id": sim_ids, "source_id": sim_ids, "is_lens": simulated.labels[sim_rows],
                                    "source": "simulated", "p_human": np.nan, "copy": 0}))
    if not tables:
        raise InputError("fine-tuning set: no graded object, survey stamp or simulation to train on")
    table = pd.concat(tables, ignore_index=True)
    table["is_lens"] = table["is_lens"].astype(bool)
    table["copy"] = table["copy"].astype(np.int64)
    if not len(table) or not table["is_lens"].any() or table["is_lens"].all():
        raise InputError(f"fine-tuning set: {int(table['is_lens'].sum())} lenses among {len(table)} images; "
                         "a round needs graded lenses (or simulations) and negatives")
    log.info("fine-tuning set: %d images (%d graded lenses x %d, %d hard negatives x %d, %d random survey stamps, "
             "%d simulated)", len(table), n_lens, copies_of["graded_lens"], int((source == "graded_nonlens").sum()),
             graded_copies, int((source == "random_survey").sum()), n_sim)
    return np.concatenate(images).astype(np.float32, copy=False), table


def _shard_object_ids(shards, rows):
    """``object_id`` of global rows of a :class:`~lensfinder.learning.datasets.ShardSet`."""
    from lensfinder.io import read_table

    shard = np.searchsorted(shards.offsets, rows, side="right") - 1
    ids = np.empty(len(rows), dtype=object)
    for s in np.unique(shard):
        table = read_table(shards.pairs[s][1], columns=["object_id"])
        sel = np.flatnonzero(shard == s)
        ids[sel] = table["object_id"].astype(str).to_numpy()[rows[sel] - shards.offsets[s]]
    return ids


def _index_moffat_fits(object_ids, stamp_indexes):
    """The stamp indexes' Moffat fits of each band's PSF (``psf_moffat_fwhm_arcsec_{band}``,
    ``psf_moffat_beta_{band}``, :func:`lensfinder.selection.stamps.moffat_columns`) for ``object_ids``, in
    their order (NaN where an object's index has none); None where no index has them."""
    import pandas as pd
    import pyarrow.parquet as pq

    from lensfinder.io import read_table

    parts = []
    for path in stamp_indexes:
        names = [c for c in pq.read_schema(path).names if c.startswith(MOFFAT_FIT_PREFIXES)]
        if names:
            part = read_table(path, columns=["object_id", *names])
            parts.append(part.assign(object_id=part["object_id"].astype(str)))
    if not parts:
        return None
    fits = pd.concat(parts, ignore_index=True).drop_duplicates("object_id").set_index("object_id")
    return fits.reindex(list(object_ids)).reset_index(drop=True)


def _round_grades(path, scheme, known, survey_ids):
    """One round's effective grades, refused when the file has none or none of its objects is in the search.

    Grades of objects that are neither stamps of the search tiles nor blind-mixed simulations (an evaluation
    tile's, a typo, another search's) are dropped with a warning that counts them; ids are matched as
    ``merge-scores`` matches them (:func:`lensfinder.inspection.grades.read_grades`: a hand-edited
    ``obj1 `` is ``obj1``).
    """
    from lensfinder.inspection.grades import read_grades

    valid = set(known) | set(survey_ids)
    grades = read_grades(path, scheme, valid_ids=valid, unknown_ids="keep", duplicate_policy="latest")
    if grades.empty:
        raise InputError(f"{path}: no grades (header only); expected the grades of the round's inspection set")
    ids = grades["object_id"].astype(str)
    ours = ids.isin(valid)
    if not ours.any():
        raise InputError(f"{path}: none of its {ids.nunique()} graded objects is a stamp of the search tiles "
                         f"(--stamp-index) or a mixed-in simulation (--known), e.g. {ids.iloc[0]!r}; "
                         "expected the grades of this search's inspection set")
    if not ours.all():
        log.warning("%s: %d graded objects are neither stamps of the search tiles nor mixed-in simulations "
                    "(e.g. %r): not trained on", path, int(ids[~ours].nunique()), ids[~ours].iloc[0])
    return grades[ours.to_numpy()]


def finetune_set_files(grades_paths, known_paths, stamp_indexes, stamp_cubes, sim_shards, out, *,
                       scheme: str = "li2020", n_random_negatives: int = 300, graded_copies: int = 8,
                       sim_ratio: float = 0.5, seed: int = 42):
    """Assemble a round's fine-tuning set from files and write it as a shard (cube + table).

    Parameters
    ----------
    grades_paths : sequence of path
        Grades CSVs of the earlier rounds, oldest first.
    known_paths : sequence of path
        The inspection sets' ``known.parquet`` (blind-mixed simulations, never trained on).
    stamp_indexes, stamp_cubes : sequence of path
        Stamps of the search tiles (index k belongs to cube k).
    sim_shards : sequence of path
        Simulated training shards mixed in (may be empty).
    out : path
        Output cube ``shard_000.fits``; its table goes beside it (``.parquet``).
    scheme, n_random_negatives, graded_copies, sim_ratio, seed
        See :func:`graded_labels`, :func:`select_training_objects` and :func:`finetune_set`.

    Returns
    -------
    pandas.DataFrame
        The table written.
    """
    import pandas as pd

    from lensfinder.inspection.candidates import load_band_stamps
    from lensfinder.io import read_cube, read_table, write_cube, write_table
    from lensfinder.learning.datasets import ShardSet

    if len(stamp_indexes) != len(stamp_cubes):
        raise InputError(f"--stamp-index: {len(stamp_indexes)} indexes but {len(stamp_cubes)} cubes; expected one cube each")
    known = set()
    for path in known_paths:
        known |= set(read_table(path, columns=["object_id"], required=["object_id"])["object_id"].astype(str))
    survey_ids = pd.unique(pd.concat([read_table(p, columns=["object_id"], required=["object_id"])["object_id"]
                                      for p in stamp_indexes]).astype(str))
    labels = graded_labels([_round_grades(p, scheme, known, survey_ids) for p in grades_paths], scheme)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 16]))
    selection = select_training_objects(labels, survey_ids, rng, n_random_negatives, exclude=known)
    if not len(selection):
        raise InputError(f"{grades_paths[0] if grades_paths else '--grades'}: no graded or survey object to train on")
    stamps, bands = load_band_stamps(selection["object_id"], stamp_indexes, stamp_cubes)
    fits = _index_moffat_fits(selection["object_id"].astype(str), stamp_indexes)
    if fits is not None:
        selection = pd.concat([selection.reset_index(drop=True), fits], axis=1)
    simulated = ShardSet(sim_shards) if len(sim_shards) and sim_ratio > 0 else None
    images, table = finetune_set(selection, lambda ids: np.stack([stamps[i] for i in ids]), simulated,
                                 graded_copies=graded_copies, sim_ratio=sim_ratio, rng=rng)
    header = read_cube(stamp_cubes[0])[1]
    write_cube(images, out, pixel_scale_arcsec=float(header.get("PIXSCALE", float("nan"))),
               zeropoint_mag=float(header.get("ZEROPT", float("nan"))), bands=bands)
    write_table(table, Path(out).with_suffix(".parquet"))
    return table

