"""Merge human grades with p_CNN into the ranked candidate list.

``lensfinder merge-scores --predictions PRED.parquet --grades GRADES.csv --scheme li2020 --out OUT.parquet``

Schemes
-------
``li2020`` (Li et al. 2020, sections 3.2-3.3)
    A, B, C, D -> 10, 7, 3, 0 (:data:`lensfinder.constants.LI2020_GRADE_SCORES`);
    ``score_mean`` (s_ave), ``score_rms`` (population standard deviation),
    ``p_human = score_mean / 10``, ``P = p_cnn * p_human`` (their eq. 3),
    ``n_zero`` (number of D grades: kept and flagged, as Li et al. did),
    ``quality``: ``golden`` where P >= 0.7, ``high`` where 0.5 <= P < 0.7, else
    ``low`` (``--golden``/``--high``). Rows sorted by P, highest first.
``he2020`` (He et al. 2020, section 4.1)
    2, 1, 0 (definite, possible, non-lens) summed over inspectors into
    ``score_sum``; ``final_list`` where score_sum >= 4 and ``further_vote`` where
    score_sum == 3 (He et al. chose among those by a further vote). Note the
    rule was set for six inspectors. Rows sorted by score_sum, then p_cnn.

Grades CSV
----------
Columns ``object_id,inspector,grade`` (others such as ``time`` are ignored).
A row whose grade is ``UNDO`` (written by the grading page's undo) retracts
the latest earlier grade of the same inspector for the same object; the file
is read in order, so its history is never rewritten.

Policies (documented choices)
-----------------------------
- A grade outside the scheme, an object_id neither in the predictions nor
  in ``--known``, an UNDO with nothing to retract, or a file without a header
  raise :class:`~lensfinder.io.InputError` naming the CSV line.
- The same inspector grading the same object twice is an error naming both
  lines, unless ``--duplicate-policy latest`` (the later line wins; the
  number replaced is logged).
- A header-only grades file is accepted only when the predictions are empty
  too (an empty candidate set gives empty outputs); otherwise it is an error.
- The ranked list holds graded candidates only. Predictions without any grade
  are counted in the log and left out (``--keep-ungraded`` keeps them at the
  end with NaN scores).
- Grades of ``--known`` objects (simulations mixed into the set) measure the
  inspectors and are not ranked.

Beyond the papers
-----------------
``p_lens_skill``
    Skill-weighted posterior lens probability, as Space Warps does for its
    volunteers (Marshall et al. 2016): each inspector's confusion matrix
    P(grade | lens) and P(grade | non-lens) is estimated from the known lenses
    and non-lenses mixed into the set, with one pseudo-count per cell (so an
    inspector with few known objects carries little weight), and the prior
    odds (``--skill-prior``, default 0.5) are multiplied by each inspector's
    likelihood ratio. NaN when no known objects were graded.
Fleiss' kappa
    Inter-inspector agreement over the graded candidates (the version for a
    varying number of raters per object), overall and per grade; logged and
    written as a small table.

Output columns (``--out``; ``--out-csv`` the same as CSV)
---------------------------------------------------------
li2020: ``rank, object_id, p_cnn, n_graders, score_mean, score_rms, p_human,
P, n_zero, n_top, quality, p_lens_skill``; he2020: ``rank, object_id, p_cnn,
n_graders, score_sum, score_mean, n_zero, n_top, final_list, further_vote,
p_lens_skill``. Both then: ``ra, dec`` (deg), ``r_auto_mag``, ``z_phot`` (from
``--catalog``: RAJ2000, DECJ2000, MAG_AUTO, Z_B; NaN without), ``known_lens``
(nullable bool), ``lenscat_name``, ``lenscat_grading``, ``separation_arcsec``
(from ``--crossmatch``; NA without), ``png`` (from ``--manifest``; empty
without), then the remaining prediction columns. ``n_top`` counts the top
grade (A, or 2). ``--out-inspectors`` (default ``<out>.inspectors.csv``):
``inspector, n_graded, n_known_lens, n_known_nonlens, accuracy_known,
p_lensvote_given_lens, p_nonlensvote_given_nonlens, skill_bits``.
``--out-agreement`` (default ``<out>.agreement.csv``): ``category, kappa,
n_objects, n_ratings``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from lensfinder import constants
from lensfinder.plots.style import pyplot as _pyplot
from lensfinder.plots.style import save_figure
from lensfinder.io import InputError, read_table, require_columns, write_csv, write_table, write_text

__all__ = [
    "SCHEMES",
    "UNDO",
    "read_grades",
    "merge_li2020",
    "merge_he2020",
    "inspector_confusion",
    "skill_posterior",
    "fleiss_kappa",
    "merge_scores",
    "ranked_latex",
    "plot_pcnn_vs_phuman",
    "plot_ranked_mosaic",
    "plot_score_histogram",
    "add_merge_scores_arguments",
    "run_merge_scores",
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


def normalize_grade(raw: str, scheme: str) -> str | None:
    """Canonical grade string for ``scheme`` (``UNDO`` kept), or None when invalid."""
    text = str(raw).strip()
    if text.upper() == UNDO:
        return UNDO
    if scheme == "li2020":
        text = text.upper()
    return text if text in SCHEMES[scheme] else None


# ---------------------------------------------------------------- reading


def read_grades(path, scheme: str, *, valid_ids: set[str] | None = None, duplicate_policy: str = "error"):
    """Read a grades CSV into effective grades, checking every line.

    Parameters
    ----------
    path : path-like
        CSV with a header and at least ``object_id,inspector,grade``.
    scheme : {"li2020", "he2020"}
    valid_ids : set of str, optional
        Known object ids; a grade for any other id is an error.
    duplicate_policy : {"error", "latest"}

    Returns
    -------
    pandas.DataFrame
        ``object_id, inspector, grade, score, line`` (1-based CSV line of the
        effective grade), in file order.
    """
    import pandas as pd

    if scheme not in SCHEMES:
        raise InputError(f"--scheme: {scheme!r}: expected one of {', '.join(SCHEMES)}")
    if duplicate_policy not in ("error", "latest"):
        raise InputError(f"--duplicate-policy: {duplicate_policy!r}: expected 'error' or 'latest'")
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: spreadsheet exports
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise InputError(f"{path}: line 1: empty file; expected a header object_id,inspector,grade")
        missing = [c for c in ("object_id", "inspector", "grade") if c not in reader.fieldnames]
        if missing:
            raise InputError(f"{path}: line 1: missing column(s) {', '.join(missing)}; "
                             f"header is {','.join(reader.fieldnames)}")
        effective: dict[tuple[str, str], list[tuple[str, int]]] = {}
        order: list[tuple[str, str, int]] = []
        n_replaced = 0
        for row in reader:
            line = reader.line_num
            oid, inspector = (row.get("object_id") or "").strip(), (row.get("inspector") or "").strip()
            if not oid or not inspector:
                raise InputError(f"{path}: line {line}: empty object_id or inspector")
            grade = normalize_grade(row.get("grade") or "", scheme)
            if grade is None:
                raise InputError(f"{path}: line {line}: grade {row.get('grade')!r} is not in the {scheme} scheme "
                                 f"(expected one of {', '.join(SCHEMES[scheme])} or {UNDO})")
            if valid_ids is not None and oid not in valid_ids:
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
    if n_replaced:
        log.warning("%s: %d repeated grades replaced by the later one (--duplicate-policy latest)", path, n_replaced)
    rows = []
    for oid, inspector, line in order:
        stack = effective[(oid, inspector)]
        if stack and stack[-1][1] == line:
            rows.append((oid, inspector, stack[-1][0], SCHEMES[scheme][stack[-1][0]], line))
    df = pd.DataFrame(rows, columns=["object_id", "inspector", "grade", "score", "line"])
    return df.astype({"object_id": str, "inspector": str, "grade": str, "score": float, "line": np.int64})


# ---------------------------------------------------------------- per-object scores


def _per_object(grades, scheme: str):
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


def merge_li2020(predictions, grades, *, golden: float = 0.7, high: float = 0.5, keep_ungraded: bool = False):
    """Li et al. (2020) ranking: ``p_human = s_ave / 10``, ``P = p_cnn p_human``, quality classes."""
    per = _per_object(grades, "li2020")
    df = predictions[["object_id", "p_cnn"]].merge(per, left_on="object_id", right_index=True, how="left")
    df["n_graders"] = df["n_graders"].fillna(0).astype(np.int64)
    df["p_human"] = df["score_mean"] / 10.0
    df["P"] = df["p_cnn"].astype(float) * df["p_human"]
    df["quality"] = np.where(df["P"] >= golden, "golden", np.where(df["P"] >= high, "high", "low"))
    df.loc[df["n_graders"] == 0, "quality"] = "ungraded"
    df = _drop_ungraded(df, keep_ungraded)
    df = df.sort_values(["P", "p_cnn", "object_id"], ascending=[False, False, True], na_position="last",
                        kind="mergesort")
    cols = ["object_id", "p_cnn", "n_graders", "score_mean", "score_rms", "p_human", "P", "n_zero", "n_top", "quality"]
    return _finish(df[cols])


def merge_he2020(predictions, grades, *, final_min: int = 4, vote_score: int = 3, keep_ungraded: bool = False):
    """He et al. (2020) ranking: summed 2/1/0 scores; >= 4 final, == 3 to a further vote."""
    per = _per_object(grades, "he2020")
    df = predictions[["object_id", "p_cnn"]].merge(per, left_on="object_id", right_index=True, how="left")
    df["n_graders"] = df["n_graders"].fillna(0).astype(np.int64)
    df["final_list"] = (df["score_sum"] >= final_min).fillna(False).astype(bool)
    df["further_vote"] = (df["score_sum"] == vote_score).fillna(False).astype(bool)
    df = _drop_ungraded(df, keep_ungraded)
    df = df.sort_values(["score_sum", "p_cnn", "object_id"], ascending=[False, False, True], na_position="last",
                        kind="mergesort")
    cols = ["object_id", "p_cnn", "n_graders", "score_sum", "score_mean", "n_zero", "n_top", "final_list",
            "further_vote"]
    return _finish(df[cols])


def _drop_ungraded(df, keep_ungraded: bool):
    n = int((df["n_graders"] == 0).sum())
    if n and not keep_ungraded:
        log.info("%d predicted objects have no grades and are not in the ranked list (--keep-ungraded keeps them)", n)
        df = df[df["n_graders"] > 0]
    return df


def _finish(df):
    df = df.reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1, dtype=np.int64))
    for col in ("n_zero", "n_top"):
        df[col] = df[col].astype(float)  # NaN for ungraded rows
    df["n_graders"] = df["n_graders"].astype(np.int64)
    return df


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
        "object_id")["is_lens"].astype(bool)
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


# ---------------------------------------------------------------- the merge


def merge_scores(predictions, grades, scheme: str, *, known=None, catalog=None, crossmatch=None, manifest=None,
                 golden: float = 0.7, high: float = 0.5, keep_ungraded: bool = False, skill_prior: float = 0.5):
    """Ranked list, inspector table and agreement table from predictions and effective grades.

    ``grades`` are effective grades (see :func:`read_grades`); ``known``
    (``object_id, is_lens``) marks mixed-in objects whose truth is known;
    ``catalog`` is the merged KiDS catalogue, ``crossmatch`` the output of
    ``lensfinder crossmatch``, ``manifest`` the inspection manifest (with
    ``png`` already resolved to a usable path).
    """
    import pandas as pd

    known_ids = set() if known is None else set(known["object_id"].astype(str))
    cand_grades = grades[~grades["object_id"].isin(known_ids)]
    if scheme == "li2020":
        ranked = merge_li2020(predictions, cand_grades, golden=golden, high=high, keep_ungraded=keep_ungraded)
    elif scheme == "he2020":
        ranked = merge_he2020(predictions, cand_grades, keep_ungraded=keep_ungraded)
    else:
        raise InputError(f"--scheme: {scheme!r}: expected one of {', '.join(SCHEMES)}")

    known_df = known if known is not None else pd.DataFrame({"object_id": [], "is_lens": []})
    matrices, inspectors = inspector_confusion(grades, known_df, scheme)
    n_known_graded = int(grades["object_id"].isin(known_ids).sum())
    if n_known_graded:
        post = skill_posterior(cand_grades, matrices, prior=skill_prior)
        ranked["p_lens_skill"] = ranked["object_id"].map(post).astype(float)
    else:
        ranked["p_lens_skill"] = np.nan
        if len(ranked):
            log.info("no grades of known objects: p_lens_skill is NaN (mix simulations into the set to measure "
                     "inspectors)")
    agreement = fleiss_kappa(cand_grades, list(SCHEMES[scheme]))

    # catalogue columns (Li et al. Table 1)
    cat_cols = {"RAJ2000": "ra", "DECJ2000": "dec", "MAG_AUTO": "r_auto_mag", "Z_B": "z_phot"}
    if catalog is not None:
        require_columns(catalog, ["ID"], "--catalog", "KiDS catalogue")
        cat = catalog[["ID", *[c for c in cat_cols if c in catalog.columns]]].rename(columns=cat_cols)
        cat = cat.assign(ID=cat["ID"].astype(str)).drop_duplicates("ID").set_index("ID")
        for col in cat_cols.values():
            ranked[col] = ranked["object_id"].map(cat[col]).astype(float) if col in cat.columns else np.nan
    else:
        for col in cat_cols.values():
            ranked[col] = np.nan
    if "ra" in predictions.columns and "dec" in predictions.columns:  # e.g. candidates.parquet
        pos = predictions.drop_duplicates("object_id").set_index("object_id")
        for col in ("ra", "dec"):
            ranked[col] = ranked[col].fillna(ranked["object_id"].map(pos[col]).astype(float))

    xm_cols = ["known_lens", "lenscat_name", "lenscat_grading", "separation_arcsec"]
    if crossmatch is not None:
        require_columns(crossmatch, ["object_id", *xm_cols], "--crossmatch", "lensfinder crossmatch output")
        xm = crossmatch.assign(object_id=crossmatch["object_id"].astype(str)).drop_duplicates("object_id")
        xm = xm.set_index("object_id")
        ranked["known_lens"] = ranked["object_id"].map(xm["known_lens"]).astype("boolean")
        ranked["lenscat_name"] = ranked["object_id"].map(xm["lenscat_name"]).fillna("").astype(str)
        ranked["lenscat_grading"] = ranked["object_id"].map(xm["lenscat_grading"]).fillna("").astype(str)
        ranked["separation_arcsec"] = ranked["object_id"].map(xm["separation_arcsec"]).astype(float)
    else:
        ranked["known_lens"] = pd.array([pd.NA] * len(ranked), dtype="boolean")
        ranked["lenscat_name"] = ""
        ranked["lenscat_grading"] = ""
        ranked["separation_arcsec"] = np.nan
    if manifest is not None:
        ranked["png"] = ranked["object_id"].map(
            manifest.drop_duplicates("object_id").set_index("object_id")["png"]).fillna("").astype(str)
    else:
        ranked["png"] = ""
    extra = [c for c in predictions.columns if c not in ranked.columns and c != "_source"]
    if extra:
        ranked = ranked.merge(predictions[["object_id", *extra]].drop_duplicates("object_id"), on="object_id",
                              how="left")
    return ranked, inspectors, agreement


# ---------------------------------------------------------------- LaTeX


def _tex_escape(text: str) -> str:
    out = []
    for ch in str(text):
        if ch in "&%$#_{}":
            out.append("\\" + ch)
        elif ch == "~":
            out.append(r"\textasciitilde{}")
        elif ch == "^":
            out.append(r"\textasciicircum{}")
        elif ch == "\\":
            out.append(r"\textbackslash{}")
        else:
            out.append(ch)
    return "".join(out)


def _fmt(value, spec: str) -> str:
    try:
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            return "--"
        return format(value, spec)
    except (TypeError, ValueError):
        return "--"


def ranked_latex(ranked, scheme: str = "li2020", *, all_rows: bool = False) -> str:
    """A LaTeX table laid out like Li et al. (2020) Table 1.

    li2020 columns: ID (rank), KiDS name, R.A., Decl. (deg), r_auto, z_phot,
    s_ave, rms, p_CNN, P, number of zero scores; rows with quality golden or
    high (all rows with ``all_rows``). he2020: ID, name, R.A., Decl., score
    sum, p_CNN, final/vote; rows on the final list or to a further vote.
    """
    if scheme == "li2020":
        rows = ranked if all_rows else ranked[ranked["quality"].isin(["golden", "high"])]
        head = (r"ID & KiDS name & R.A. J2000 & Decl. J2000 & $r_\mathrm{auto}$ & $z_\mathrm{phot}$ & "
                r"$s_\mathrm{ave}$ & rms & $p_\mathrm{CNN}$ & $P$ & No. zero scores \\")
        spec = "rlrrrrrrrrr"
        caption = "Properties of the best lens candidates, ranked by $P = p_\\mathrm{CNN} \\times p_\\mathrm{hum}$"
        body = [
            f"{int(r.rank)} & {_tex_escape(r.object_id)} & {_fmt(r.ra, '.5f')} & {_fmt(r.dec, '.5f')} & "
            f"{_fmt(r.r_auto_mag, '.2f')} & {_fmt(r.z_phot, '.2f')} & {_fmt(r.score_mean, '.2f')} & "
            f"{_fmt(r.score_rms, '.2f')} & {_fmt(r.p_cnn, '.3f')} & {_fmt(r.P, '.3f')} & "
            f"{_fmt(r.n_zero, '.0f')} \\\\"
            for r in rows.itertuples(index=False)
        ]
    else:
        rows = ranked if all_rows else ranked[ranked["final_list"] | ranked["further_vote"]]
        head = r"ID & KiDS name & R.A. J2000 & Decl. J2000 & Score & $p_\mathrm{CNN}$ & Status \\"
        spec = "rlrrrrl"
        caption = "Lens candidates by summed inspector score (He et al. 2020, section 4.1)"
        body = [
            f"{int(r.rank)} & {_tex_escape(r.object_id)} & {_fmt(r.ra, '.5f')} & {_fmt(r.dec, '.5f')} & "
            f"{_fmt(r.score_sum, '.0f')} & {_fmt(r.p_cnn, '.6f')} & "
            f"{'final' if r.final_list else ('vote' if r.further_vote else '')} \\\\"
            for r in rows.itertuples(index=False)
        ]
    if not body:
        body = [f"\\multicolumn{{{len(spec)}}}{{c}}{{no candidates}} \\\\"]
    return "\n".join([
        r"\begin{table*}",
        r"\centering",
        f"\\caption{{{caption}}}",
        f"\\begin{{tabular}}{{{spec}}}",
        r"\hline",
        head,
        r"\hline",
        *body,
        r"\hline",
        r"\end{tabular}",
        r"\end{table*}",
        "",
    ])


# ---------------------------------------------------------------- figures


def _save(fig, path) -> Path:
    return save_figure(fig, path, dpi=150, bbox_inches=None)


def plot_pcnn_vs_phuman(ranked_df, path, *, golden: float = 0.7, high: float = 0.5) -> Path:
    """p_CNN against p_human (Li et al. 2020, Fig. 5), written atomically.

    Blue plus signs mark candidates with at least one A (score 10), red plus
    signs those with at least one D (score 0); dashed curves are P = 0.5 and
    P = 0.7.
    """
    plt = _pyplot()
    df = ranked_df[ranked_df["n_graders"] > 0] if len(ranked_df) else ranked_df
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.scatter(df["p_human"], df["p_cnn"], s=12, c="0.4", label=f"candidates ({len(df)})")
    top, zero = df[df["n_top"] > 0], df[df["n_zero"] > 0]
    # D marks first, A marks larger on top, so a point with both shows both
    ax.scatter(zero["p_human"], zero["p_cnn"], marker="+", s=35, c="tab:red", label=">= 1 grade D (0)")
    ax.scatter(top["p_human"], top["p_cnn"], marker="+", s=110, linewidths=0.9, c="tab:blue",
               label=">= 1 grade A (10)")
    x = np.linspace(0.01, 1, 200)
    for level in (high, golden):
        ax.plot(x, np.where(level / x <= 1.0, level / x, np.nan), "--", lw=0.8, c="0.6")
        ax.text(level + 0.01, 0.995, f"P={level:g}", fontsize=7, color="0.4", va="top")
    ax.set_xlim(-0.02, 1.02)
    ymin = float(np.nanmin(df["p_cnn"])) if len(df) else 0.0
    ax.set_ylim(min(ymin, 0.7) - 0.02, 1.01)
    ax.set_xlabel(r"$p_\mathrm{hum}$")
    ax.set_ylabel(r"$p_\mathrm{CNN}$")
    if not len(df):
        ax.text(0.5, 0.85, "no graded candidates", ha="center", transform=ax.transAxes)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return _save(fig, path)


def plot_score_histogram(ranked_df, path, *, scheme: str = "he2020", min_score: float = 3) -> Path:
    """Distribution of inspector scores (He et al. 2020, Fig. 6), written atomically.

    he2020: summed scores of candidates with ``score_sum >= min_score`` (He et
    al. show those with 3 or more); li2020: the mean score s_ave of all graded
    candidates.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if scheme == "he2020":
        values = ranked_df.loc[ranked_df["score_sum"] >= min_score, "score_sum"].to_numpy(dtype=float)
        top = int(np.nanmax(values)) if len(values) else int(min_score) + 1
        ax.hist(values, bins=np.arange(min_score - 0.5, top + 1.5, 1.0), color="tab:blue", edgecolor="k")
        ax.set_xlabel(f"summed score (>= {min_score:g})")
    else:
        values = ranked_df["score_mean"].dropna().to_numpy(dtype=float)
        ax.hist(values, bins=np.linspace(0, 10, 21), color="tab:blue", edgecolor="k")
        ax.set_xlabel(r"$s_\mathrm{ave}$")
    ax.set_ylabel("number of candidates")
    if not len(values):
        ax.text(0.5, 0.5, "no candidates", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    return _save(fig, path)


def plot_ranked_mosaic(ranked_df, path, *, base_dir=None, manifest=None, stamps: dict | None = None,
                       max_n: int = 82, ncols: int = 10, scheme: str = "li2020") -> Path:
    """Stamps of the best candidates ranked by P (Li et al. 2020, Fig. 8), written atomically.

    Images come from ``stamps`` (``{object_id: 2-D array}``, e.g. from
    :func:`lensfinder.inspection.candidates.load_stamps`) where given, else from the PNG
    paths in ``ranked_df['png']`` or, where empty, ``manifest`` (``object_id,
    png``); relative paths are taken from ``base_dir``. Candidates without an
    image are skipped (logged). Rows are drawn in ``ranked_df`` order.
    """
    from lensfinder.inspection.candidates import write_mosaic

    base = Path(base_dir) if base_dir is not None else Path(".")
    pngs = ranked_df["png"].astype(str) if "png" in ranked_df.columns else ranked_df["object_id"].map(lambda _: "")
    if manifest is not None:
        lookup = manifest.drop_duplicates("object_id").set_index("object_id")["png"].astype(str)
        pngs = pngs.where(pngs != "", ranked_df["object_id"].map(lookup).fillna(""))
    paths, labels = [], []
    for row, png in zip(ranked_df.itertuples(index=False), pngs):
        if len(paths) >= max_n:
            break
        if stamps is not None and row.object_id in stamps:
            paths.append(stamps[row.object_id])
        elif not png:
            continue
        else:
            p = Path(png) if Path(png).is_absolute() else base / png
            if not p.exists():
                log.warning("%s: stamp PNG not found for %s; left out of the mosaic", p, row.object_id)
                continue
            paths.append(p)
        label = f"{int(row.rank)}  P={row.P:.2f}" if scheme == "li2020" else f"{int(row.rank)}  s={row.score_sum:.0f}"
        labels.append(label)
    return write_mosaic(paths, labels, path, ncols=ncols, title="candidates ranked by "
                        + ("P = p_CNN x p_hum" if scheme == "li2020" else "summed score"))


# ---------------------------------------------------------------- CLI


def add_merge_scores_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", nargs="+", required=True, metavar="PARQUET",
                        help="predictions with object_id, p_cnn (e.g. results/inspect/candidates.parquet)")
    parser.add_argument("--grades", required=True, help="grades CSV (object_id,inspector,grade[,time])")
    parser.add_argument("--scheme", choices=sorted(SCHEMES), default="li2020", help="grading scheme")
    parser.add_argument("--out", required=True, help="ranked list (Parquet)")
    parser.add_argument("--out-csv", default=None, help="the ranked list as CSV")
    parser.add_argument("--out-tex", default=None, help="LaTeX table like Li et al. 2020 Table 1")
    parser.add_argument("--tex-all", action="store_true", help="all ranked rows in the LaTeX table, not only P >= high")
    parser.add_argument("--out-inspectors", default=None, help="inspector skill table (default <out>.inspectors.csv)")
    parser.add_argument("--out-agreement", default=None, help="Fleiss' kappa table (default <out>.agreement.csv)")
    parser.add_argument("--catalog", default=None, help="merged catalogue (ID, RAJ2000, DECJ2000, MAG_AUTO, Z_B)")
    parser.add_argument("--crossmatch", default=None, help="output of lensfinder crossmatch")
    parser.add_argument("--known", default=None,
                        help="known mixed-in objects (object_id, is_lens): results/inspect/known.parquet")
    parser.add_argument("--manifest", default=None, help="inspection manifest; adds the png column")
    parser.add_argument("--duplicate-policy", choices=["error", "latest"], default="error",
                        help="same inspector grading the same object twice: error (default) or keep the latest")
    parser.add_argument("--keep-ungraded", action="store_true", help="keep predictions without grades (NaN scores)")
    parser.add_argument("--golden", type=float, default=0.7, help="P threshold of the golden sample (Li et al.: 0.7)")
    parser.add_argument("--high", type=float, default=0.5, help="P threshold of the high-quality sample (0.5)")
    parser.add_argument("--skill-prior", type=float, default=0.5, help="prior lens probability of p_lens_skill")


