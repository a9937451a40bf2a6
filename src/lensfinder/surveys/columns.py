"""Per-release KiDS catalogue column maps.

The pipeline speaks in *roles* (``r_auto``, ``colour_g_r_gaap``, ...); a
:class:`ColumnMap` says which catalogue column plays each role in one data
release. The preselection looks roles up here, and the catalogue download asks
the ESO TAP service for exactly :attr:`ColumnMap.download_columns`.

DR4 names were checked against the 306-column header of real DR4.1 rows
(``tests/data/kids_dr4_sample.csv``, ESO table
``safcat.KiDS_DR4_1_ugriZYJHKs_cat_fits``; a test keeps them in step). DR3
names follow the KiDS DR3 multi-band catalogue (de Jong et al. 2017) as
named in He et al. 2020 and in the project's KiDS issue (``MAG_GAAP_r_CALIB``,
``COLOR_GAAPHOM_G_R``, per-band ``IMAFLAGS_ISO_R`` and ``FLAG_R``); the
per-band Kron magnitudes ``MAG_AUTO_{U,G,I}`` and ``DMAG_R`` could not be
checked against a real DR3 row offline. A release whose table lacks a column
fails loudly: the TAP service rejects the query, and the preselection raises
:class:`lensfinder.io.InputError` naming the column and the release.

Units: magnitudes AB (``*_mag`` roles), ``FLUX_RADIUS`` in catalogue pixels
of 0.213" (:data:`lensfinder.constants.KIDS_CATALOG_PIXEL_SCALE_ARCSEC`),
positions in degrees (ICRS).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ColumnMap", "COLUMN_MAPS", "RELEASES", "TAP_TABLES", "column_map"]

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
        Roles left out of :attr:`download_columns` (``dmag``: off by default,
        and ``DMAG_R`` is unverified against a real DR3 row).
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
            from lensfinder.io import InputError

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
        from lensfinder.io import InputError

        raise InputError(f"release: {release!r} is not a KiDS release; expected one of {', '.join(RELEASES)}") from None


# ---------------------------------------------------------------- DESI Legacy Surveys DR10
#
# The Legacy Surveys catalogue is mapped onto the DR4 names above, so the DR4
# preselection (Li et al. 2020) runs on it unchanged. Every entry is an
# approximation; lensfinder.surveys.legacy documents each one. Tractor names
# follow the DR10 catalogue description (legacysurvey.org/dr10/catalogs) and
# the Astro Data Lab table ls_dr10.tractor; fluxes are nanomaggies.

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

__all__ += ["LEGACY_TAP_TABLES", "LEGACY_DR10_TRACTOR_COLUMNS", "LEGACY_DR10_COLUMN_MAP"]
