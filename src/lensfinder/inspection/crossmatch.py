"""Cross-match candidates by position with known lenses and lens candidates (lenscat, or a user table).

lenscat's catalogue (Vujeva et al. 2024) is read offline from the CSV the
package ships, without importing ``lenscat`` (its ``__init__`` is slow and
noisy). Inputs and output columns are described in docs/inspection.md.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

from lensfinder.io import InputError, read_csv_table, read_table, require_columns, write_csv, write_table

__all__ = ["lenscat_catalog_path", "load_lenscat", "load_known_table", "load_reference", "crossmatch_candidates",
           "crossmatch_file", "OUTPUT_COLUMNS", "REFERENCE_COLUMNS"]

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ["object_id", "known_lens", "lenscat_name", "lenscat_grading", "separation_arcsec"]
REFERENCE_COLUMNS = ["name", "ra", "dec", "grading"]


def lenscat_catalog_path() -> Path:
    """Path of the CSV catalogue shipped in the ``lenscat`` package (not imported)."""
    spec = importlib.util.find_spec("lenscat")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("lenscat: package not installed; pip install lenscat, or pass --known TABLE --no-lenscat")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "catalog.csv"
    if not path.exists():
        raise InputError(f"{path}: lenscat's catalogue file is missing; pass --known TABLE --no-lenscat")
    return path


#: the reference table's columns, each read from the first of its names (case and spaces ignored)
#: that the table has: a table with both ``ra`` and ``RAJ2000`` gives ``ra``
_REFERENCE_NAMES = {"name": ("name", "object_id", "id"), "ra": ("ra", "raj2000", "ra_deg", "ra [deg]"),
                    "dec": ("dec", "decj2000", "dec_deg", "dec [deg]"), "grading": ("grading",)}


def _standardize(df, source: str):
    import pandas as pd

    keys = {}
    for col in df.columns:
        keys.setdefault(str(col).strip().lower(), col)
    renames = {}
    for target, names in _REFERENCE_NAMES.items():
        found = next((keys[n] for n in names if n in keys), None)
        if found is not None:
            renames[found] = target
    missing = [t for t in ("name", "ra", "dec") if t not in renames.values()]
    if missing:
        raise InputError(f"{source}: reference lens table (name, ra, dec in deg) has no column "
                         + "; ".join(f"{t!r} (or {', '.join(repr(n) for n in _REFERENCE_NAMES[t][1:])})"
                                     for t in missing)
                         + f"; its columns: {', '.join(map(str, df.columns))}")
    df = df[list(renames)].rename(columns=renames)
    out = pd.DataFrame({
        "name": df["name"].astype(str),
        "ra": pd.to_numeric(df["ra"], errors="coerce"),
        "dec": pd.to_numeric(df["dec"], errors="coerce"),
        "grading": df["grading"].fillna("").astype(str) if "grading" in df.columns else "",
    })
    bad = ~(np.isfinite(out["ra"]) & np.isfinite(out["dec"]))
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{source}: line {k + 2}: ra/dec not numbers (name {out['name'].iloc[k]!r})")
    return out


def load_lenscat():
    """The lenscat reference catalogue as a DataFrame ``name, ra, dec, grading``."""
    import pandas as pd

    path = lenscat_catalog_path()
    return _standardize(pd.read_csv(path), str(path))


def load_known_table(path):
    """A user reference table (CSV or Parquet) as ``name, ra, dec, grading``."""

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    df = read_table(path) if path.suffix == ".parquet" else read_csv_table(path, what="a reference table of lenses")
    return _standardize(df, str(path))


def crossmatch_candidates(candidates, reference, radius_arcsec: float = 2.0):
    """Nearest reference object within ``radius_arcsec`` of each candidate.

    Parameters
    ----------
    candidates : pandas.DataFrame
        ``object_id``, ``ra``, ``dec`` (deg).
    reference : pandas.DataFrame
        ``name``, ``ra``, ``dec`` (deg), ``grading``.
    radius_arcsec : float
        Match radius in arcsec.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`OUTPUT_COLUMNS`, one row per candidate.
    """
    import astropy.units as u
    import pandas as pd
    from astropy.coordinates import SkyCoord

    if not radius_arcsec > 0:
        raise InputError(f"--radius-arcsec: {radius_arcsec}: expected a positive radius")
    require_columns(candidates, ["object_id", "ra", "dec"], "candidates", "positions in deg")
    ra = pd.to_numeric(candidates["ra"], errors="coerce").to_numpy(dtype=float)
    dec = pd.to_numeric(candidates["dec"], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(ra) & np.isfinite(dec)) | (np.abs(dec) > 90)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(f"candidates: row {k}: ra/dec: not a valid position in deg for object_id "
                         f"{candidates['object_id'].iloc[k]!r}")
    n = len(candidates)
    out = pd.DataFrame({
        "object_id": candidates["object_id"].astype(str).to_numpy(),
        "known_lens": np.zeros(n, dtype=bool),
        "lenscat_name": np.full(n, "", dtype=object),
        "lenscat_grading": np.full(n, "", dtype=object),
        "separation_arcsec": np.full(n, np.nan),
    })
    if n and len(reference):
        cand = SkyCoord(ra * u.deg, dec * u.deg)
        ref = SkyCoord(reference["ra"].to_numpy(float) * u.deg, reference["dec"].to_numpy(float) * u.deg)
        idx, sep, _ = cand.match_to_catalog_sky(ref)
        sep_arcsec = sep.to_value(u.arcsec)
        hit = sep_arcsec <= radius_arcsec
        out["known_lens"] = hit
        out.loc[hit, "lenscat_name"] = reference["name"].to_numpy()[idx[hit]]
        out.loc[hit, "lenscat_grading"] = reference["grading"].to_numpy()[idx[hit]]
        out.loc[hit, "separation_arcsec"] = sep_arcsec[hit]
    return out.astype({"object_id": str, "known_lens": bool, "lenscat_name": str, "lenscat_grading": str,
                       "separation_arcsec": float})


def load_reference(known=None, *, lenscat: bool = True):
    """The reference list: lenscat's catalogue (unless ``lenscat`` is False), then the table ``known``, if given."""
    import pandas as pd

    refs = []
    if lenscat:
        refs.append(load_lenscat())
    if known:
        refs.append(load_known_table(known))
    if not refs:
        raise InputError("--no-lenscat: no reference left; pass --known TABLE")
    return pd.concat(refs, ignore_index=True)


def crossmatch_file(candidates_path, out, *, radius_arcsec: float = 2.0, known=None, lenscat: bool = True,
                    out_csv=None):
    """:func:`crossmatch_candidates` of a candidate table against :func:`load_reference`, written atomically.

    ``candidates_path`` holds ``object_id, ra, dec`` (deg); the result goes to
    ``out`` (Parquet) and, if given, ``out_csv``. Returns the result table.
    """
    candidates = read_table(candidates_path, required=["object_id", "ra", "dec"])
    reference = load_reference(known, lenscat=lenscat)
    try:
        result = crossmatch_candidates(candidates, reference, radius_arcsec)
    except InputError as exc:
        raise InputError(f"{candidates_path}: {exc}") from exc
    write_table(result, out)
    if out_csv:
        write_csv(result, out_csv)
    log.info("%d of %d candidates lie within %g arcsec of %d known lenses/candidates", int(result["known_lens"].sum()),
             len(result), radius_arcsec, len(reference))
    return result
