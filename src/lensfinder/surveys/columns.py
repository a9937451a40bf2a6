"""Catalogue column maps: which column plays each role per KiDS release, and Legacy Tractor rows in KiDS DR4 terms.

The pipeline speaks in *roles* (``r_auto``, ``colour_g_r_gaap``, ...); a
:class:`ColumnMap` names the column of each role in one KiDS release, and
:func:`tractor_to_kids` rewrites DESI Legacy Surveys Tractor rows with the
DR4 names. Provenance of the names and units: ``docs/surveys.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lensfinder.constants import KIDS_CATALOG_PIXEL_SCALE_ARCSEC
from lensfinder.io import InputError
from lensfinder.surveys.designation import DESIGNATIONS, iau_names

__all__ = ["ColumnMap", "COLUMN_MAPS", "RELEASES", "TAP_TABLES", "column_map", "LEGACY_TAP_TABLES",
           "LEGACY_DR10_TRACTOR_COLUMNS", "LEGACY_DR10_COLUMN_MAP", "NANOMAGGY_ZEROPOINT_MAG", "TRACTOR_POINT_TYPES",
           "tractor_to_kids"]

BANDS = ("u", "g", "r", "i")


@dataclass(frozen=True)
class ColumnMap:
    """Which catalogue column plays which role in one KiDS release.

    Attributes
    ----------
    release : str
        ``"dr4"`` or ``"dr3"``.
    roles : dict
        role -> column name. ``None`` means the release has no such column.
    extra : tuple of str
        Further columns downloaded for downstream steps.
    optional : tuple of str
        Roles left out of :attr:`download_columns` and asked for only when a
        step needs them (``download-catalog --columns``): ``dmag`` is off by
        default, and DR3's ``DMAG_R``, ``MAG_AUTO_G``, ``MAG_AUTO_I`` and
        ``FLAG_R`` could not be checked against a real DR3 row or its column
        list, so a default query must not depend on them.
    """

    release: str
    roles: dict = field(default_factory=dict)
    extra: tuple = ()
    #: roles only some settings need; not downloaded by default (ask with
    #: ``download-catalog --columns``)
    optional: tuple = ("dmag",)

    def __getitem__(self, role: str) -> str:
        name = self.roles.get(role)
        if name is None:
            raise InputError(f"KiDS {self.release}: no catalogue column for {role!r} in this release")
        return name

    def get(self, role: str) -> str | None:
        """Column for ``role``, or ``None`` when the release has none."""
        return self.roles.get(role)

    @property
    def download_columns(self) -> list[str]:
        """Every column the pipeline needs, in a stable order, without duplicates."""
        seen: dict[str, None] = {}
        roles = [name for role, name in self.roles.items() if role not in self.optional]
        for name in (*self.extra, *roles):
            if name is not None:
                seen.setdefault(name, None)
        return list(seen)


_DR4 = ColumnMap(
    release="dr4",
    roles={
        "id": "ID",
        "tile": "KIDS_TILE",
        "ra_deg": "RAJ2000",
        "dec_deg": "DECJ2000",
        # r-band Kron-like magnitude (SExtractor MAG_AUTO on the r detection image)
        "r_auto": "MAG_AUTO",
        "r_auto_err": "MAGERR_AUTO",
        "dmag": None,  # DR4 has no per-tile DMAG column (not among the 306 real columns)
        "star_galaxy_2dphot": "SG2DPHOT",
        "class_star": "CLASS_STAR",
        "flux_radius_pix": "FLUX_RADIUS",
        "mask": "MASK",
        "imaflags_iso": "IMAFLAGS_ISO",
        "flag_r": "Flag",  # SExtractor extraction flags of the r detection
        "photo_z": "Z_B",
        "colour_g_r_gaap": "COLOUR_GAAP_g_r",
        "colour_r_i_gaap": "COLOUR_GAAP_r_i",
        # DR4 ships GAaP, not per-band Kron, photometry in u, g, i
        "kron_g": None,
        "kron_r": "MAG_AUTO",
        "kron_i": None,
        **{f"gaap_{b}": f"MAG_GAAP_{b}" for b in BANDS},
        **{f"gaap_err_{b}": f"MAGERR_GAAP_{b}" for b in BANDS},
    },
    extra=("THELI_NAME",),
)

_DR3 = ColumnMap(
    release="dr3",
    roles={
        "id": "ID",
        "tile": "KIDS_TILE",
        "ra_deg": "RAJ2000",
        "dec_deg": "DECJ2000",
        "r_auto": "MAG_AUTO",
        "r_auto_err": "MAGERR_AUTO",
        "dmag": "DMAG_R",
        "star_galaxy_2dphot": "SG2DPHOT",
        "class_star": "CLASS_STAR",
        "flux_radius_pix": "FLUX_RADIUS",
        "mask": None,
        "imaflags_iso": "IMAFLAGS_ISO_R",
        "flag_r": "FLAG_R",
        "photo_z": "Z_B",
        "colour_g_r_gaap": "COLOR_GAAPHOM_G_R",
        "colour_r_i_gaap": "COLOR_GAAPHOM_R_I",
        "kron_g": "MAG_AUTO_G",
        "kron_r": "MAG_AUTO",
        "kron_i": "MAG_AUTO_I",
        **{f"gaap_{b}": f"MAG_GAAP_{b}_CALIB" for b in BANDS},
        **{f"gaap_err_{b}": f"MAGERR_GAAP_{b.upper()}" for b in BANDS},
    },
    # unverified names (docs/surveys.md): not in the default query
    optional=("dmag", "kron_g", "kron_i", "flag_r"),
)

#: release -> column map ("dr4" covers DR4.0 and DR4.1: same names).
COLUMN_MAPS: dict[str, ColumnMap] = {"dr4": _DR4, "dr4.0": _DR4, "dr3": _DR3}

#: release -> ESO tap_cat table.
TAP_TABLES: dict[str, str] = {
    "dr4": "safcat.KiDS_DR4_1_ugriZYJHKs_cat_fits",
    "dr4.0": "safcat.KiDS_DR4_0_ugriZYJHKs_cat_fits_V3",
    "dr3": "safcat.KiDS_DR3_0_ugri_src_fits_V2",
}

RELEASES = tuple(COLUMN_MAPS)


def column_map(release: str) -> ColumnMap:
    """The :class:`ColumnMap` of ``release`` (``dr4``, ``dr4.0`` or ``dr3``)."""
    try:
        return COLUMN_MAPS[release.lower()]
    except KeyError:
        raise InputError(f"release: {release!r} is not a KiDS release; expected one of {', '.join(RELEASES)}") from None


# ---------------------------------------------------------------- DESI Legacy Surveys DR10
#
# The Legacy Surveys catalogue is mapped onto the DR4 names above, so the DR4
# preselection (Li et al. 2020) runs on it unchanged. Every entry is an
# approximation; docs/surveys.md documents each one. Tractor names
# follow the DR10 catalogue description (legacysurvey.org/dr10/catalogs) and
# the Astro Data Lab table ls_dr10.tractor; fluxes are nanomaggies.

#: Tractor fluxes (and Legacy Surveys images) are nanomaggies: mag = 22.5 - 2.5 log10(flux) (Dey et al. 2019).
NANOMAGGY_ZEROPOINT_MAG = 22.5
#: Tractor types that are point sources (PSF) or Gaia duplicates (DUP): "stars" for SG2DPHOT.
TRACTOR_POINT_TYPES = ("PSF", "DUP")
#: ``2.5 / ln(10)``: magnitude error of a flux with relative error 1.
_MAG_ERR_FACTOR = 2.5 / math.log(10.0)

#: release -> Astro Data Lab TAP table of the Tractor catalogue.
LEGACY_TAP_TABLES: dict[str, str] = {"dr10": "ls_dr10.tractor"}

#: Tractor columns the Legacy Surveys download asks for.
LEGACY_DR10_TRACTOR_COLUMNS: tuple[str, ...] = (
    "ls_id", "ra", "dec", "type", "brick_primary",
    "flux_g", "flux_r", "flux_i", "flux_z", "flux_ivar_g", "flux_ivar_r", "flux_ivar_i",
    "shape_r", "maskbits", "fitbits",
)

#: DR4 column written by the Legacy download -> how it is made from Tractor columns.
LEGACY_DR10_COLUMN_MAP: dict[str, str] = {
    "THELI_NAME": "field name",
    "ID": "'LS10 J' + hhmmss.ss+ddmmss.s from ra, dec ('_<ls_id>' appended on a clash)",
    "KIDS_TILE": "field name",
    "RAJ2000": "ra",
    "DECJ2000": "dec",
    "MAG_AUTO": "22.5 - 2.5 log10(flux_r)",
    "MAGERR_AUTO": "1.0857 / (flux_r sqrt(flux_ivar_r))",
    "SG2DPHOT": "1 if type in (PSF, DUP) else 0",
    "CLASS_STAR": "1.0 if type in (PSF, DUP) else 0.0",
    "FLUX_RADIUS": "shape_r / 0.213 (arcsec -> KiDS catalogue pixels)",
    "MASK": "maskbits",
    "IMAFLAGS_ISO": "0 (no equivalent)",
    "Flag": "fitbits",
    "Z_B": "NaN",
    "COLOUR_GAAP_g_r": "mag_g - mag_r (Tractor model fluxes)",
    "COLOUR_GAAP_r_i": "mag_r - mag_i (NaN without i coverage)",
    **{f"MAG_GAAP_{b}": f"22.5 - 2.5 log10(flux_{b})" for b in "gri"},
    "MAG_GAAP_u": "NaN (no u band)",
    **{f"MAGERR_GAAP_{b}": f"1.0857 / (flux_{b} sqrt(flux_ivar_{b}))" for b in "gri"},
    "MAGERR_GAAP_u": "NaN (no u band)",
    "LS_ID": "ls_id (kept)",
    "LS_TYPE": "type (kept)",
}


def _mags(flux, ivar):
    """Magnitudes (ZP 22.5) and errors of nanomaggy fluxes; NaN where unmeasured or <= 0."""
    flux = np.asarray(flux, dtype=float)
    ivar = np.asarray(ivar, dtype=float) if ivar is not None else np.ones_like(flux)
    good = np.isfinite(flux) & (flux > 0) & np.isfinite(ivar) & (ivar > 0)
    safe = np.where(good, flux, 1.0)
    mag = np.where(good, NANOMAGGY_ZEROPOINT_MAG - 2.5 * np.log10(safe), np.nan)
    err = np.where(good, _MAG_ERR_FACTOR / (safe * np.sqrt(np.where(good, ivar, 1.0))), np.nan)
    return mag, err


def tractor_to_kids(tractor, field: str):
    """Map Tractor rows onto the KiDS DR4 column names (each approximation: ``docs/surveys.md``).

    Parameters
    ----------
    tractor : pandas.DataFrame
        Columns :data:`lensfinder.surveys.columns.LEGACY_DR10_TRACTOR_COLUMNS`
        (``brick_primary`` optional); fluxes in nanomaggies, ``shape_r`` arcsec.
    field : str
        Field name, written to ``KIDS_TILE`` and ``THELI_NAME``.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`lensfinder.surveys.columns.LEGACY_DR10_COLUMN_MAP`
        in that order, one row per input row.
    """
    import pandas as pd

    need = [c for c in LEGACY_DR10_TRACTOR_COLUMNS if c != "brick_primary"]
    missing = [c for c in need if c not in tractor.columns]
    if missing:
        raise InputError(f"field {field}: Tractor rows lack column(s) {', '.join(missing)} (ls_dr10.tractor)")

    def num(name):
        return pd.to_numeric(tractor[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    n = len(tractor)
    ra, dec = num("ra"), num("dec")
    mags = {b: _mags(num(f"flux_{b}"), num(f"flux_ivar_{b}")) for b in "gri"}
    types = tractor["type"].astype(str).str.strip().str.upper().to_numpy(dtype=object)
    point = np.isin(types, TRACTOR_POINT_TYPES)
    ls_id = pd.to_numeric(tractor["ls_id"], errors="coerce").fillna(-1).to_numpy(dtype=np.int64)
    ids = pd.Series(iau_names(ra, dec, DESIGNATIONS["legacy_dr10"]), dtype=object)
    clash = ids.duplicated(keep=False).to_numpy()
    if clash.any():
        ids[clash] = [f"{i}_{k}" for i, k in zip(ids[clash], ls_id[clash])]
    shape_r = num("shape_r")

    def flags(name):
        return pd.to_numeric(tractor[name], errors="coerce").fillna(0).to_numpy(dtype=np.int64)

    out = {
        "THELI_NAME": np.full(n, field, dtype=object),
        "ID": ids.to_numpy(dtype=object),
        "KIDS_TILE": np.full(n, field, dtype=object),
        "RAJ2000": ra,
        "DECJ2000": dec,
        "MAG_AUTO": mags["r"][0],
        "MAGERR_AUTO": mags["r"][1],
        "SG2DPHOT": point.astype(np.int64),
        "CLASS_STAR": point.astype(float),
        "FLUX_RADIUS": shape_r / KIDS_CATALOG_PIXEL_SCALE_ARCSEC,
        "MASK": flags("maskbits"),
        "IMAFLAGS_ISO": np.zeros(n, dtype=np.int64),
        "Flag": flags("fitbits"),
        "Z_B": np.full(n, np.nan),
        "COLOUR_GAAP_g_r": mags["g"][0] - mags["r"][0],
        "COLOUR_GAAP_r_i": mags["r"][0] - mags["i"][0],
        "MAG_GAAP_u": np.full(n, np.nan),
        "MAGERR_GAAP_u": np.full(n, np.nan),
        "LS_ID": ls_id,
        "LS_TYPE": types,
    }
    for b in "gri":
        out[f"MAG_GAAP_{b}"], out[f"MAGERR_GAAP_{b}"] = mags[b]
    frame = pd.DataFrame({name: out[name] for name in LEGACY_DR10_COLUMN_MAP})
    for name in ("THELI_NAME", "ID", "KIDS_TILE", "LS_TYPE"):
        frame[name] = frame[name].astype(str)
    return frame
