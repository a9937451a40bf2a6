"""Human grades: the grading schemes, reading a grades CSV, per-object scores, inspector skill and agreement.

The schemes, the CSV's undo records and the reading policies are described in
docs/inspection.md.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from lensfinder import constants
from lensfinder.io import InputError, bool_column

__all__ = [
    "SCHEMES",
    "LENS_VOTES",
    "UNDO",
    "GRADES_COLUMNS",
    "normalize_grade",
    "read_grades",
    "NOTES_COLUMNS",
    "notes_path",
    "read_notes",
    "per_object_scores",
    "inspector_confusion",
    "skill_posterior",
    "fleiss_kappa",
]

log = logging.getLogger(__name__)

#: scheme -> {grade: score}, best grade first.
SCHEMES: dict[str, dict[str, int]] = {
    "li2020": dict(constants.LI2020_GRADE_SCORES),
    "he2020": dict(constants.HE2020_GRADE_SCORES),
}
#: Grades that count as a "lens" vote when binarising (inspector summary table).
LENS_VOTES = {"li2020": {"A", "B"}, "he2020": {"2", "1"}}
#: Grade value of an undo record written by the grading page.
UNDO = "UNDO"
#: Columns of a grades CSV as written by the grading page and the simulated inspectors.
GRADES_COLUMNS = ["object_id", "inspector", "grade", "time"]
#: Columns of the notes CSV the grading page writes beside a grades CSV (:func:`notes_path`).
NOTES_COLUMNS = ["object_id", "inspector", "flags", "comment", "time"]


def normalize_grade(raw: str, scheme: str) -> str | None:
    """Canonical grade string for ``scheme`` (``UNDO`` kept), or None when invalid."""
    text = str(raw).strip()
    if text.upper() == UNDO:
        return UNDO
    if scheme == "li2020":
        text = text.upper()
    return text if text in SCHEMES[scheme] else None


def _utf8_text(path: Path) -> str:
    """The whole file as text; a byte that is not UTF-8 is an error naming its line."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")  # -sig: spreadsheet exports start with a byte-order mark
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{path}: line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8 text; "
                         f"save the file as UTF-8 (e.g. from a spreadsheet: CSV UTF-8)") from None


class _Records:
    """The records of a CSV text with a header, each with the line it starts on: a quoted field may span
    lines, and an error should name where its record begins. Blank lines are skipped."""

    def __init__(self, text: str):
        self._raw = csv.reader(io.StringIO(text, newline=""))
        self.fieldnames = next(self._raw, None) or []
        self.next_line = self._raw.line_num + 1  # where the next record (or a csv.Error) begins

    def __iter__(self):
        for values in self._raw:
            line, self.next_line = self.next_line, self._raw.line_num + 1
            if values:
                yield line, dict(zip(self.fieldnames, values))


