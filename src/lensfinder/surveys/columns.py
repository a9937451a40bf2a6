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
            from ..io import InputError

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
        from ..io import InputError

        raise InputError(f"release: {release!r} is not a KiDS release; expected one of {', '.join(RELEASES)}") from None
