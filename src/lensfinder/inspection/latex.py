"""The ranked candidate list as an AASTeX ``deluxetable``, laid out like the papers' tables.

Cells are formatted here (decimals, ``$-$`` minus signs, escaped names);
astropy's ``ascii.aastex`` writer lays out the ``deluxetable*``,
``\\tablehead`` with a units row, ``\\startdata``...``\\enddata`` and the
``\\tablecomments``.
"""

from __future__ import annotations

import io
import re

import numpy as np

from lensfinder.inspection.catalogue import round_down

__all__ = ["ranked_latex", "tex_escape"]

_SPECIAL = {**{ch: "\\" + ch for ch in "&%$#_{}"}, "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            "\\": r"\textbackslash{}"}
#: the sign between the two halves of a designation (J002018.968-284111.45)
_DESIGNATION_MINUS = re.compile(r"(J[0-9.]+)-([0-9])")


def tex_escape(text) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def _name(text) -> str:
    """An object's name for the table: escaped, with a true minus in a designation."""
    return _DESIGNATION_MINUS.sub(r"\1$-$\2", tex_escape(text))


def _fmt(value, spec: str) -> str:
    """``value`` formatted by ``spec``, negative numbers with ``$-$``; ``\\nodata`` for None or NaN."""
    try:
        if value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
            return r"\nodata"
        text = format(value, spec)
    except (TypeError, ValueError):
        return r"\nodata"
    return "$-$" + text[1:] if text.startswith("-") else text


def _optional(rows, column: str) -> bool:
    """Whether ``column`` has a value in any row (columns without any are left out)."""
    return column in rows.columns and bool(np.isfinite(rows[column].to_numpy(dtype=float)).any())


def _listed(rows, all_rows: bool, what: str) -> str:
    """The caption's subject: "All 75 ranked objects" (``all_rows``), else "The 12 best lens candidates"."""
    if all_rows and len(rows):
        return f"All {len(rows)} ranked objects"
    return f"The {len(rows) or 'no'} {what}"


def ranked_latex(ranked, scheme: str = "li2020", *, all_rows: bool = False) -> str:
    """An AASTeX ``deluxetable*`` of the best candidates, laid out like Li et al. (2020) Table 1.

    li2020 columns: ID (rank), Name, Sample, R.A., Decl. (deg), r_auto (mag),
    z_phot, s_ave, rms, p_CNN, P, number of zero scores; rows with quality
    golden or high (all rows with ``all_rows``, captioned as all ranked
    objects); P is rounded down
    (:func:`~lensfinder.inspection.catalogue.round_down`), so it never reads
    as the next class's cut. he2020: ID, Name, Sample, R.A., Decl., score
    sum, p_CNN, final/vote; rows on the final list or to a further vote. Name is the ``name`` column (the survey's designation)
    or else the ``object_id``; r_auto and z_phot are left out when no row has
    them, Sample when no row has a sample.
    """
    from astropy.table import Table

    if scheme == "li2020":
        rows = ranked if all_rows else ranked[ranked["quality"].isin(["golden", "high"])]
        listed = _listed(rows, all_rows, "best lens candidates")
        caption = f"{listed}, ranked by " + r"$P = p_\mathrm{CNN} \times p_\mathrm{hum}$"
        comments = (r"$s_\mathrm{ave}$: mean inspector score (A, B, C, D = 10, 7, 3, 0), rms its scatter; "
                    r"$P$: $p_\mathrm{CNN}$ times $s_\mathrm{ave}/10$ (Li et al. 2020, eq. 3); "
                    "the last column counts D grades.")
        scores = [
            (r"$s_\mathrm{ave}$", "", [_fmt(v, ".2f") for v in rows["score_mean"]]),
            ("rms", "", [_fmt(v, ".2f") for v in rows["score_rms"]]),
            (r"$p_\mathrm{CNN}$", "", [_fmt(v, ".3f") for v in rows["p_cnn"]]),
            ("$P$", "", [_fmt(v, ".3f") for v in round_down(rows["P"], 3)]),  # down: never across a class cut
            ("No. zero scores", "", [_fmt(v, ".0f") for v in rows["n_zero"]]),
        ]
    else:
        rows = ranked if all_rows else ranked[ranked["final_list"] | ranked["further_vote"]]
        listed = _listed(rows, all_rows, "lens candidates")
        caption = f"{listed} by summed inspector score (He et al. 2020, section 4.1)"
        comments = "Score: sum of the inspector grades (2, 1, 0); final: score $\\geq 4$; vote: score 3."
        scores = [
            ("Score", "", [_fmt(v, ".0f") for v in rows["score_sum"]]),
            (r"$p_\mathrm{CNN}$", "", [_fmt(v, ".6f") for v in rows["p_cnn"]]),
            ("Status", "", ["final" if f else ("vote" if v else "") for f, v in
                            zip(rows["final_list"], rows["further_vote"])]),
        ]
    names = rows["name"] if "name" in rows.columns else rows["object_id"]
    columns = [("ID", "", [str(int(r)) for r in rows["rank"]]), ("Name", "", [_name(n) for n in names])]
    if "sample" in rows.columns and (rows["sample"].astype(str) != "").any():
        columns.append(("Sample", "", [tex_escape(s) for s in rows["sample"]]))
    columns += [("R.A.", "(deg)", [_fmt(v, ".5f") for v in rows["ra"]]),
                ("Decl.", "(deg)", [_fmt(v, ".5f") for v in rows["dec"]])]
    if scheme == "li2020":
        if _optional(rows, "r_auto_mag"):
            columns.append((r"$r_\mathrm{auto}$", "(mag)", [_fmt(v, ".2f") for v in rows["r_auto_mag"]]))
        if _optional(rows, "z_phot"):
            columns.append((r"$z_\mathrm{phot}$", "", [_fmt(v, ".2f") for v in rows["z_phot"]]))
    columns += scores
    if not len(rows):
        comments = "No candidates passed the cut. " + comments
    table = Table([cells for _, _, cells in columns], names=[head for head, _, _ in columns],
                  dtype=[str] * len(columns))
    align = "".join("l" if head in ("Name", "Sample", "Status") else "r" for head, _, _ in columns)
    out = io.StringIO()
    table.write(out, format="ascii.aastex", latexdict={
        "tabletype": "deluxetable*",
        "caption": caption + r" \label{tab:candidates}",
        "col_align": align,
        "units": {head: unit for head, unit, _ in columns},
        "tablefoot": f"\\tablecomments{{{comments}}}",
    })
    return out.getvalue()