def _sibling(out: Path, suffix: str) -> Path:
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(stem + suffix)


def run_merge_scores(args: argparse.Namespace) -> int:
    import pandas as pd

    parts = []
    for path in args.predictions:
        part = read_table(path, required=["object_id", "p_cnn"])
        parts.append(part.assign(object_id=part["object_id"].astype(str)))
    predictions = pd.concat(parts, ignore_index=True)
    dup = predictions["object_id"].duplicated()
    if dup.any():
        raise InputError(f"--predictions: object_id {predictions.loc[dup, 'object_id'].iloc[0]!r} appears more "
                         f"than once")
    known = None
    if args.known:
        known = read_table(args.known, required=["object_id", "is_lens"])
        known = known.assign(object_id=known["object_id"].astype(str))
    valid = set(predictions["object_id"]) | (set() if known is None else set(known["object_id"]))
    grades = read_grades(args.grades, args.scheme, valid_ids=valid, duplicate_policy=args.duplicate_policy)
    if not len(grades) and len(predictions):
        raise InputError(f"{args.grades}: no grades (header only) for {len(predictions)} predicted objects")
    manifest = None
    if args.manifest:
        manifest = read_table(args.manifest, required=["object_id", "png"])
        base = Path(args.manifest).parent
        manifest = manifest.assign(object_id=manifest["object_id"].astype(str),
                                   png=[str(base / p) if p else "" for p in manifest["png"].astype(str)])
    ranked, inspectors, agreement = merge_scores(
        predictions, grades, args.scheme,
        known=known,
        catalog=read_table(args.catalog) if args.catalog else None,
        crossmatch=read_table(args.crossmatch) if args.crossmatch else None,
        manifest=manifest,
        golden=args.golden, high=args.high, keep_ungraded=args.keep_ungraded, skill_prior=args.skill_prior,
    )
    out = Path(args.out)
    write_table(ranked, out)
    if args.out_csv:
        write_csv(ranked, args.out_csv)
    if args.out_tex:
        write_text(ranked_latex(ranked, args.scheme, all_rows=args.tex_all), args.out_tex)
    write_csv(inspectors, args.out_inspectors or _sibling(out, ".inspectors.csv"))
    write_csv(agreement, args.out_agreement or _sibling(out, ".agreement.csv"))
    overall = agreement.iloc[0]
    log.info("Fleiss' kappa over %d candidates (%d grades): %.3f", overall["n_objects"], overall["n_ratings"],
             overall["kappa"])
    for row in inspectors.itertuples(index=False):
        log.info("inspector %s: %d grades, %d/%d known lenses/non-lenses, skill %.2f bits", row.inspector,
                 row.n_graded, row.n_known_lens, row.n_known_nonlens, row.skill_bits)
    if args.scheme == "li2020":
        counts = ranked["quality"].value_counts()
        log.info("ranked %d candidates: %d golden (P >= %g), %d high (P >= %g)", len(ranked),
                 counts.get("golden", 0), args.golden, counts.get("high", 0), args.high)
    else:
        log.info("ranked %d candidates: %d on the final list (score >= 4), %d to a further vote (score 3)",
                 len(ranked), int(ranked["final_list"].sum()), int(ranked["further_vote"].sum()))
    return 0