def read_grades(path, scheme: str, *, valid_ids: set[str] | None = None, duplicate_policy: str = "error",
                unknown_ids: str = "error"):
    """Read a grades CSV into effective grades, checking every line.

    Parameters
    ----------
    path : path-like
        CSV with a header and at least ``object_id,inspector,grade``.
    scheme : {"li2020", "he2020"}
    valid_ids : set of str, optional
        Known object ids; a grade for any other id is an error (``unknown_ids``).
    duplicate_policy : {"error", "latest"}
        The same inspector grading the same object twice: an error naming both
        lines, or the later grade wins.
    unknown_ids : {"error", "keep"}
        A grade for an id outside ``valid_ids``: an error naming the line, or
        kept as written, for the caller to set aside (a retraining round's
        grades of objects outside the search, a summary page of some of the
        graded objects). Either way a valid id is matched as below.

    Returns
    -------
    pandas.DataFrame
        ``object_id, inspector, grade, score, line`` (1-based CSV line of the
        effective grade), in file order. A row whose grade is :data:`UNDO`
        retracts the latest earlier grade of that inspector for that object.

    Raises
    ------
    InputError
        Naming the CSV line: a grade outside the scheme, an id not in
        ``valid_ids``, an undo with nothing to retract, a missing header.
    """
    import pandas as pd

    if scheme not in SCHEMES:
        raise InputError(f"--scheme: {scheme!r}: expected one of {', '.join(SCHEMES)}")
    if duplicate_policy not in ("error", "latest"):
        raise InputError(f"--duplicate-policy: {duplicate_policy!r}: expected 'error' or 'latest'")
    if unknown_ids not in ("error", "keep"):
        raise ValueError(f"unknown_ids: {unknown_ids!r}: expected 'error' or 'keep'")
    strict = valid_ids is not None and unknown_ids == "error"
    path = Path(path)
    reader = _Records(_utf8_text(path))
    try:
        if not reader.fieldnames:
            raise InputError(f"{path}: line 1: empty file; expected a header object_id,inspector,grade")
        missing = [c for c in ("object_id", "inspector", "grade") if c not in reader.fieldnames]
        if missing:
            raise InputError(f"{path}: line 1: missing column(s) {', '.join(missing)}; "
                             f"header is {','.join(reader.fieldnames)}")
        effective: dict[tuple[str, str], list[tuple[str, int]]] = {}
        order: list[tuple[str, str, int]] = []
        n_replaced = 0
        for line, row in reader:
            # an id is kept as written (a manifest's id may end in a space), unless only its stripped
            # form is a valid one (a hand-edited "obj1 , ann, A")
            oid, inspector = row.get("object_id") or "", (row.get("inspector") or "").strip()
            if valid_ids is not None and oid not in valid_ids and (strict or oid.strip() in valid_ids):
                oid = oid.strip()
            if not oid.strip() or not inspector:
                raise InputError(f"{path}: line {line}: empty object_id or inspector")
            grade = normalize_grade(row.get("grade") or "", scheme)
            if grade is None:
                raise InputError(f"{path}: line {line}: grade {row.get('grade')!r} is not in the {scheme} scheme "
                                 f"(expected one of {', '.join(SCHEMES[scheme])} or {UNDO})")
            if strict and oid not in valid_ids:
                raise InputError(f"{path}: line {line}: object_id {oid!r} is not in the predictions (nor --known)")
            key = (oid, inspector)
            stack = effective.setdefault(key, [])
            if grade == UNDO:
                if not stack:
                    raise InputError(f"{path}: line {line}: {UNDO} for {oid!r} by {inspector!r} has no earlier "
                                     f"grade to retract")
                stack.pop()
                continue
            if stack:
                if duplicate_policy == "error":
                    raise InputError(f"{path}: line {line}: inspector {inspector!r} already graded {oid!r} on line "
                                     f"{stack[-1][1]}; use --duplicate-policy latest to keep the later grade")
                n_replaced += 1
            stack.append((grade, line))
            order.append((oid, inspector, line))
    except csv.Error as exc:  # e.g. a field over csv's size limit
        raise InputError(f"{path}: line {reader.next_line}: not a readable CSV line ({exc})") from None
    if n_replaced:
        log.warning("%s: %d repeated grades replaced by the later one (--duplicate-policy latest)", path, n_replaced)
    rows = []
    for oid, inspector, line in order:
        stack = effective[(oid, inspector)]
        if stack and stack[-1][1] == line:
            rows.append((oid, inspector, stack[-1][0], SCHEMES[scheme][stack[-1][0]], line))
    df = pd.DataFrame(rows, columns=["object_id", "inspector", "grade", "score", "line"])
    return df.astype({"object_id": str, "inspector": str, "grade": str, "score": float, "line": np.int64})


def notes_path(grades_path) -> Path:
    """The notes CSV beside a grades CSV: ``human_grades.csv`` -> ``human_grades.notes.csv``."""
    grades_path = Path(grades_path)
    return grades_path.with_name(f"{grades_path.stem}.notes.csv")


