"""The ranked candidate list as an AASTeX ``deluxetable``, laid out like the papers' tables.

Cells are formatted here (decimals, ``$-$`` minus signs, escaped names);
astropy's ``ascii.aastex`` writer lays out the ``deluxetable*``,
``\\tablehead`` with a units row, ``\\startdata``...``\\enddata`` and the
``\\tablecomments``.

Text cells (names, samples) go through :func:`tex_escape`, whose output is
plain ASCII that compiles with pdflatex, XeLaTeX and LuaLaTeX whatever the
document's input and font encodings: the file declares no encoding (it is a
table to paste into a paper), and UTF-8 input alone does not make
``U+2212`` or ``U+2713`` printable with pdflatex.
"""

from __future__ import annotations

import io
import re
import unicodedata

import numpy as np

from lensfinder.inspection.catalogue import round_down

__all__ = ["ranked_latex", "tex_escape"]

_SPECIAL = {**{ch: "\\" + ch for ch in "&%$#_{}"}, "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            "\\": r"\textbackslash{}",
            # OT1 (LaTeX's default font encoding) has other glyphs in these slots: < > as inverted ! ?, " as a
            # closing quote, | as an em dash
            "<": r"\textless{}", ">": r"\textgreater{}", '"': r"\textquotedbl{}", "|": r"\textbar{}",
            # characters outside ASCII that have a LaTeX spelling (the rest: accents below, else U+XXXX)
            "\u00a0": "~", "\u2212": "$-$", "\u2013": "--", "\u2014": "---", "\u2018": "`", "\u2019": "'",
            "\u201c": "``", "\u201d": "''", "\u00b1": r"$\pm$", "\u00d7": r"$\times$", "\u00b0": r"$^\circ$",
            "\u00b5": r"$\mu$", "\u2032": r"$'$", "\u2033": r"$''$", "\u00df": r"\ss{}", "\u00e6": r"\ae{}",
            "\u00c6": r"\AE{}", "\u0153": r"\oe{}", "\u0152": r"\OE{}", "\u00f8": r"\o{}", "\u00d8": r"\O{}",
            "\u0142": r"\l{}", "\u0141": r"\L{}", "\u0131": r"\i{}", "\u2026": r"\ldots{}"}
#: combining mark (of a character's decomposition) -> LaTeX text accent
_ACCENTS = {"\u0300": "`", "\u0301": "'", "\u0302": "^", "\u0303": "~", "\u0304": "=", "\u0306": "u",
            "\u0307": ".", "\u0308": '"', "\u030a": "r", "\u030b": "H", "\u030c": "v", "\u0323": "d",
            "\u0327": "c", "\u0328": "k", "\u0331": "b"}
#: the sign between the two halves of a designation (J002018.968-284111.45)
_DESIGNATION_MINUS = re.compile(r"(J[0-9.]+)-([0-9])")


def _tex_char(ch: str) -> str:
    """One character as ASCII LaTeX (text mode)."""
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    if " " <= ch < "\x7f":
        return ch
    category = unicodedata.category(ch)
    if category in ("Cc", "Zs", "Zl", "Zp"):  # newline (a blank line ends \startdata's row), tab, NUL...
        return " "
    if category == "Cf":  # zero-width space, soft hyphen, byte-order mark: invisible
        return ""
    decomposed = unicodedata.normalize("NFKD", ch)
    base, *marks = decomposed
    if marks and all(mark in _ACCENTS for mark in marks) and base.isascii() and base.isalpha():
        text = f"\\{base}" if base in "ij" and _ACCENTS[marks[0]] not in "cdkb" else base  # no dot under it
        for mark in marks:  # ǘ: u, diaeresis, acute -> \'{\"{u}}
            text = f"\\{_ACCENTS[mark]}{{{text}}}"
        return text
    if decomposed != ch and decomposed.isascii():  # ligature fi, full-width letters
        return "".join(_tex_char(c) for c in decomposed)
    return f"[U+{ord(ch):04X}]"  # no LaTeX spelling here (a check mark, CJK): the code point, readable


def tex_escape(text) -> str:
    """``text`` as ASCII LaTeX that prints it in text mode, inside a table cell.

    LaTeX's special characters are escaped, ``< > " |`` spelled out (the
    default OT1 fonts print other glyphs there), ``--`` kept from becoming a
    dash; line breaks, tabs and other control characters become spaces
    (a blank line would end the table's row), invisible format characters
    are dropped. Outside ASCII: accented letters as accent commands
    (``\\"{o}``), a few symbols as their LaTeX (U+2212 as ``$-$``), anything
    else as its code point, ``[U+2713]``.
    """
    out = ""
    for ch in str(text):
        piece = _tex_char(ch)
        if out.endswith("-") and piece.startswith("-"):  # two hyphens: not an en dash
            out += "{}"
        out += piece
    return out


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
    objects); P and p_CNN are rounded down
    (:func:`~lensfinder.inspection.catalogue.round_down`), so they never read
    as the next class's or sample's cut. he2020: ID, Name, Sample, R.A., Decl., score
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
            (r"$p_\mathrm{CNN}$", "", [_fmt(v, ".3f") for v in round_down(rows["p_cnn"], 3)]),
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
            (r"$p_\mathrm{CNN}$", "", [_fmt(v, ".6f") for v in round_down(rows["p_cnn"], 6)]),  # 0.999999 cut
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
