"""The ranked list as a catalogue to publish: names, units, descriptions; FITS, ECSV, VOTable and a rounded CSV.

:data:`CATALOGUE_COLUMNS` is the one place where the ranked list's columns get
their unit, description and the decimals of the CSV; the tables are
astropy :class:`~astropy.table.Table` objects written by astropy's own
writers. The columns are described in docs/inspection.md.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lensfinder.io import InputError, atomic_path
from lensfinder.surveys.designation import designation_for, iau_names, sexagesimal

__all__ = [
    "ColumnSpec",
    "CATALOGUE_COLUMNS",
    "LOCAL_COLUMNS",
    "CATALOGUE_FORMATS",
    "column_spec",
    "sample_labels",
    "add_catalogue_columns",
    "round_down",
    "rounded",
    "catalogue_table",
    "catalogue_bytes",
    "write_catalogue",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColumnSpec:
    """Unit (astropy unit string, None when dimensionless), description, CSV decimals and IVOA UCD of one column.

    ``down``: the column is rounded down to its decimals, never up, because
    classes or samples are cut on it (``P``: 0.69965 must not read 0.700
    beside quality ``high``; ``p_cnn``: 0.9999986 must not read 0.999999, He
    et al.'s cut).
    """

    unit: str | None
    description: str
    decimals: int | None = None
    ucd: str | None = None
    down: bool = False


#: ranked-list column -> unit, description, decimals in the rounded CSV.
CATALOGUE_COLUMNS: dict[str, ColumnSpec] = {
    "rank": ColumnSpec(None, "Rank in the list, 1 = most likely lens"),
    "name": ColumnSpec(None, "IAU-style designation: survey prefix and truncated J2000 sexagesimal position",
                       ucd="meta.id;meta.main"),
    "object_id": ColumnSpec(None, "Identifier in the survey catalogue", ucd="meta.id"),
    "sample": ColumnSpec(None, "Sample(s) whose p_cnn threshold the object passed, not every sample it was "
                               "preselected in: LRG (luminous red galaxies), BG (bright galaxies), LRG+BG (both); "
                               "added: below every threshold, on the inclusion list"),
    "p_cnn": ColumnSpec(None, "CNN lens probability", 6, down=True),  # 6: He et al. 2020 cut at 0.999999
    "n_graders": ColumnSpec(None, "Number of inspectors who graded the object"),
    "score_mean": ColumnSpec(None, "Mean inspector score (li2020: A, B, C, D = 10, 7, 3, 0; he2020: 2, 1, 0)", 2),
    "score_rms": ColumnSpec(None, "Standard deviation of the inspector scores", 2),
    "score_sum": ColumnSpec(None, "Sum of the inspector scores (He et al. 2020: 2, 1, 0)", 0),
    "p_human": ColumnSpec(None, "Human lens probability, mean score / 10 (Li et al. 2020)", 3),
    "P": ColumnSpec(None, "Combined probability P = p_cnn * p_human (Li et al. 2020, eq. 3)", 3, down=True),
    "n_zero": ColumnSpec(None, "Number of lowest grades (D, or 0)", 0),
    "n_top": ColumnSpec(None, "Number of top grades (A, or 2)", 0),
    "quality": ColumnSpec(None, "golden (P >= 0.7), high (P >= 0.5), low, or ungraded"),
    "final_list": ColumnSpec(None, "Summed score >= 4: on the final list (He et al. 2020)"),
    "further_vote": ColumnSpec(None, "Summed score == 3: sent to a further vote (He et al. 2020)"),
    "p_lens_skill": ColumnSpec(None, "Lens probability weighted by each inspector's measured skill", 3),
    "ra": ColumnSpec("deg", "Right ascension (J2000)", 6, "pos.eq.ra;meta.main"),
    "dec": ColumnSpec("deg", "Declination (J2000)", 6, "pos.eq.dec;meta.main"),
    "ra_hms": ColumnSpec(None, "Right ascension (J2000), hh:mm:ss.sss"),
    "dec_dms": ColumnSpec(None, "Declination (J2000), +dd:mm:ss.ss"),
    "r_auto_mag": ColumnSpec("mag", "r-band MAG_AUTO of the survey catalogue", 3, "phot.mag;em.opt.R"),
    "z_phot": ColumnSpec(None, "Photometric redshift Z_B of the survey catalogue", 2, "src.redshift.phot"),
    "known_lens": ColumnSpec(None, "A known lens or candidate lies within the match radius"),
    "lenscat_name": ColumnSpec(None, "Name of the nearest known lens within the match radius"),
    "lenscat_grading": ColumnSpec(None, "Grading of that known lens (lenscat: confident, probable)"),
    "separation_arcsec": ColumnSpec("arcsec", "Separation to that known lens", 2),
    "samples": ColumnSpec(None, "Sample flags whose p_cnn threshold the object passed (;-separated)"),
    "tile": ColumnSpec(None, "Survey tile or field"),
    "model": ColumnSpec(None, "Network that gave p_cnn"),
    "model_hash": ColumnSpec(None, "Hash of the network's weights"),
    "n_members": ColumnSpec(None, "Number of networks whose calibrated probabilities were averaged into p_cnn "
                                  "(inference.ensemble; 1: a single network)"),
}

#: Columns that point into this machine's results/ folder: kept in the Parquet and CSV, not in a catalogue.
LOCAL_COLUMNS = ("png", "stamp_cube", "cube_row", "shard")

#: file suffix -> astropy writer.
CATALOGUE_FORMATS = {".fits": "fits", ".ecsv": "ascii.ecsv", ".vot": "votable", ".xml": "votable"}

#: sample flag prefix -> label in the ``sample`` column.
_SAMPLE_PREFIXES = (("lrg", "LRG"), ("bg", "BG"), ("disk", "disk"), ("include", "added"))


def column_spec(column: str) -> ColumnSpec | None:
    """The :class:`ColumnSpec` of a ranked-list column; ``p_cnn_<x>`` (per model or round, ``p_cnn_raw``) as
    ``p_cnn``."""
    if column in CATALOGUE_COLUMNS:
        return CATALOGUE_COLUMNS[column]
    if column.startswith("p_cnn_"):
        return ColumnSpec(None, f"CNN lens probability ({column[len('p_cnn_'):]})", 6, down=True)
    return None


def sample_labels(samples) -> list[str]:
    """``LRG``, ``BG``, ``LRG+BG``... from ``;``-separated sample flags (``lrg_li2020;bg_li2020``)."""
    out = []
    for text in samples:
        labels: list[str] = []
        for flag in str(text or "").split(";"):
            flag = flag.strip()
            if not flag or flag.lower() in ("nan", "none"):
                continue
            label = next((lab for prefix, lab in _SAMPLE_PREFIXES if flag.lower().startswith(prefix)), flag)
            if label not in labels:
                labels.append(label)
        out.append("+".join(sorted(labels, key=lambda lab: (lab != "LRG", lab != "BG", lab))))
    return out


def add_catalogue_columns(ranked, survey: str | None = None):
    """``ranked`` with ``name`` (after ``rank``), ``sample`` (after ``object_id``), ``ra_hms`` and ``dec_dms``.

    ``name`` is the IAU-style designation of ``survey``
    (:data:`lensfinder.surveys.designation.DESIGNATIONS`) made from ``ra``,
    ``dec``; without a survey it is the ``object_id``. ``sample`` labels the
    ``samples`` flags (empty without them).
    """
    df = ranked.drop(columns=[c for c in ("name", "sample", "ra_hms", "dec_dms") if c in ranked.columns])
    ra = df["ra"].to_numpy(dtype=float) if "ra" in df else np.full(len(df), np.nan)
    dec = df["dec"].to_numpy(dtype=float) if "dec" in df else np.full(len(df), np.nan)
    if survey is None:
        names = df["object_id"].astype(str).tolist()
    else:
        designation = designation_for(survey)
        names = iau_names(ra, dec, designation)
        # an object_id that is already the survey's designation is the name (the catalogue's ID: positions
        # stored to 6 decimals can put a rebuilt name one digit off, e.g. KiDSDR4 ...-284112.29 as ...112.30)
        names = [oid if oid.startswith(designation.prefix) else name
                 for oid, name in zip(df["object_id"].astype(str), names)]
        n_missing = sum(not n for n in names)
        if n_missing:
            log.warning("%d ranked objects have no ra/dec, so no %s name", n_missing, survey)
    df.insert(1 if "rank" in df.columns else 0, "name", names)
    df.insert(df.columns.get_loc("object_id") + 1, "sample",
              sample_labels(df["samples"]) if "samples" in df else [""] * len(df))
    ra_hms, dec_dms = sexagesimal(ra, dec)
    at = df.columns.get_loc("dec") + 1 if "dec" in df else len(df.columns)
    df.insert(at, "ra_hms", ra_hms.astype(str))
    df.insert(at + 1, "dec_dms", dec_dms.astype(str))
    return df


def round_down(values, decimals: int):
    """``values`` rounded down to ``decimals`` decimals: the largest such number that is not above the value.

    So a cut with at most ``decimals`` decimals (P >= 0.7) holds for the
    rounded value exactly where it holds for the full one; NaN stays NaN.
    """
    values = np.asarray(values, dtype=float)
    near = np.round(values, decimals)
    with np.errstate(invalid="ignore"):
        return np.where(near > values, np.round(near - 10.0**-decimals, decimals), near)


def rounded(ranked):
    """A copy of ``ranked`` with each float column rounded to its :data:`CATALOGUE_COLUMNS` decimals.

    Columns that classes or samples are cut on (``P``, ``p_cnn`` and the
    ``p_cnn_*`` columns: :attr:`ColumnSpec.down`) are rounded down
    (:func:`round_down`). Counts (0 decimals) become nullable
    integers, so the CSV reads ``3``, not ``3.0``.
    """
    specs = {col: column_spec(col) for col in ranked.columns if ranked[col].dtype.kind == "f"}
    decimals = {col: spec.decimals for col, spec in specs.items() if spec and spec.decimals is not None}
    out = ranked.round(decimals)
    for col, n in decimals.items():
        if specs[col].down:
            out[col] = round_down(ranked[col], n)
    counts = [col for col, n in decimals.items() if n == 0]
    return out.astype(dict.fromkeys(counts, "Int64")) if counts else out


def catalogue_table(ranked, *, survey: str | None = None, scheme: str | None = None):
    """The ranked list as an astropy Table with units and descriptions, without :data:`LOCAL_COLUMNS`.

    NaN floats and missing values become masked entries. ``survey`` and
    ``scheme`` go to the table's ``meta``.
    """
    import astropy.units as u
    from astropy.table import Table

    df = ranked.drop(columns=[c for c in LOCAL_COLUMNS if c in ranked.columns])
    table = Table.from_pandas(df)
    for col in table.colnames:
        spec = column_spec(col)
        if spec is None:
            continue
        table[col].description = spec.description
        if spec.unit:
            table[col].unit = u.Unit(spec.unit)
        if spec.ucd:  # VOTable FIELD ucd: TOPCAT and Aladin find the positions by it
            table[col].meta["ucd"] = spec.ucd
    table.meta["survey"] = survey or "unknown"
    if scheme:
        table.meta["scheme"] = scheme
    table.meta["description"] = "Lens candidates ranked by CNN probability and human grades (lensfinder merge-scores)"
    return table


#: the FITS null (TNULLn) of a boolean column with missing values, written as int16 1/0
_BOOL_NULL = -1

#: table metadata written as PARAMs of a VOTable's TABLE (the description is its DESCRIPTION)
_VOTABLE_PARAMS = {"survey": "Survey of the objects (lensfinder merge-scores --survey)",
                   "scheme": "Grading scheme of the ranking: li2020 (A, B, C, D) or he2020 (2, 1, 0)"}


def _is_ascii(column) -> bool:
    return all(str(value).isascii() for value in np.ma.asarray(column).compressed())


def _fits_hdu(table):
    """A BinTableHDU of ``table``.

    A boolean column with missing values becomes int16 (1, 0, null -1); a
    text column with non-ASCII characters is written as UTF-8 bytes (which
    astropy's reader decodes again), named in a ``COMMENT``.
    """
    from astropy.io import fits
    from astropy.table import Column, MaskedColumn

    table = table.copy(copy_data=False)
    description = table.meta.pop("description", "")  # FITS keywords have 8 characters: a COMMENT card instead
    utf8 = []
    for col in table.colnames:
        column = table[col]
        if column.dtype.kind == "b" and isinstance(column, MaskedColumn) and column.mask.any():
            # FITS logicals have a null value, but astropy writes a masked bool as True; the null (TNULLn) must
            # be neither 1 nor 0: the masked bool's fill value (True) would turn every 1 into null on reading
            table[col] = MaskedColumn(column.data.astype(np.int16), mask=column.mask, unit=column.unit,
                                      fill_value=_BOOL_NULL,
                                      description=f"{column.description} (1 yes, 0 no, null unknown)")
        elif column.dtype.kind in "UO" and not _is_ascii(column):
            # FITS text is ASCII: astropy's writer fails on a name like "Q2237+030 Hölzl"
            data = np.char.encode(np.ma.asarray(column, dtype=str).filled(""), "utf-8")
            if isinstance(column, MaskedColumn):
                table[col] = MaskedColumn(data, mask=column.mask, unit=column.unit, description=column.description)
            else:
                table[col] = Column(data, unit=column.unit, description=column.description)
            utf8.append(col)
    hdu = fits.table_to_hdu(table)
    hdu.name = "RANKED"
    if description:
        hdu.header["COMMENT"] = description
    if utf8:
        hdu.header["COMMENT"] = f"UTF-8 text in column(s) {', '.join(utf8)}"
    for k, col in enumerate(table.colnames, start=1):
        if table[col].description:  # TCOMMn: the column comment convention of HEASARC and Vizier
            hdu.header[f"TCOMM{k}"] = table[col].description[:68]
    return hdu


def _votable(table):
    """``table`` as an astropy VOTableFile: ``survey`` and ``scheme`` as PARAMs of the TABLE.

    astropy's writer keeps only the ``description`` of the table's meta; a
    PARAM is where TOPCAT and ``parse_single_table(...).params`` find the
    others, as a FITS reader finds ``SURVEY`` and ``SCHEME`` in the header.
    """
    from astropy.io.votable import from_table
    from astropy.io.votable.tree import Param

    votable = from_table(table)
    element = votable.get_first_table()
    for key, text in _VOTABLE_PARAMS.items():
        if table.meta.get(key):
            param = Param(votable, name=key, ID=key, datatype="char", arraysize="*", value=str(table.meta[key]))
            param.description = text
            element.params.append(param)
    return votable


def _catalogue_format(path: Path) -> str:
    fmt = CATALOGUE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unknown catalogue suffix; expected one of {', '.join(CATALOGUE_FORMATS)}")
    return fmt


def catalogue_bytes(table, path) -> bytes:
    """The file ``path`` of ``table`` in its suffix's format (:data:`CATALOGUE_FORMATS`), made in memory.

    So a table that a format cannot hold fails before any file is written
    (:func:`lensfinder.inspection.ranking.write_ranked` makes every file first).
    """
    from astropy.io import fits

    path = Path(path)
    fmt = _catalogue_format(path)
    odd = [col for col in table.colnames if not col.isascii()]
    if odd and fmt == "fits":
        raise InputError(f"{path}: column name {odd[0]!r} is not ASCII; FITS column names (TTYPEn) must be")
    buffer = io.BytesIO()
    if fmt == "fits":
        hdus = fits.HDUList([fits.PrimaryHDU(), _fits_hdu(table)])
        for hdu in hdus:  # CHECKSUM and DATASUM without astropy's write time in their comments: the same bytes
            hdu.add_checksum(when="HDU checksum")
        hdus.writeto(buffer)
    elif fmt == "votable":
        _votable(table).to_xml(buffer)
    else:
        text = io.StringIO()
        table.write(text, format=fmt)
        buffer.write(text.getvalue().encode("utf-8"))  # ECSV is UTF-8
    return buffer.getvalue()


def write_catalogue(table, path) -> Path:
    """Write ``table`` atomically in the format of ``path``'s suffix (:data:`CATALOGUE_FORMATS`)."""
    return write_bytes(catalogue_bytes(table, path), path)


def write_bytes(data: bytes, path) -> Path:
    """Write ``data`` to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