def read_notes(path):
    """Each inspector's latest flags and comment per object from a notes CSV (:data:`NOTES_COLUMNS`).

    The file is an append-only log; the last line for an (object, inspector)
    wins, and an empty note (no flags, no comment) clears it. A missing file
    reads as no notes.

    Returns
    -------
    pandas.DataFrame
        ``object_id, inspector, flags, comment, time``; ``flags`` is
        ``;``-separated.
    """
    import pandas as pd

    path = Path(path)
    latest: dict[tuple[str, str], dict] = {}
    if path.exists():
        reader = _Records(_utf8_text(path))
        try:
            missing = [c for c in ("object_id", "inspector", "flags", "comment") if c not in reader.fieldnames]
            if missing:
                raise InputError(f"{path}: line 1: missing column(s) {', '.join(missing)}; expected a header "
                                 f"{','.join(NOTES_COLUMNS)}")
            for _, row in reader:
                # the id as written, as the grades' (a manifest's id may end in a space)
                key = (row.get("object_id") or "", (row.get("inspector") or "").strip())
                latest.pop(key, None)  # keep file order of the latest notes
                if (row.get("flags") or "").strip() or (row.get("comment") or "").strip():
                    latest[key] = {c: row.get(c) or "" for c in NOTES_COLUMNS}
        except csv.Error as exc:
            raise InputError(f"{path}: line {reader.next_line}: not a readable CSV line ({exc})") from None
    return pd.DataFrame(list(latest.values()), columns=NOTES_COLUMNS).astype(str)


# ---------------------------------------------------------------- per-object scores


def per_object_scores(grades, scheme: str):
    """Grade statistics per object from effective grades (see :func:`read_grades`).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``object_id``: ``n_graders``, ``score_sum``, ``score_mean``,
        ``score_rms`` (population standard deviation, as in Li et al. 2020,
        Table 1), ``n_zero`` (number of worst grades: D, or 0) and ``n_top``
        (number of best grades: A, or 2).
    """
    import pandas as pd

    best = next(iter(SCHEMES[scheme]))
    worst = list(SCHEMES[scheme])[-1]
    if not len(grades):
        return pd.DataFrame(columns=["n_graders", "score_sum", "score_mean", "score_rms", "n_zero", "n_top"],
                            index=pd.Index([], name="object_id"), dtype=float)
    g = grades.groupby("object_id")
    out = pd.DataFrame({
        "n_graders": g["score"].size(),
        "score_sum": g["score"].sum(),
        "score_mean": g["score"].mean(),
        "score_rms": g["score"].std(ddof=0),  # population standard deviation, as in Li et al. Table 1
        "n_zero": g["grade"].apply(lambda s: int((s == worst).sum())),
        "n_top": g["grade"].apply(lambda s: int((s == best).sum())),
    })
    return out


# ---------------------------------------------------------------- skill and agreement


def inspector_confusion(grades, known, scheme: str, pseudo_count: float = 1.0):
    """Per-inspector confusion matrices from grades of known lenses and non-lenses.

    Parameters
    ----------
    grades : pandas.DataFrame
        Effective grades (``object_id, inspector, grade``).
    known : pandas.DataFrame
        ``object_id, is_lens`` of the objects with known truth.
    pseudo_count : float
        Added to every cell, so inspectors with few known objects stay close
        to uninformative (likelihood ratio 1).

    Returns
    -------
    dict
        inspector -> (P(grade | lens), P(grade | non-lens)) as dicts over the
        scheme's grades.
    summary : pandas.DataFrame
        ``inspector, n_graded, n_known_lens, n_known_nonlens, accuracy_known,
        p_lensvote_given_lens, p_nonlensvote_given_nonlens, skill_bits``;
        ``skill_bits`` is the mutual information between truth (equal prior)
        and the inspector's grade, 0 (guessing) to 1 (perfect).
    """
    import pandas as pd

    levels = list(SCHEMES[scheme])
    truth = known.assign(object_id=known["object_id"].astype(str)).drop_duplicates("object_id").set_index(
        "object_id")["is_lens"]
    truth = pd.Series(bool_column(truth.to_numpy(), "known objects", "is_lens"), index=truth.index)
    matrices, rows = {}, []
    for inspector, g in grades.groupby("inspector", sort=True):
        on_known = g[g["object_id"].isin(truth.index)]
        is_lens = truth.reindex(on_known["object_id"]).to_numpy(dtype=bool)
        grade = on_known["grade"].to_numpy()
        c_lens = np.array([np.sum((grade == lv) & is_lens) for lv in levels], dtype=float)
        c_non = np.array([np.sum((grade == lv) & ~is_lens) for lv in levels], dtype=float)
        p_l = (c_lens + pseudo_count) / (c_lens.sum() + pseudo_count * len(levels))
        p_n = (c_non + pseudo_count) / (c_non.sum() + pseudo_count * len(levels))
        matrices[inspector] = (dict(zip(levels, p_l)), dict(zip(levels, p_n)))
        lens_vote = np.isin(grade, list(LENS_VOTES[scheme]))
        mix = 0.5 * (p_l + p_n)
        skill = float(np.sum(0.5 * p_l * np.log2(p_l / mix) + 0.5 * p_n * np.log2(p_n / mix)))
        n_l, n_n = int(is_lens.sum()), int((~is_lens).sum())
        rows.append({
            "inspector": inspector,
            "n_graded": int(len(g)),
            "n_known_lens": n_l,
            "n_known_nonlens": n_n,
            "accuracy_known": float(np.mean(lens_vote == is_lens)) if len(grade) else np.nan,
            "p_lensvote_given_lens": float(np.mean(lens_vote[is_lens])) if n_l else np.nan,
            "p_nonlensvote_given_nonlens": float(np.mean(~lens_vote[~is_lens])) if n_n else np.nan,
            "skill_bits": skill,
        })
    summary = pd.DataFrame(rows, columns=["inspector", "n_graded", "n_known_lens", "n_known_nonlens",
                                          "accuracy_known", "p_lensvote_given_lens",
                                          "p_nonlensvote_given_nonlens", "skill_bits"])
    return matrices, summary


