"""Preselection of lens-candidate hosts: the papers' samples, cut by cut.

Each release has a recipe, a list of named cuts evaluated independently on
every catalogue row; a sample is the AND of its cuts. KiDS DR4: Li et al.
2020, section 2.1; KiDS DR3: He et al. 2020, section 4. The cuts, the
choices made where the papers are unclear, and the output tables are
described in docs/selection.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from lensfinder.io import InputError, write_csv, write_table
from lensfinder.surveys.columns import column_map

__all__ = [
    "colour_par_perp",
    "is_detected",
    "preselect",
    "required_columns",
    "SAMPLES",
    "CUT_DESCRIPTIONS",
    "preselect_files",
    "check_rows",
    "write_flags_and_cutflow",
    "CUTFLOW_DTYPES",
]

log = logging.getLogger(__name__)

# Li et al. 2020, section 2.1 (BG) and eq. 1 (LRG); Petrillo et al. 2017.
LI2020_BG_R_AUTO_MAX_MAG = 21.0
LI2020_LRG_R_AUTO_MAX_MAG = 20.0
LRG_C_PAR_ZERO_MAG = 14.0  # He et al. 2020 print r < c_par/0.3; Petrillo's 14 + c_par/0.3 (docs/selection.md)
LRG_C_PAR_SLOPE = 0.3
LRG_C_PERP_MAX = 0.2
# He et al. 2020, section 4.
HE2020_CLASS_STAR_RANGE = (0.01, 0.03)
HE2020_FLUX_RADIUS_RANGE_PIX = (5.0, 30.0)  # catalogue pixels, not the paper's "arcsecs" (docs/selection.md)
HE2020_R_AUTO_MAX_MAG = 20.0
#: disk_blue: g - r below this (blue cloud), our stand-in for He et al.'s hand-picked disks.
DISK_G_R_MAX = 0.6
#: KiDS writes 99 (or larger) for a magnitude it could not measure.
NON_DETECTION_MAG = 90.0
#: A needed column without one finite value in this many rows is a failed query or a wrong
#: column, not data (KiDS measures them for nearly every source): preselect refuses it.
ALL_NAN_MIN_ROWS = 10
#: roles only some samples' cuts read (the LRG and disk colours, DR3's FLAG_R): one without a finite
#: value is real data (a Legacy Surveys field without i band has no r - i, docs/surveys.md), not refused
#: but warned about; those cuts are false, the other samples stay
SOME_SAMPLES_ROLES = ("colour_g_r_gaap", "colour_r_i_gaap", "kron_g", "kron_r", "kron_i", "flag_r")
#: the cut flow's columns and dtypes: one row per sample and step, the rows left after that step's cut
CUTFLOW_DTYPES = {"sample": str, "step": "int64", "cut": str, "n_remaining": "int64"}

#: cut column -> what it keeps
CUT_DESCRIPTIONS: dict[str, str] = {
    "sg2dphot_galaxy": "SG2DPHOT == 0 (2DPHOT galaxy)",
    "r_auto_le_21": "r_auto <= 21",
    "r_auto_le_20": "r_auto <= 20",
    "r_auto_lt_20": "r_auto < 20",
    "lrg_c_par": "r_auto < 14 + c_par/0.3",
    "lrg_c_perp": "|c_perp| < 0.2",
    "class_star_extended": "0.01 <= CLASS_STAR <= 0.03",
    "flux_radius_5_30_pix": "5 <= FLUX_RADIUS <= 30 (0.213\"/px catalogue pixels)",
    "detected_ugri": "finite GAaP magnitude < 90 and error > 0 in u, g, r, i",
    "flag_r_zero": "FLAG_R == 0 (no masks)",
    "blue_g_r": "g - r < 0.6 (blue cloud: disk proxy, not in the papers)",
    "mask_clean": "MASK & bits == 0 and IMAFLAGS_ISO == 0 (optional)",
}

#: release -> sample -> ordered cuts (the mask cut is appended when asked for)
SAMPLES: dict[str, dict[str, list[str]]] = {
    "dr4": {
        "bg_li2020": ["sg2dphot_galaxy", "r_auto_le_21"],
        "lrg_li2020": ["sg2dphot_galaxy", "r_auto_le_21", "r_auto_le_20", "lrg_c_par", "lrg_c_perp"],
        "disk_blue": ["sg2dphot_galaxy", "r_auto_le_21", "r_auto_le_20", "blue_g_r"],
    },
    "dr3": {
        "lrg_he2020": ["class_star_extended", "flux_radius_5_30_pix", "detected_ugri",
                       "r_auto_lt_20", "lrg_c_perp", "lrg_c_par"],
        "lrg_he2020_refined": ["class_star_extended", "flux_radius_5_30_pix", "detected_ugri",
                               "r_auto_lt_20", "lrg_c_perp", "lrg_c_par", "flag_r_zero"],
        "disk_blue": ["class_star_extended", "flux_radius_5_30_pix", "detected_ugri", "r_auto_lt_20", "blue_g_r"],
    },
}
SAMPLES["dr4.0"] = SAMPLES["dr4"]


def colour_par_perp(g_r, r_i):
    """LRG colour coordinates of Petrillo et al. 2017 (Li et al. 2020, eq. 1).

    Parameters
    ----------
    g_r, r_i : array_like
        ``g - r`` and ``r - i`` colours (mag).

    Returns
    -------
    c_par, c_perp : numpy.ndarray
        ``0.7 (g-r) + 1.2 [(r-i) - 0.18]`` and ``(r-i) - (g-r)/4 - 0.18`` (mag).
    """
    g_r = np.asarray(g_r, dtype=float)
    r_i = np.asarray(r_i, dtype=float)
    c_par = 0.7 * g_r + 1.2 * (r_i - 0.18)
    c_perp = r_i - g_r / 4.0 - 0.18
    return c_par, c_perp


def is_detected(mag, mag_err):
    """True where a band counts as detected: finite magnitude below 90 (KiDS writes 99) and error > 0."""
    mag = np.asarray(mag, dtype=float)
    mag_err = np.asarray(mag_err, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(mag) & np.isfinite(mag_err) & (mag < NON_DETECTION_MAG) & (mag_err > 0)


def _resolve_colours(release: str, colours: str | None) -> str:
    colours = colours or ("gaap" if release.startswith("dr4") else "kron")
    if colours not in ("gaap", "kron"):
        raise InputError(f"colours: {colours!r}; expected 'gaap' or 'kron'")
    if release.startswith("dr4") and colours == "kron":
        raise InputError("colours: KiDS dr4 has no per-band Kron (MAG_AUTO) magnitudes; use colours='gaap'")
    return colours


def required_columns(release: str = "dr4", mask_cut: bool = False, colours: str | None = None,
                     apply_dmag: bool = False) -> list[str]:
    """Catalogue columns :func:`preselect` needs for these settings."""
    cmap = column_map(release)
    colours = _resolve_colours(cmap.release, colours)
    roles = ["id", "r_auto"]
    if cmap.release == "dr4":
        roles += ["star_galaxy_2dphot"]
    else:
        roles += ["class_star", "flux_radius_pix", "flag_r"]
        roles += [f"gaap_{b}" for b in "ugri"] + [f"gaap_err_{b}" for b in "ugri"]
    roles += ["colour_g_r_gaap", "colour_r_i_gaap"] if colours == "gaap" else ["kron_g", "kron_r", "kron_i"]
    if apply_dmag:
        roles.append("dmag")
    if mask_cut:
        roles += ["mask", "imaflags_iso"] if cmap.get("mask") else ["imaflags_iso"]
    names: list[str] = []
    for role in roles:
        name = cmap.get(role)
        if name is None:
            raise InputError(f"KiDS {cmap.release}: this release has no column for {role!r} "
                             f"(needed by these preselection settings)")
        if name not in names:
            names.append(name)
    return names


def preselect(catalog: pd.DataFrame, release: str = "dr4", *, mask_cut: bool = False,
              colours: str | None = None, apply_dmag: bool = False, mask_bits: int | None = None,
              source: str = "catalogue") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flag every catalogue row with each cut and each sample of ``release``.

    Parameters
    ----------
    catalog : pandas.DataFrame
        KiDS catalogue rows with the release's column names
        (:mod:`lensfinder.surveys.columns`).
    release : {"dr4", "dr4.0", "dr3"}
        Selects the recipe: Li et al. 2020 (DR4) or He et al. 2020 (DR3).
    mask_cut : bool
        Add the optional ``mask_clean`` cut to every sample (off by default,
        as in both papers).
    colours : {"gaap", "kron"}, optional
        Photometry of the LRG colours; default GAaP for DR4, Kron for DR3.
    apply_dmag : bool
        Add the per-tile zero-point shift ``DMAG_R`` to ``MAG_AUTO`` (DR3).
    mask_bits : int, optional
        ``MASK`` bits that count as masked for the mask cut (default: any bit).
    source : str
        Name of the input, for error messages.

    Returns
    -------
    flags : pandas.DataFrame
        ``ID`` + one bool column per cut + one per sample, input row order.
    cutflow : pandas.DataFrame
        ``sample, step, cut, n_remaining``.

    Raises
    ------
    lensfinder.io.InputError
        A needed column is missing (the message names it and the release).
    """
    cmap = column_map(release)
    release = cmap.release
    colours = _resolve_colours(release, colours)
    needed = required_columns(release, mask_cut=mask_cut, colours=colours, apply_dmag=apply_dmag)
    missing = [c for c in needed if c not in catalog.columns]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(missing)} needed for the KiDS {release} "
                         f"preselection (colours={colours}, mask_cut={mask_cut})")

    def col(role: str) -> np.ndarray:
        return pd.to_numeric(catalog[cmap[role]], errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    optional = {cmap.get(role) for role in SOME_SAMPLES_ROLES} - {cmap["id"], cmap["r_auto"]}
    check_rows(catalog, cmap["id"], [c for c in needed if c not in optional and c != cmap["id"]], source,
                [c for c in needed if c in optional])

    r_auto = col("r_auto")
    if apply_dmag:
        r_auto = r_auto + col("dmag")
    if colours == "gaap":
        g_r, r_i = col("colour_g_r_gaap"), col("colour_r_i_gaap")
    else:
        g, r, i = col("kron_g"), col("kron_r"), col("kron_i")
        g_r, r_i = g - r, r - i
    c_par, c_perp = colour_par_perp(g_r, r_i)

    cuts: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore"):
        if release == "dr4":
            cuts["sg2dphot_galaxy"] = col("star_galaxy_2dphot") == 0
            cuts["r_auto_le_21"] = r_auto <= LI2020_BG_R_AUTO_MAX_MAG
            cuts["r_auto_le_20"] = r_auto <= LI2020_LRG_R_AUTO_MAX_MAG
        else:
            cs = col("class_star")
            fr = col("flux_radius_pix")
            cuts["class_star_extended"] = (cs >= HE2020_CLASS_STAR_RANGE[0]) & (cs <= HE2020_CLASS_STAR_RANGE[1])
            cuts["flux_radius_5_30_pix"] = ((fr >= HE2020_FLUX_RADIUS_RANGE_PIX[0])
                                            & (fr <= HE2020_FLUX_RADIUS_RANGE_PIX[1]))
            detected = np.ones(len(catalog), dtype=bool)
            for b in "ugri":
                detected &= is_detected(col(f"gaap_{b}"), col(f"gaap_err_{b}"))
            cuts["detected_ugri"] = detected
            cuts["r_auto_lt_20"] = r_auto < HE2020_R_AUTO_MAX_MAG
        cuts["lrg_c_par"] = r_auto < LRG_C_PAR_ZERO_MAG + c_par / LRG_C_PAR_SLOPE
        cuts["lrg_c_perp"] = np.abs(c_perp) < LRG_C_PERP_MAX
        cuts["blue_g_r"] = g_r < DISK_G_R_MAX
        if release == "dr3":
            cuts["flag_r_zero"] = col("flag_r") == 0
    if mask_cut:
        clean = col("imaflags_iso") == 0
        if cmap.get("mask"):
            mask = pd.to_numeric(catalog[cmap["mask"]], errors="coerce").fillna(-1).to_numpy(dtype=np.int64)
            bits = -1 if mask_bits is None else int(mask_bits)
            clean &= (mask >= 0) & ((mask & bits) == 0)
        cuts["mask_clean"] = clean

    flags = pd.DataFrame({"ID": catalog[cmap["id"]].astype(str).to_numpy(dtype=object)})
    flags["ID"] = flags["ID"].astype(str)
    for name, values in cuts.items():
        flags[name] = np.asarray(values, dtype=bool)

    rows = []
    for sample, sample_cuts in SAMPLES[release].items():
        steps = list(sample_cuts) + (["mask_clean"] if mask_cut else [])
        keep = np.ones(len(catalog), dtype=bool)
        rows.append((sample, 0, "catalogue", len(catalog)))
        for k, name in enumerate(steps, start=1):
            keep &= cuts[name]
            rows.append((sample, k, name, int(keep.sum())))
        flags[sample] = keep
        log.info("%s: %d of %d rows", sample, int(keep.sum()), len(catalog))
        if len(catalog) and not keep.any():
            lost = next(cut for _, _, cut, n in rows[-len(steps):] if n == 0)
            log.warning("%s: sample %s selects NONE of %d rows (the cut %s leaves nothing)",
                        source, sample, len(catalog), lost)
    if not len(catalog):
        log.warning("%s: the catalogue is empty: every sample is empty", source)
    cutflow = pd.DataFrame(rows, columns=["sample", "step", "cut", "n_remaining"])
    cutflow = cutflow.astype(CUTFLOW_DTYPES)
    return flags, cutflow


def check_rows(catalog: pd.DataFrame, id_column: str, value_columns: list[str], source: str,
                optional_columns: list[str] = ()) -> None:
    """Refuse duplicated IDs and ``value_columns`` without a single finite value (the cuts would keep nothing);
    warn about ``optional_columns`` without one (only some samples' cuts read them)."""
    ids = catalog[id_column].astype(str)
    repeated = ids[ids.duplicated(keep=False)]
    if len(repeated):
        names = list(dict.fromkeys(repeated))
        shown = ", ".join(repr(v) for v in names[:5]) + (", ..." if len(names) > 5 else "")
        raise InputError(f"{source}: {id_column}: {len(names)} IDs appear more than once ({len(repeated)} rows), "
                         f"e.g. {shown}; expected one row per object (a catalogue part merged twice?)")

    def no_finite(c: str) -> bool:
        return not np.isfinite(pd.to_numeric(catalog[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)).any()

    missing = [c for c in optional_columns if no_finite(c)]
    if missing and len(catalog):
        log.warning("%s: column(s) %s: no finite value in %d rows (e.g. a Legacy Surveys field without that band): "
                    "the cuts on them are false; the samples that need none of them are kept", source,
                    ", ".join(missing), len(catalog))
    empty = [c for c in value_columns if no_finite(c)]
    if not empty or not len(catalog):
        return
    message = (f"{source}: column(s) {', '.join(empty)}: no finite value in {len(catalog)} rows (all NaN or not "
               f"numbers); expected measured values: every cut on them is false")
    if len(catalog) >= ALL_NAN_MIN_ROWS:
        raise InputError(message)
    log.warning("%s", message)


def _read_catalog(path: Path, columns: list[str], release: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        names = pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"{path}: cannot read as Parquet: {exc}") from exc
    missing = [c for c in columns if c not in names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} needed for the KiDS {release} preselection")
    return pd.read_parquet(path, columns=columns)


def preselect_files(catalog, out, cutflow_out, release: str = "dr4", *, mask_cut: bool = False,
                    colours: str | None = None, apply_dmag: bool = False, mask_bits: int | None = None):
    """:func:`preselect` a catalogue file (only the needed columns are read); write the flags and cut flow.

    Parameters
    ----------
    catalog : path
        Merged catalogue (Parquet).
    out : path
        Flags table (Parquet).
    cutflow_out : path
        Cut-flow table (Parquet); a ``.csv`` copy is written beside it.
    release, mask_cut, colours, apply_dmag, mask_bits
        As for :func:`preselect`.

    Returns
    -------
    flags, cutflow : pandas.DataFrame
    """
    columns = required_columns(release, mask_cut=mask_cut, colours=colours, apply_dmag=apply_dmag)
    table = _read_catalog(Path(catalog), columns, release)
    flags, cutflow = preselect(table, release, mask_cut=mask_cut, colours=colours, apply_dmag=apply_dmag,
                               mask_bits=mask_bits, source=str(catalog))
    write_flags_and_cutflow(flags, cutflow, out, cutflow_out)
    log.info("wrote %s (%d rows) and %s", out, len(flags), cutflow_out)
    return flags, cutflow


def write_flags_and_cutflow(flags, cutflow, out, cutflow_out):
    """The flags and the cut flow as Parquet (written atomically), and the cut flow's ``.csv`` copy beside it."""
    write_table(flags, out)
    write_table(cutflow, cutflow_out)
    write_csv(cutflow, Path(cutflow_out).with_suffix(".csv"))
