"""KiDS from the ESO archive: catalogue parts and tile lists through TAP, and the :class:`KidsBackend`.

Tile images (ObsCore, Datalink, SODA, the release check) are in
:mod:`lensfinder.surveys.kids_images`; names and endpoints in
:mod:`lensfinder.surveys.eso`. Access notes (queries, caching, checksums,
the tile format): ``docs/surveys.md``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from lensfinder.constants import KIDS_COADD_PIXEL_SCALE_ARCSEC
from lensfinder.io import InputError, write_csv, write_table
from lensfinder.surveys.base import DEFAULT_TIMEOUT_S, DownloadError, SurveyBackend, make_session
from lensfinder.surveys.columns import TAP_TABLES, column_map
from lensfinder.surveys.eso import (ESO_DATAPORTAL_URL, ESO_MAX_ROWS, ESO_TAP_CAT_URL, ESO_TAP_OBS_URL, check_tile,
                                    tile_centre)
from lensfinder.surveys.kids_images import download_tile
from lensfinder.surveys.tap import adql_circle, as_text, check_region, column_of, query_with_retries, table_to_frame

__all__ = [
    "KidsBackend",
    "catalog_query",
    "query_catalog",
    "download_catalog",
    "kids_tiles",
    "kids_tiles_in_region",
    "write_tile_list",
    "read_tile_list",
]

log = logging.getLogger(__name__)


def catalog_query(release: str = "dr4", *, tile: str | None = None, region=None,
                  columns: list[str] | None = None) -> str:
    """ADQL for one tile (``KIDS_TILE = '...'``) or a circle ``(ra, dec, radius)`` in degrees."""
    cmap = column_map(release)
    table = TAP_TABLES[release.lower()]
    names = ", ".join(columns or cmap.download_columns)
    if (tile is None) == (region is None):
        raise InputError("catalogue query: give exactly one of tile or region")
    if tile is not None:
        where = f"{cmap['tile']} = '{check_tile(tile)}'"
    else:
        where = adql_circle(cmap["ra_deg"], cmap["dec_deg"], *check_region(region))
    return f"SELECT {names} FROM {table} WHERE {where}"


def query_catalog(release: str = "dr4", *, tile: str | None = None, region=None, tap_url: str = ESO_TAP_CAT_URL,
                  mode: str = "auto", retries: int = 4, backoff_s: float = 2.0, session=None,
                  columns: list[str] | None = None):
    """Catalogue rows of a tile or region as a DataFrame (release column names).

    ``mode="auto"`` runs sync and switches to an async job after a client or
    server timeout (:func:`lensfinder.surveys.tap.query_with_retries`);
    transient failures are retried.
    """
    cmap = column_map(release)
    columns = columns or cmap.download_columns
    query = catalog_query(release, tile=tile, region=region, columns=columns)
    what = f"KiDS {cmap.release} tile {tile}" if tile else f"KiDS {cmap.release} region {tuple(region)}"
    table = query_with_retries(query, tap_url, maxrec=ESO_MAX_ROWS, mode=mode, session=session, what=what,
                               retries=retries, backoff_s=backoff_s)
    frame = table_to_frame(table, columns, what)
    log.info("%s: %d rows", what, len(frame))
    return frame


def download_catalog(out, release: str = "dr4", *, tile: str | None = None, region=None, **kwargs) -> Path:
    """Fetch one tile (or region) into its own Parquet part ``out``; skip if it exists.

    Keyword arguments go to :func:`query_catalog`. The part is written
    atomically, so a part on disk is always complete.
    """
    out = Path(out)
    if out.exists():
        log.info("%s: already downloaded, not fetched again", out)
        return out
    frame = query_catalog(release, tile=tile, region=region, **kwargs)
    return write_table(frame, out)


def kids_tiles(release: str = "dr4", *, tiles=None, region=None, tap_url: str = ESO_TAP_CAT_URL,
               session=None, retries: int = 4, backoff_s: float = 2.0) -> list[str]:
    """Tile names for the config: an explicit list, the tiles in a region, or all.

    Parameters
    ----------
    tiles : list of str, optional
        Returned (validated, sorted, unique) without asking the service.
    region : (ra_deg, dec_deg, radius_deg), optional
        Tiles with at least one source in the circle.
    Without either, every tile of the release (an async query over the whole table).
    """
    if tiles:
        return sorted({check_tile(t) for t in tiles})
    cmap = column_map(release)
    where = ""
    if region is not None:
        where = " WHERE " + adql_circle(cmap["ra_deg"], cmap["dec_deg"], *check_region(region))
    query = f"SELECT DISTINCT {cmap['tile']} FROM {TAP_TABLES[release.lower()]}{where}"
    what = f"KiDS {cmap.release} tile list"
    table = query_with_retries(query, tap_url, maxrec=ESO_MAX_ROWS, mode="async", session=session, what=what,
                               retries=retries, backoff_s=backoff_s)
    name = column_of(table, cmap["tile"])
    if not name:
        raise DownloadError(f"{what}: the service returned no column {cmap['tile']}")
    names = [as_text(v) for v in table[name]]
    return sorted({n for n in names if n})


def kids_tiles_in_region(ra_deg: float, dec_deg: float, radius_deg: float, release: str = "dr4", **kwargs) -> list[str]:
    """Distinct ``KIDS_TILE`` with sources within ``radius_deg`` of ``(ra_deg, dec_deg)``."""
    return kids_tiles(release, region=(ra_deg, dec_deg, radius_deg), **kwargs)


def write_tile_list(tiles, out) -> Path:
    """Write tile names as a one-column CSV table (``tile``, with each tile's ``ra_deg``, ``dec_deg``), atomically.

    A tile that is not a KiDS tile name raises :class:`~lensfinder.io.InputError`;
    an empty list is refused (a search over no tile can only be a mistake).
    """
    import pandas as pd

    tiles = sorted({check_tile(t) for t in tiles})
    if not tiles:
        raise InputError(f"{out}: no KiDS tile to list (the region holds no source of the release?)")
    centres = np.array([tile_centre(t) for t in tiles], dtype=float)
    frame = pd.DataFrame({"tile": tiles, "ra_deg": centres[:, 0], "dec_deg": centres[:, 1]})
    return write_csv(frame, out)


def read_tile_list(path) -> list[str]:
    """Tile names of a :func:`write_tile_list` table (column ``tile``)."""
    from lensfinder.io import read_csv_table

    frame = read_csv_table(path, ["tile"], "the tile names (lensfinder list-tiles)", dtype=str)
    return [check_tile(t) for t in frame["tile"]]


class KidsBackend(SurveyBackend):
    """KiDS through the ESO archive: one release's catalogue and the tiles' images.

    Parameters
    ----------
    release : str
        ``dr4``, ``dr4.0`` or ``dr3`` (:mod:`lensfinder.surveys.columns`); the
        images are this release's too (:func:`lensfinder.surveys.kids_images.find_tile_products`).
    image_release : str, optional
        One image release instead (``"DR4.0"``); ``None``/``"auto"``: from ``release``.
    tap_url, obscore_url, dataportal_url, soda_url : str
        Endpoints (:func:`query_catalog`, :func:`lensfinder.surveys.kids_images.download_tile`).
    cache_dir : path, optional
        Raw downloads; default a cache folder beside each output image.
    retries, backoff_s, timeout_s
        Retry and timeout settings of every request.
    session : requests.Session, optional
        Default: a new :func:`lensfinder.surveys.base.make_session` with ``timeout_s``.
    """

    pixel_scale_arcsec = KIDS_COADD_PIXEL_SCALE_ARCSEC
    bands = ("u", "g", "r", "i")

    def __init__(self, release: str = "dr4", *, image_release: str | None = None, tap_url: str = ESO_TAP_CAT_URL,
                 obscore_url: str = ESO_TAP_OBS_URL, dataportal_url: str = ESO_DATAPORTAL_URL,
                 soda_url: str | None = None, cache_dir=None, retries: int = 4, backoff_s: float = 2.0,
                 timeout_s: float = DEFAULT_TIMEOUT_S, session=None):
        self.release = column_map(release).release
        self.name = f"kids_{release.replace('.', '_')}"
        self.release_key, self.image_release = release, image_release
        self.tap_url, self.obscore_url, self.dataportal_url = tap_url, obscore_url, dataportal_url
        self.soda_url = soda_url
        self.cache_dir, self.retries, self.backoff_s = cache_dir, retries, backoff_s
        self.session = session or make_session(timeout_s)

    def column_map(self):
        return column_map(self.release_key)

    def zeropoint_mag(self, header=None) -> float:
        if header is None:
            raise InputError("KiDS: the zero point is per image; pass the coadd's FITS header")
        for key in ("ZEROPT", "PHOTZP", "MAGZERO"):
            if header.get(key) not in (None, ""):
                return float(header[key])
        raise InputError("KiDS header: no ZEROPT/PHOTZP/MAGZERO card")

    def query_catalog(self, *, tile=None, region=None):
        return query_catalog(self.release_key, tile=tile, region=region, tap_url=self.tap_url,
                             retries=self.retries, backoff_s=self.backoff_s, session=self.session)

    def list_tiles(self, *, tiles=None, region=None) -> list[str]:
        """:func:`kids_tiles` of this release."""
        return kids_tiles(self.release_key, tiles=tiles, region=region, tap_url=self.tap_url, session=self.session,
                          retries=self.retries, backoff_s=self.backoff_s)

    def fetch_image(self, tile, band, out_image, out_weight=None, out_mask=None, *, cutout=None):
        """One tile's coadd, weight and mask in ``band`` (``lensfinder download-tile``); see
        :func:`lensfinder.surveys.kids_images.download_tile`."""
        out_weight = out_weight or Path(out_image).with_suffix(".weight.fits")
        out_mask = out_mask or Path(out_image).with_suffix(".mask.fits")
        download_tile(tile, band, out_image, out_weight, out_mask, release=self.release_key,
                      image_release=self.image_release, cache_dir=self.cache_dir, obscore_url=self.obscore_url,
                      dataportal_url=self.dataportal_url, soda_url=self.soda_url, cutout=cutout,
                      retries=self.retries, backoff_s=self.backoff_s, session=self.session)
        return Path(out_image), Path(out_weight), Path(out_mask)

    def fetch_cutout(self, ra_deg, dec_deg, size_arcsec, band, out, *, tile=None):
        if tile is None:
            raise InputError("KiDS cutouts: give the tile that contains the position")
        return self.fetch_image(tile, band, out, cutout=(ra_deg, dec_deg, size_arcsec))[0]
