"""Simulated inspectors, for the mock survey only: grades as noisy functions of the truth.

Their names start with ``simulated-`` so that they cannot be mistaken for people.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from lensfinder.inspection.grades import GRADES_COLUMNS
from lensfinder.io import InputError, read_table, require_columns

__all__ = ["MOCK_CUTS", "MOCK_CONFUSERS", "mock_inspector_grades", "read_truth", "truth_of_pieces",
           "mock_grades_for_manifest"]

log = logging.getLogger(__name__)


#: Latent-score cut points of the simulated inspectors (upper edge first).
MOCK_CUTS = {
    "li2020": [(0.75, "A"), (0.5, "B"), (0.25, "C"), (-np.inf, "D")],
    "he2020": [(0.7, "2"), (0.4, "1"), (-np.inf, "0")],
}


#: Mock-survey object types that look lens-like to people (Li et al. 2020, Fig. 6:
#: rings, spiral arms and interactions mimic arcs).
MOCK_CONFUSERS = ("ring", "merger", "spiral")


def mock_inspector_grades(object_ids: Sequence[str], is_lens: Sequence[bool], theta_E_arcsec: Sequence[float],
                          scheme: str = "li2020", n_inspectors: int = 5, seed: int = 42,
                          object_type: Sequence[str] | None = None):
    """Grades from simulated inspectors: noisy functions of the truth.

    Each inspector ``k`` has a skill ``s_k`` drawn in [0.55, 0.95] and a bias
    ``b_k ~ N(0, 0.05)``. An object's latent "lensiness" is
    ``0.45 + 0.45 tanh(theta_E / 1")`` for a lens (bigger Einstein radii are
    easier to see), 0.3 for non-lenses whose truth ``object_type`` is one of
    :data:`MOCK_CONFUSERS`, and 0.12 otherwise; inspector ``k`` sees it with Gaussian
    noise of sigma ``0.05 + 0.4 (1 - s_k)`` and grades it by fixed cut points
    (li2020: A >= 0.75 > B >= 0.5 > C >= 0.25 > D; he2020: 2 >= 0.7 > 1 >=
    0.4 > 0). Objects are graded in a per-inspector seeded order with seeded
    times, so the same seed gives the same file.

    Returns
    -------
    pandas.DataFrame
        ``object_id, inspector, grade, time`` (ISO 8601 UTC); inspectors are
        named ``simulated-1`` ... ``simulated-N``.
    """
    import pandas as pd

    if scheme not in MOCK_CUTS:
        raise InputError(f"--scheme: {scheme!r}: expected one of {', '.join(MOCK_CUTS)}")
    ids = np.asarray(list(map(str, object_ids)), dtype=object)
    lens = np.asarray(is_lens, dtype=bool)
    theta = np.nan_to_num(np.asarray(theta_E_arcsec, dtype=float), nan=0.0)
    confuser = np.zeros(len(ids), dtype=bool) if object_type is None else \
        np.isin(np.asarray(list(map(str, object_type)), dtype=object), MOCK_CONFUSERS)
    latent = np.where(lens, 0.45 + 0.45 * np.tanh(np.clip(theta, 0, None) / 1.0), np.where(confuser, 0.3, 0.12))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 61]))
    skill = rng.uniform(0.55, 0.95, n_inspectors)
    bias = rng.normal(0.0, 0.05, n_inspectors)
    start = np.datetime64("2020-01-01T09:00:00", "s")
    rows = []
    for k in range(n_inspectors):
        sigma = 0.05 + 0.4 * (1.0 - skill[k])
        seen = latent + bias[k] + rng.normal(0.0, sigma, len(ids))
        grades = np.empty(len(ids), dtype=object)
        grades[:] = MOCK_CUTS[scheme][-1][1]
        for cut, grade in reversed(MOCK_CUTS[scheme][:-1]):
            grades[seen >= cut] = grade
        order = rng.permutation(len(ids))
        seconds = np.cumsum(rng.integers(2, 15, len(ids)))
        t0 = start + np.timedelta64(3600 * k, "s")
        for j, idx in enumerate(order):
            rows.append((ids[idx], f"simulated-{k + 1}", grades[idx],
                         str(t0 + np.timedelta64(int(seconds[j]), "s")) + "+00:00"))
    return pd.DataFrame(rows, columns=GRADES_COLUMNS).astype(str)


def read_truth(paths: Sequence):
    """Truth tables as one table indexed by ``object_id``: ``is_lens``, ``theta_E`` (arcsec), ``object_type``.

    Each table is a mock-survey truth table (``ID, is_lens, theta_E``, ...)
    or an inspection set's ``known.parquet`` (``object_id, is_lens,
    theta_E``); the first row of an id wins. Missing ``theta_E`` is NaN,
    missing ``object_type`` empty.
    """
    import pandas as pd

    parts = []
    for path in paths:
        t = read_table(path)
        key = "object_id" if "object_id" in t.columns else "ID"
        require_columns(t, [key, "is_lens"], str(path), "truth table")
        part = pd.DataFrame({"object_id": t[key].astype(str), "is_lens": t["is_lens"].astype(bool),
                             "theta_E": t["theta_E"].astype(float) if "theta_E" in t.columns else np.nan,
                             "object_type": t["object_type"].astype(str) if "object_type" in t.columns else ""})
        parts.append(part)
    return pd.concat(parts, ignore_index=True).drop_duplicates("object_id", keep="first").set_index("object_id")


def truth_of_pieces(truth, positions, parents):
    """``truth`` with rows for the detections of ``positions`` it lacks: pieces of objects.

    The mock catalogue detects pieces of objects (a lensed arc, a ring's
    knot) as sources without a truth row. A person shown such a stamp sees
    the object it belongs to, so each takes its parent's truth
    (:func:`lensfinder.learning.rounds.evaluation_truth`: the nearest truth
    position within a few arcsec): a piece of a lens is graded as that lens
    (its Einstein radius), a ring's knot as a ring; pieces of nothing stay
    plain non-lenses.

    Parameters
    ----------
    truth : pandas.DataFrame
        From :func:`read_truth`.
    positions : pandas.DataFrame
        ``object_id, ra, dec`` (deg) of the graded survey objects.
    parents : pandas.DataFrame
        Mock-survey truth rows with ``ra, dec`` (detected or not).
    """
    import pandas as pd

    from lensfinder.learning.rounds import evaluation_truth

    orphans = positions[~positions["object_id"].astype(str).isin(truth.index)]
    if orphans.empty or parents.empty:
        return truth
    resolved = evaluation_truth(orphans[["object_id", "ra", "dec"]], parents)
    log.info("%d objects without a truth row are pieces of a lens, graded as that lens",
             int(resolved["lens_piece"].sum()))
    pieces = pd.DataFrame({"is_lens": resolved["lens_piece"].astype(bool), "theta_E": resolved["theta_E"],
                           "object_type": resolved["object_type"]}, index=resolved.index)
    return pd.concat([truth, pieces[~pieces.index.duplicated()]])


def mock_grades_for_manifest(manifest, truth, *, scheme: str = "li2020", n_inspectors: int = 5, seed: int = 42):
    """:func:`mock_inspector_grades` of every object of an inspection manifest.

    Parameters
    ----------
    manifest : pandas.DataFrame
        Inspection manifest (``object_id``, ...).
    truth : pandas.DataFrame
        From :func:`read_truth` (and :func:`truth_of_pieces`); manifest
        objects without a truth row are graded as non-lenses (logged).
    """
    ids = manifest["object_id"].astype(str)
    missing = ~ids.isin(truth.index)
    if missing.any():
        log.warning("%d manifest objects have no truth row and are graded as non-lenses (e.g. %s)",
                    int(missing.sum()), ids[missing].iloc[0])
    t = truth.reindex(ids)
    if n_inspectors < 1:
        raise InputError(f"--n-inspectors: {n_inspectors}: expected at least 1")
    return mock_inspector_grades(ids.tolist(), t["is_lens"].fillna(False).astype(bool).to_numpy(),
                                 t["theta_E"].to_numpy(dtype=float), scheme=scheme,
                                 n_inspectors=n_inspectors, seed=seed,
                                 object_type=t["object_type"].fillna("").astype(str).tolist())
