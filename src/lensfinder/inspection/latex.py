"""LaTeX tables of the ranked candidate list, laid out like the papers' tables."""

from __future__ import annotations

import numpy as np

__all__ = ["ranked_latex"]


def _tex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
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
    """``value`` formatted by ``spec``; ``--`` for None, NaN or a value that does not format."""
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
