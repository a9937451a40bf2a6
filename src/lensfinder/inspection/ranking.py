"""The ranked candidate list: human grades merged with p_CNN (P = p_CNN x p_hum, or summed scores).

Both papers' rankings (Li et al. 2020; He et al. 2020), the inspectors' skill
and agreement, and the catalogue, cross-match and stamp columns; the schemes,
policies and output columns are described in docs/inspection.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from lensfinder.inspection.grades import (
    SCHEMES,
    fleiss_kappa,
    inspector_confusion,
    per_object_scores,
    read_grades,
    skill_posterior,
)
from lensfinder.inspection.candidates import score_tie_breakers, sort_by_score
from lensfinder.inspection.catalogue import (
    add_catalogue_columns,
    catalogue_bytes,
    catalogue_table,
    round_down,
    rounded,
    write_bytes,
)
from lensfinder.inspection.latex import ranked_latex
from lensfinder.io import InputError, bool_column, read_table, require_columns, write_csv, write_table, write_text

__all__ = [
    "merge_li2020",
    "merge_he2020",
    "merge_scores",
    "merge_scores_from_files",
    "write_ranked",
    "ranked_digest",
]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- the two papers' rankings


def merge_li2020(predictions, grades, *, golden: float = 0.7, high: float = 0.5, keep_ungraded: bool = False):
    """Li et al. (2020) ranking: ``p_human = s_ave / 10``, ``P = p_cnn p_human``, quality classes.

    ``quality`` is ``golden`` where P >= ``golden``, ``high`` where P >=
    ``high``, else ``low`` (``ungraded`` without grades). Returns the rows
    sorted by P, highest first (ties by ``p_cnn``, then ``p_cnn_raw`` where given, then ``object_id``),
    with a 1-based ``rank``.
    """
    per = per_object_scores(grades, "li2020")
    ties = score_tie_breakers(predictions)
    df = predictions[["object_id", "p_cnn", *ties]].merge(per, left_on="object_id", right_index=True, how="left")
    df["n_graders"] = df["n_graders"].fillna(0).astype(np.int64)
    df["p_human"] = df["score_mean"] / 10.0
    df["P"] = df["p_cnn"].astype(float) * df["p_human"]
    df["quality"] = np.where(df["P"] >= golden, "golden", np.where(df["P"] >= high, "high", "low"))
    df.loc[df["n_graders"] == 0, "quality"] = "ungraded"
    df = _drop_ungraded(df, keep_ungraded)
    df = sort_by_score(df, ["P", "p_cnn"])
    cols = ["object_id", "p_cnn", "n_graders", "score_mean", "score_rms", "p_human", "P", "n_zero", "n_top", "quality"]
    return _finish(df[cols])


def merge_he2020(predictions, grades, *, final_min: int = 4, vote_score: int = 3, keep_ungraded: bool = False):
    """He et al. (2020) ranking: summed 2/1/0 scores; >= 4 final, == 3 to a further vote.

    ``final_list`` where ``score_sum >= final_min``, ``further_vote`` where
    ``score_sum == vote_score`` (He et al. set these for six inspectors).
    Returns the rows sorted by ``score_sum``, then ``p_cnn`` (then ``p_cnn_raw`` where given), with a
    1-based ``rank``.
    """
    per = per_object_scores(grades, "he2020")
    ties = score_tie_breakers(predictions)
    df = predictions[["object_id", "p_cnn", *ties]].merge(per, left_on="object_id", right_index=True, how="left")
    df["n_graders"] = df["n_graders"].fillna(0).astype(np.int64)
    df["final_list"] = (df["score_sum"] >= final_min).fillna(False).astype(bool)
    df["further_vote"] = (df["score_sum"] == vote_score).fillna(False).astype(bool)
    df = _drop_ungraded(df, keep_ungraded)
    df = sort_by_score(df, ["score_sum", "p_cnn"])
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


# ---------------------------------------------------------------- the merge


def merge_scores(predictions, grades, scheme: str, *, known=None, catalog=None, crossmatch=None, manifest=None,
                 golden: float = 0.7, high: float = 0.5, keep_ungraded: bool = False, skill_prior: float = 0.5,
                 survey: str | None = None, catalog_source: str = "--catalog"):
    """Ranked list, inspector table and agreement table from predictions and effective grades.

    ``grades`` are effective grades (see
    :func:`~lensfinder.inspection.grades.read_grades`); ``known``
    (``object_id, is_lens``) marks mixed-in objects whose truth is known;
    ``catalog`` is the merged KiDS catalogue, ``crossmatch`` the output of
    ``lensfinder crossmatch``, ``manifest`` the inspection manifest (with
    ``png`` already resolved to a usable path). Grades of ``known`` objects
    measure the inspectors (``p_lens_skill``, the inspector table) and are not
    ranked. ``survey`` (a key of
    :data:`lensfinder.surveys.designation.DESIGNATIONS`) names the objects
    (``name``, see :func:`~lensfinder.inspection.catalogue.add_catalogue_columns`).

    Returns
    -------
    ranked : pandas.DataFrame
        The ranked list (columns in docs/inspection.md).
    inspectors : pandas.DataFrame
        Per-inspector skill, see :func:`~lensfinder.inspection.grades.inspector_confusion`.
    agreement : pandas.DataFrame
        Fleiss' kappa, see :func:`~lensfinder.inspection.grades.fleiss_kappa`.
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
        require_columns(catalog, ["ID", "RAJ2000", "DECJ2000", "MAG_AUTO"], catalog_source, "KiDS catalogue")
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
    return add_catalogue_columns(ranked, survey), inspectors, agreement