def skill_posterior(grades, matrices: dict, prior: float = 0.5):
    """Posterior lens probability per object: prior odds times each inspector's likelihood ratio.

    Returns a pandas Series indexed by ``object_id``.
    """
    import pandas as pd

    if not 0.0 < prior < 1.0:
        raise InputError(f"--skill-prior: {prior}: expected a probability strictly between 0 and 1")
    log_lr = [
        math.log(matrices[i][0][g]) - math.log(matrices[i][1][g]) for i, g in zip(grades["inspector"], grades["grade"])
    ]
    total = pd.Series(log_lr, index=grades["object_id"].to_numpy(), dtype=float).groupby(level=0).sum()
    log_odds = math.log(prior / (1.0 - prior)) + total
    return 1.0 / (1.0 + np.exp(-log_odds))


def fleiss_kappa(grades, categories: Sequence[str]):
    """Fleiss' kappa for objects rated by a varying number of inspectors.

    Objects with fewer than two grades are skipped. Returns a DataFrame
    ``category, kappa, n_objects, n_ratings``: the first row (``all``) is the
    overall kappa, the others the per-grade kappas (Fleiss 1971, eq. 14, for
    unequal rater counts). NaN where undefined (one category used throughout).
    """
    import pandas as pd

    counts = pd.crosstab(grades["object_id"], grades["grade"]).reindex(columns=list(categories), fill_value=0)
    counts = counts.to_numpy(dtype=float)
    n_i = counts.sum(axis=1)
    counts, n_i = counts[n_i >= 2], n_i[n_i >= 2]
    rows = []
    if len(n_i) == 0:
        rows.append(("all", np.nan, 0, 0))
        rows += [(c, np.nan, 0, 0) for c in categories]
    else:
        p_i = (np.sum(counts**2, axis=1) - n_i) / (n_i * (n_i - 1))
        p_j = counts.sum(axis=0) / n_i.sum()
        p_e = float(np.sum(p_j**2))
        kappa = (float(np.mean(p_i)) - p_e) / (1.0 - p_e) if p_e < 1.0 else np.nan
        rows.append(("all", kappa, len(n_i), int(n_i.sum())))
        denom = np.sum(n_i * (n_i - 1)) * p_j * (1.0 - p_j)
        for j, cat in enumerate(categories):
            num = np.sum(counts[:, j] * (n_i - counts[:, j]))
            rows.append((cat, 1.0 - num / denom[j] if denom[j] > 0 else np.nan, len(n_i), int(n_i.sum())))
    return pd.DataFrame(rows, columns=["category", "kappa", "n_objects", "n_ratings"]).astype(
        {"category": str, "kappa": float, "n_objects": np.int64, "n_ratings": np.int64})
