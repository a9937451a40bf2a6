"""The ESO archive's endpoints and how it names KiDS products: tile names, releases, original file names.

Sources of every convention (ObsCore columns, file names, release
descriptions) and what is assumed: ``docs/surveys.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lensfinder.io import InputError

__all__ = [
    "ESO_TAP_CAT_URL",
    "ESO_TAP_OBS_URL",
    "ESO_DATAPORTAL_URL",
    "ESO_MAX_ROWS",
    "IMAGE_RELEASES",
    "RELEASE_DESCRIPTIONS",
    "KidsFile",
    "check_tile",
    "tile_centre",
    "same_tile",
    "image_releases",
    "parse_kids_file",
    "origfile_of",
]

ESO_TAP_CAT_URL = "https://archive.eso.org/tap_cat"
ESO_TAP_OBS_URL = "https://archive.eso.org/tap_obs"
#: files by dp_id: {ESO_DATAPORTAL_URL}/{dp_id}
ESO_DATAPORTAL_URL = "https://dataportal.eso.org/dataPortal/file"
#: ESO tap_cat caps every result at this many rows.
ESO_MAX_ROWS = 15_000_000

#: catalogue release (``columns.RELEASES``) -> image releases whose coadds
#: belong to it, preferred first. DR4.1 re-released the catalogue only, so
#: its images are DR4.0's. The DR3 catalogue covers 440 tiles but DR3 shipped
#: coadds for its 292 new tiles only; the others' are DR1/DR2 products.
IMAGE_RELEASES: dict[str, tuple[str, ...]] = {
    "dr4": ("DR4.0",),
    "dr4.0": ("DR4.0",),
    "dr3": ("DR3.0", "DR2.0", "DR1.0"),
}
#: ESO ObsCore ``release_description`` -> KiDS image release, where known
RELEASE_DESCRIPTIONS: dict[str, str] = {
    "https://www.eso.org/rm/api/v1/public/releaseDescriptions/127": "DR4.0",
    "https://www.eso.org/rm/api/v1/public/releaseDescriptions/229": "DR5.0",
}

_TILE_RE = re.compile(r"^KIDS_(\d{1,3}(?:\.\d+)?)_(-?\d{1,2}(?:\.\d+)?)$")
#: KiDS_DR4.0_13.5_-28.2_r_sci.fits (DR5: band i2 for the second i epoch;
#: DR4/DR5: r_det_sci for the lensing detection image)
_FILE_RE = re.compile(r"^KiDS_(DR\d+\.\d+)_(\d{1,3}(?:\.\d+)?)_(-?\d{1,2}(?:\.\d+)?)_([ugriz]\d?)_(\w+?)"
                      r"(?:_TARGET_.*)?\.fits(?:\.fz)?$")
_RELEASE_RE = re.compile(r"^DR\d+\.\d+$")


@dataclass(frozen=True)
class KidsFile:
    """What a KiDS product's original file name says.

    Attributes
    ----------
    release : str
        ``"DR4.0"``, ``"DR5.0"``, ...
    tile : str
        Tile name, ``"KIDS_13.5_-28.2"``.
    band : str
        ``u``, ``g``, ``r``, ``i`` (``i2``: DR5's second i epoch).
    product : str
        ``sci`` (coadd), ``wei`` (weight), ``msk`` (mask), ``det_sci``, ...
    """

    release: str
    tile: str
    band: str
    product: str


def check_tile(tile: str) -> str:
    """``tile`` if it is a KiDS tile name like ``KIDS_5.6_-28.2``, else :class:`~lensfinder.io.InputError`."""
    if not isinstance(tile, str) or not _TILE_RE.match(tile):
        raise InputError(f"tile: {tile!r} is not a KiDS tile name like 'KIDS_5.6_-28.2'")
    return tile


def tile_centre(tile: str) -> tuple[float, float]:
    """Centre ``(ra_deg, dec_deg)`` of a KiDS tile, read from its name (``KIDS_<ra>_<dec>``)."""
    m = _TILE_RE.match(check_tile(tile))
    return float(m.group(1)), float(m.group(2))


def same_tile(a: str, b: str) -> bool:
    """True when two tile names name one tile (``KIDS_6.5_-28.2`` and ``KIDS_6.50_-28.20`` do)."""
    try:
        (ra1, dec1), (ra2, dec2) = tile_centre(a), tile_centre(b)
    except InputError:
        return False
    return abs(ra1 - ra2) < 1e-6 and abs(dec1 - dec2) < 1e-6


def image_releases(release: str, image_release: str | None = None) -> tuple[str, ...]:
    """Image releases to accept for catalogue ``release``: ``image_release`` alone when given.

    ``image_release`` ``None`` or ``"auto"`` means :data:`IMAGE_RELEASES`.
    """
    if image_release not in (None, "", "auto"):
        if not _RELEASE_RE.match(str(image_release)):
            raise InputError(f"image release: {image_release!r}; expected 'auto' or a KiDS release like 'DR4.0'")
        return (str(image_release),)
    try:
        return IMAGE_RELEASES[release.lower()]
    except KeyError:
        raise InputError(f"release: {release!r} is not a KiDS release; expected one of "
                         f"{', '.join(IMAGE_RELEASES)}") from None


def parse_kids_file(name: str) -> KidsFile | None:
    """The :class:`KidsFile` of an original file name (a path or ``ivo://`` prefix is dropped); ``None`` if not KiDS."""
    base = str(name or "").rsplit("?", 1)[-1].rsplit("/", 1)[-1].strip()
    m = _FILE_RE.match(base)
    if not m:
        return None
    release, ra, dec, band, product = m.groups()
    return KidsFile(release=release, tile=f"KIDS_{ra}_{dec}", band=band, product=product)


def origfile_of(creator_did: str) -> str:
    """The original file name in an ObsCore ``obs_creator_did`` (``ivo://eso.org/origfile?NAME``); ``""`` if none."""
    text = str(creator_did or "")
    return text.split("origfile?", 1)[1] if "origfile?" in text else ""