# ---------------------------------------------------------------- files


def merge_scores_from_files(prediction_paths, grades_path, scheme: str = "li2020", *, known_path=None,
                            catalog_path=None, crossmatch_path=None, manifest_path=None,
                            duplicate_policy: str = "error", golden: float = 0.7, high: float = 0.5,
                            keep_ungraded: bool = False, skill_prior: float = 0.5, survey: str | None = None):
    """:func:`merge_scores` on files: read, check and merge; logs the agreement, skill and sample sizes.

    Parameters
    ----------
    prediction_paths : sequence of path-like
        Prediction tables with ``object_id, p_cnn`` (e.g. the inspection set's
        ``candidates.parquet``); an object in two of them is an error.
    grades_path : path-like
        Grades CSV (see :func:`~lensfinder.inspection.grades.read_grades`).
    scheme : {"li2020", "he2020"}
    known_path, catalog_path, crossmatch_path, manifest_path : path-like, optional
        Mixed-in objects with known truth (``object_id, is_lens``), the merged
        catalogue, the cross-match output, the inspection manifest (its
        ``png`` paths are taken relative to the manifest's directory).
    duplicate_policy : {"error", "latest"}
    golden, high : float
        P thresholds of the golden and high-quality samples (li2020).
    keep_ungraded : bool
        Keep predictions without grades, at the end with NaN scores.
    skill_prior : float
        Prior lens probability of ``p_lens_skill``.
    survey : str, optional
        Survey whose designations name the objects (``mock``, ``kids_dr4``, ...).

    Returns
    -------
    ranked, inspectors, agreement : pandas.DataFrame
        As :func:`merge_scores`.
    """
    import pandas as pd

    parts = []
    for path in prediction_paths:
        part = read_table(path, required=["object_id", "p_cnn"])
        parts.append(part.assign(object_id=part["object_id"].astype(str)))
    predictions = pd.concat(parts, ignore_index=True)
    dup = predictions["object_id"].duplicated()
    if dup.any():
        raise InputError(f"--predictions: object_id {predictions.loc[dup, 'object_id'].iloc[0]!r} appears more "
                         f"than once")
    known = None
    if known_path:
        known = read_table(known_path, required=["object_id", "is_lens"])
        known["is_lens"] = bool_column(known["is_lens"].to_numpy(), str(known_path), "is_lens")
        known = known.assign(object_id=known["object_id"].astype(str))
    valid = set(predictions["object_id"]) | (set() if known is None else set(known["object_id"]))
    grades = read_grades(grades_path, scheme, valid_ids=valid, duplicate_policy=duplicate_policy)
    if not len(grades) and len(predictions):
        raise InputError(f"{grades_path}: no grades (header only) for {len(predictions)} predicted objects")
    manifest = None
    if manifest_path:
        manifest = read_table(manifest_path, required=["object_id", "png"])
        base = Path(manifest_path).parent
        manifest = manifest.assign(object_id=manifest["object_id"].astype(str),
                                   png=[str(base / p) if p else "" for p in manifest["png"].astype(str)])
    ranked, inspectors, agreement = merge_scores(
        predictions, grades, scheme,
        known=known,
        catalog=read_table(catalog_path) if catalog_path else None, catalog_source=str(catalog_path),
        crossmatch=read_table(crossmatch_path) if crossmatch_path else None,
        manifest=manifest,
        golden=golden, high=high, keep_ungraded=keep_ungraded, skill_prior=skill_prior, survey=survey,
    )
    overall = agreement.iloc[0]
    log.info("Fleiss' kappa over %d candidates (%d grades): %.3f", overall["n_objects"], overall["n_ratings"],
             overall["kappa"])
    for row in inspectors.itertuples(index=False):
        log.info("inspector %s: %d grades, %d/%d known lenses/non-lenses, skill %.2f bits", row.inspector,
                 row.n_graded, row.n_known_lens, row.n_known_nonlens, row.skill_bits)
    if scheme == "li2020":
        counts = ranked["quality"].value_counts()
        log.info("ranked %d candidates: %d golden (P >= %g), %d high (P >= %g)", len(ranked),
                 counts.get("golden", 0), golden, counts.get("high", 0), high)
    else:
        log.info("ranked %d candidates: %d on the final list (score >= 4), %d to a further vote (score 3)",
                 len(ranked), int(ranked["final_list"].sum()), int(ranked["further_vote"].sum()))
    return ranked, inspectors, agreement


