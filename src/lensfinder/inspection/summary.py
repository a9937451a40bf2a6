"""The candidates' summary page: one static HTML file, a section per ranked candidate.

Each section shows the object's stamps (every ``png*`` column of the
inspection manifest: the grey r band of a one-band set; the colour composite
and each band of a set of several), its bands, p_CNN per model (and per ``p_cnn_*`` column, e.g. a
retraining round), the ranking scores, every inspector's grade with their
flags and comment, and the cross-match with known lenses. The stamps are
embedded as data URIs, so the page travels alone (no server, no script, no
other file). The page is built as an element tree, so every text from the
tables (object ids, comments) is escaped.
"""

from __future__ import annotations

import base64
import logging
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from lensfinder.inspection.candidates import unique_names
from lensfinder.inspection.catalogue import round_down
from lensfinder.inspection.grades import notes_path as notes_beside
from lensfinder.inspection.grades import read_grades, read_notes
from lensfinder.inspection.pixels import viewer_links
from lensfinder.io import InputError, read_table

__all__ = ["summary_html", "summary_page", "manifest_images", "manifest_bands"]

log = logging.getLogger(__name__)

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.3em 0 0.8em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.15em 0.6em; text-align: left; vertical-align: top; }
section { border-top: 2px solid #888; padding-top: 0.5em; margin-top: 1.5em; }
.stamps { display: flex; gap: 0.8em; flex-wrap: wrap; }
.stamps img { width: 202px; height: 202px; image-rendering: pixelated; background: #000; }
figure { margin: 0; } figcaption { text-align: center; color: #555; }
.columns { display: flex; gap: 2em; flex-wrap: wrap; }
.missing { color: #888; }
"""


def _num(value, spec: str) -> str:
    """``value`` formatted by ``spec``; an em dash for None, NA or NaN."""
    try:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "\u2014"
        return format(value, spec)
    except (TypeError, ValueError):
        return "\u2014"


def _p(value, decimals: int = 3) -> str:
    """P (or p_CNN) to ``decimals`` decimals, rounded down: 0.69965 beside quality ``high`` must not read 0.700
    (the golden cut), p_CNN 0.9999986 not 0.999999 (He et al.'s cut)."""
    try:
        return _num(float(round_down(value, decimals)), f".{decimals}f")
    except (TypeError, ValueError):
        return "\u2014"


def _sub(parent, tag: str, text: str | None = None, **attrib) -> ET.Element:
    element = ET.SubElement(parent, tag, {k.rstrip("_"): v for k, v in attrib.items()})
    if text is not None:
        element.text = str(text)
    return element


def _table(parent, header, rows, cls: str | None = None) -> ET.Element:
    table = _sub(parent, "table", **({"class_": cls} if cls else {}))
    if header:
        tr = _sub(table, "tr")
        for cell in header:
            _sub(tr, "th", cell)
    for row in rows:
        tr = _sub(table, "tr")
        for k, cell in enumerate(row):
            _sub(tr, "th" if not header and k == 0 else "td", cell)
    return table


def _value(row, column: str, default=None):
    return row[column] if column in row.index else default


def _crossmatch_text(row) -> str:
    import pandas as pd

    known = _value(row, "known_lens")
    if known is None or pd.isna(known):
        return "not cross-matched"
    if not bool(known):
        return "no known lens or candidate within the match radius"
    grading = _value(row, "lenscat_grading", "")
    return (f"{_value(row, 'lenscat_name', '')}{f' ({grading})' if grading else ''}, "
            f"{_num(_value(row, 'separation_arcsec'), '.2f')} arcsec away")


def _scores(row, scheme: str) -> list[tuple[str, str]]:
    if scheme == "li2020":
        return [("s_ave (A, B, C, D = 10, 7, 3, 0)", _num(_value(row, "score_mean"), ".2f")),
                ("rms", _num(_value(row, "score_rms"), ".2f")),
                ("p_hum", _num(_value(row, "p_human"), ".3f")),
                ("P = p_CNN \u00d7 p_hum", _p(_value(row, "P"))),
                ("quality", str(_value(row, "quality", ""))),
                ("p_lens (skill-weighted)", _num(_value(row, "p_lens_skill"), ".3f"))]
    status = "final list" if _value(row, "final_list") else ("further vote" if _value(row, "further_vote") else "")
    return [("score sum (2, 1, 0)", _num(_value(row, "score_sum"), ".0f")), ("status", status),
            ("p_lens (skill-weighted)", _num(_value(row, "p_lens_skill"), ".3f"))]


def _section(body, row, anchor: str, scheme: str, survey, grades, notes, images, bands) -> None:
    oid = str(row["object_id"])
    name = str(_value(row, "name", "") or oid)
    section = _sub(body, "section", id=anchor)
    _sub(section, "h2", f"{int(row['rank'])}. {name}")
    columns = _sub(section, "div", class_="columns")
    stamps = _sub(columns, "div", class_="stamps")
    for label, png in images.get(oid, []):
        figure = _sub(stamps, "figure")
        _sub(figure, "img", src="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
             alt=f"{name}: {label}")
        _sub(figure, "figcaption", label)
    if not images.get(oid):
        _sub(stamps, "p", "no stamp in the inspection set", class_="missing")
    facts = _sub(columns, "div")
    ra, dec = _value(row, "ra"), _value(row, "dec")
    _table(facts, None, [
        ("object ID", oid),
        ("sample", str(_value(row, "sample", "") or "\u2014")),
        ("R.A., Decl. (J2000)", f"{_value(row, 'ra_hms', '')} {_value(row, 'dec_dms', '')}"),
        ("(deg)", f"{_num(ra, '.6f')} {_num(dec, '.6f')}"),
        ("r_auto (mag)", _num(_value(row, "r_auto_mag"), ".2f")),
        ("z_phot", _num(_value(row, "z_phot"), ".2f")),
        ("tile", str(_value(row, "tile", "") or "\u2014")),
        ("bands", ", ".join(bands.get(oid, [])) or "\u2014"),
    ])
    links = viewer_links(survey, float(ra), float(dec)) if survey and ra is not None and dec is not None else []
    if links:  # the survey's own viewers (none for the mock survey's made-up sky)
        paragraph = _sub(facts, "p", class_="viewers")
        for link in links:
            _sub(paragraph, "a", link["label"], href=link["url"], rel="noopener")
            paragraph[-1].tail = " "
    scores = _sub(columns, "div")
    _sub(scores, "h3", "p_CNN")
    models = [(str(_value(row, "model", "") or "CNN"), _p(_value(row, "p_cnn"), 6))]
    models += [(col[len("p_cnn_"):], _p(row[col], 6)) for col in row.index if col.startswith("p_cnn_")]
    _table(scores, ["model", "p_CNN"], models, cls="pcnn")
    _sub(scores, "h3", "Ranking")
    _table(scores, None, _scores(row, scheme))
    _sub(section, "h3", "Grades")
    mine = grades[grades["object_id"] == oid]
    said = notes[notes["object_id"] == oid].set_index("inspector")
    rows = []
    for inspector, grade in zip(mine["inspector"], mine["grade"]):
        note = said.loc[inspector] if inspector in said.index else None
        rows.append((inspector, grade, "" if note is None else note["flags"].replace(";", ", "),
                     "" if note is None else note["comment"]))
    rows += [(inspector, "\u2014", note["flags"].replace(";", ", "), note["comment"])
             for inspector, note in said.iterrows() if inspector not in set(mine["inspector"])]
    _table(section, ["inspector", "grade", "flags", "comment"], rows, cls="grades")
    _sub(section, "h3", "Cross-match")
    _sub(section, "p", _crossmatch_text(row), class_="crossmatch")


def summary_html(ranked, grades, *, scheme: str, notes=None, images=None, bands=None, survey: str | None = None,
                 title: str = "Lens candidates") -> str:
    """The summary page of ``ranked`` as HTML text.

    Parameters
    ----------
    ranked : pandas.DataFrame
        The ranked list (:func:`lensfinder.inspection.ranking.merge_scores`).
    grades : pandas.DataFrame
        Effective grades, ``object_id, inspector, grade``.
    scheme : {"li2020", "he2020"}
    notes : pandas.DataFrame, optional
        ``object_id, inspector, flags, comment``
        (:func:`lensfinder.inspection.grades.read_notes`).
    images : dict, optional
        object_id -> list of (label, PNG bytes).
    bands : dict, optional
        object_id -> list of band names.
    survey : str, optional
        The survey (links to its own viewers for real skies).
    """
    import pandas as pd

    notes = notes if notes is not None else pd.DataFrame(columns=["object_id", "inspector", "flags", "comment"])
    images, bands = images or {}, bands or {}
    html = ET.Element("html", lang="en")
    head = _sub(html, "head")
    _sub(head, "meta", charset="utf-8")
    _sub(head, "title", title)
    _sub(head, "style", _STYLE)
    body = _sub(html, "body")
    _sub(body, "h1", title)
    _sub(body, "p", f"{len(ranked)} candidates ranked by the {scheme} scheme on survey {survey or 'unknown'}; "
                    f"{grades['inspector'].nunique() if len(grades) else 0} inspectors.", class_="lead")
    anchors = unique_names(ranked["object_id"].astype(str).tolist())
    index = _sub(body, "table", class_="index")
    tr = _sub(index, "tr")
    for head_cell in ("rank", "name", "sample", "p_CNN", "P" if scheme == "li2020" else "score", "grades", "known"):
        _sub(tr, "th", head_cell)
    for anchor, (_, row) in zip(anchors, ranked.iterrows()):
        oid = str(row["object_id"])
        tr = _sub(index, "tr")
        _sub(tr, "td", str(int(row["rank"])))
        _sub(_sub(tr, "td"), "a", str(_value(row, "name", "") or oid), href=f"#{anchor}")
        _sub(tr, "td", str(_value(row, "sample", "")))
        _sub(tr, "td", _p(row["p_cnn"]))
        _sub(tr, "td", _p(row["P"]) if scheme == "li2020" else _num(_value(row, "score_sum"), ".0f"))
        _sub(tr, "td", " ".join(grades.loc[grades["object_id"] == oid, "grade"].astype(str)))
        _sub(tr, "td", str(_value(row, "lenscat_name", "")))
    for anchor, (_, row) in zip(anchors, ranked.iterrows()):
        _section(body, row, anchor, scheme, survey, grades, notes, images, bands)
    return "<!DOCTYPE html>\n" + ET.tostring(html, encoding="unicode", method="html") + "\n"


def manifest_images(manifest, base_dir) -> dict:
    """object_id -> [(label, PNG bytes)] from every ``png*`` column of an inspection manifest.

    ``png`` is labelled by the band of the set (``r``), or as the colour
    composite of its bands (``colour (g, r, i)``); ``png_<x>`` by ``x``. Paths are relative to ``base_dir``; a missing file
    is an error naming it.
    """
    base_dir = Path(base_dir)
    columns = [c for c in manifest.columns if c == "png" or c.startswith("png_")]
    bands = manifest_bands(manifest)
    images: dict[str, list] = {}
    for _, row in manifest.iterrows():
        oid = str(row["object_id"])
        for col in columns:
            rel = str(row[col] or "")
            if not rel or rel == "nan":
                continue
            path = base_dir / rel
            if not path.is_file():
                raise InputError(f"{path}: file not found (manifest column {col!r}, object {oid!r})")
            label = _png_label(bands.get(oid, [])) if col == "png" else col[len("png_"):]
            images.setdefault(oid, []).append((label, path.read_bytes()))
    return images


def _png_label(bands) -> str:
    """The caption of a manifest's ``png``: its band, or the colour composite of the set's bands."""
    if len(bands) > 1:
        return f"colour ({', '.join(bands)})"
    return ", ".join(bands) or "stamp"


def manifest_bands(manifest) -> dict:
    """object_id -> bands of the set's stamp cubes (the manifest's ``stamps_<band>`` columns; ``r`` without)."""
    bands = [c[len("stamps_"):] for c in manifest.columns if c.startswith("stamps_") and c != "stamps_row"]
    return {str(oid): bands or ["r"] for oid in manifest["object_id"]}


def summary_page(ranked, *, grades_path, scheme: str, manifest_path=None, notes_path=None,
                 survey: str | None = None, duplicate_policy: str = "error") -> str:
    """The summary page of ``ranked`` (HTML text).

    Grades come from ``grades_path``, read as merge-scores reads them (a
    hand-edited ``obj1 `` counts for ``obj1``; grades of objects not ranked are
    set aside), flags
    and comments from ``notes_path`` (by default the notes CSV beside the
    grades, :func:`lensfinder.inspection.grades.notes_path`, when it exists),
    stamps and bands from the inspection manifest ``manifest_path``.
    """
    ids = set(ranked["object_id"].astype(str))
    grades = read_grades(grades_path, scheme, valid_ids=ids, unknown_ids="keep", duplicate_policy=duplicate_policy)
    grades = grades[grades["object_id"].isin(ids)]
    if notes_path and not Path(notes_path).is_file():
        raise InputError(f"{notes_path}: file not found (--notes)")
    notes = read_notes(notes_path or notes_beside(grades_path))
    notes = notes[notes["object_id"].isin(ids)]
    images, bands = {}, {}
    if manifest_path:
        manifest = read_table(manifest_path, required=["object_id", "png"])
        manifest = manifest[manifest["object_id"].astype(str).isin(ids)]
        images = manifest_images(manifest, Path(manifest_path).parent)
        bands = manifest_bands(manifest)
    log.info("summary page of %d candidates, %d stamps", len(ranked), sum(len(v) for v in images.values()))
    return summary_html(ranked, grades, scheme=scheme, notes=notes, images=images, bands=bands, survey=survey)