def _sibling(out: Path, suffix: str) -> Path:
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(stem + suffix)


def write_ranked(ranked, inspectors, agreement, out, *, scheme: str = "li2020", survey: str | None = None,
                 out_csv=None, out_tex=None, tex_all: bool = False, out_fits=None, out_ecsv=None, out_votable=None,
                 out_inspectors=None, out_agreement=None, texts=None) -> Path:
    """Write the ranked list (Parquet) and its companions, each atomically.

    ``out_csv``: the list as CSV, rounded
    (:func:`~lensfinder.inspection.catalogue.rounded`); ``out_tex``: the
    AASTeX table of :func:`~lensfinder.inspection.latex.ranked_latex` (every
    row with ``tex_all``); ``out_fits``, ``out_ecsv``, ``out_votable``: the
    catalogue with units and descriptions
    (:func:`~lensfinder.inspection.catalogue.catalogue_table`); the inspector
    table and the agreement table go to ``out_inspectors`` and
    ``out_agreement``, by default ``<out>.inspectors.csv`` and
    ``<out>.agreement.csv`` beside ``out``; ``texts``, a mapping path -> text,
    more companions (merge-scores' summary page). Returns ``out``.

    Every table and text is made before the first file is written, so a list
    that one format cannot hold leaves no half set of files behind, and ``out``
    is written last: a job killed on the way leaves no ranked list that looks
    complete beside missing companions.
    """
    out = Path(out)
    csv_table = rounded(ranked) if out_csv else None
    tex = ranked_latex(ranked, scheme, all_rows=tex_all) if out_tex else None
    targets = [path for path in (out_fits, out_ecsv, out_votable) if path]
    catalogues = {}
    if targets:
        table = catalogue_table(ranked, survey=survey, scheme=scheme)
        catalogues = {path: catalogue_bytes(table, path) for path in targets}
    if out_csv:
        write_csv(csv_table, out_csv)
    if out_tex:
        write_text(tex, out_tex)
    for path, data in catalogues.items():
        write_bytes(data, path)
    write_csv(inspectors, out_inspectors or _sibling(out, ".inspectors.csv"))
    write_csv(agreement, out_agreement or _sibling(out, ".agreement.csv"))
    for path, text in (texts or {}).items():
        write_text(text, path)
    write_table(ranked, out)
    return out


def ranked_digest(ranked, top: int = 5, source: str = "ranked list") -> list[str]:
    """A few lines on a ranked list for a terminal: how many candidates, of which class (Li et al.'s golden,
    high and low by P, or He et al.'s final list and further vote), how many are known lenses, and the
    ``top`` first rows.

    Raises :class:`InputError` naming ``source`` for a table without its scheme's columns (li2020: ``P``,
    ``quality``; he2020: ``score_sum``, ``final_list``, ``further_vote``) or a ``known_lens`` not boolean.
    """
    li_cols, he_cols = ["P", "quality"], ["score_sum", "final_list", "further_vote"]
    if any(c in ranked.columns for c in li_cols):
        require_columns(ranked, li_cols, source, "a li2020 ranked list of merge-scores")
    elif any(c in ranked.columns for c in he_cols):
        require_columns(ranked, he_cols, source, "a he2020 ranked list of merge-scores")
        ranked = ranked.assign(**{c: bool_column(ranked[c].to_numpy(), source, c)
                                  for c in ("final_list", "further_vote")})
    else:
        require_columns(ranked, li_cols, source, "a ranked list of merge-scores: P, quality (li2020) or "
                        "score_sum, final_list, further_vote (he2020)")
    if "known_lens" in ranked.columns:  # NA: not cross-matched; anything else must be a boolean
        known_values = ranked["known_lens"]
        bool_column(known_values[known_values.notna()].to_numpy(), source, "known_lens")
    n = len(ranked)
    if "quality" in ranked.columns:
        counts = ranked["quality"].value_counts()
        classes = ", ".join(f"{int(counts[c])} {c}" for c in ("golden", "high", "low", "ungraded") if c in counts)
        key, label = "P", "P"
    else:
        classes = (f"{int(ranked['final_list'].sum())} on the final list, "
                   f"{int(ranked['further_vote'].sum())} to a further vote")
        key, label = "score_sum", "score"
    lines = [f"{n} candidates ranked" + (f": {classes}" if n else "")]
    if n and "known_lens" in ranked.columns:
        # NA: not cross-matched (merge-scores without --crossmatch, or an object the cross-match lacks)
        known = ranked["known_lens"].astype("boolean")
        n_unknown = int(known.isna().sum())
        if n_unknown == n:
            lines[0] += "; not cross-matched"
        else:
            lines[0] += f"; {int(known.fillna(False).sum())} of them known lenses"
            if n_unknown:
                lines[0] += f" ({n_unknown} not cross-matched)"
    names = ranked["name"] if "name" in ranked.columns else ranked["object_id"]
    for row, name in zip(ranked.head(top).itertuples(index=False), names.head(top)):
        cls = getattr(row, "quality", None) or ("final list" if getattr(row, "final_list", False) else "")
        # P rounded down, so it never reads as the next class's cut (0.69995 as 0.7 beside "high")
        value = f"{float(round_down(row.P, 4)):.4f}" if key == "P" else f"{getattr(row, key):.4g}"
        lines.append(f"  {int(row.rank):>3}  {name}  {label} {value}  p_CNN {row.p_cnn:.10g}  {cls}")
    return lines
