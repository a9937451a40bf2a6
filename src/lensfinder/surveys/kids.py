"""KiDS from the ESO archive: catalogue parts through TAP, tile images through ObsCore.

Catalogue (``lensfinder download-catalog``)
    pyvo's TAP client against ``tap_cat`` (default
    ``https://archive.eso.org/tap_cat``), tables in
    :data:`lensfinder.surveys.columns.TAP_TABLES`, only the columns of the
    release's :class:`~lensfinder.surveys.columns.ColumnMap`. The service
    caps a result at 15,000,000 rows and supports only
    ``CONTAINS(POINT, CIRCLE)`` spatially, so queries go per tile
    (``KIDS_TILE = '...'``, about 10^5 rows) or per small circle. A tile is
    fetched synchronously first; after a timeout the retry runs as an
    asynchronous UWS job, which has no HTTP time limit (``mode="async"``
    forces that from the start). Each tile is written atomically as its own
    Parquet part, so a finished tile is never fetched again and an
    interrupted run resumes where it stopped. An empty result is a valid,
    empty part with the release's columns.
Tile images (``lensfinder download-tile``)
    ``ivoa.ObsCore`` on ``tap_obs`` (``obs_collection = 'KIDS'``, images in
    the band's filter whose footprint contains the tile centre; the one whose
    centre is nearest, then the newest release) gives the coadd's ``dp_id``
    and Datalink URL; the Datalink document lists the science image
    (``SCIENCE.IMAGE``, ``#this``), weight (``ANCILLARY.WEIGHTMAP``) and mask
    (``ANCILLARY.MASK``) with their sizes and a SODA cutout service. Whole
    files (about 1.5 GB each) are downloaded by ``dp_id`` from the ESO data
    portal into a cache directory (streamed, resumed with HTTP ``Range``,
    size-checked against Datalink's ``content_length`` and, where the FITS
    file carries ``CHECKSUM``/``DATASUM``, checksum-verified), then written
    in the pipeline's tile format (``docs/architecture.md``): image float32
    with header ``PSF_FWHM`` (arcsec), ``ZEROPT``, ``PIXSCALE``; weight float32;
    mask int16 (>0 masked). With ``cutout=(ra, dec, size_arcsec)``, SODA
    cuts the three files server-side instead (small runs, tests).

All endpoints are parameters. Credentials: none are needed for public KiDS
data; a bearer token in ``LENSFINDER_ESO_TOKEN`` or ``~/.netrc`` entries are
used when present (:func:`lensfinder.surveys.base.make_session`).
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import warnings
from pathlib import Path

import numpy as np

from lensfinder.constants import KIDS_COADD_PIXEL_SCALE_ARCSEC
from lensfinder.io import InputError, atomic_path, write_table
from lensfinder.cli.options import add_retry_arguments
from lensfinder.surveys.base import (DEFAULT_TIMEOUT_S, DownloadError, SurveyBackend, download_file, make_session,
                   own_session, with_retries)
from lensfinder.surveys.columns import TAP_TABLES, column_map

__all__ = [
    "ESO_TAP_CAT_URL",
    "ESO_TAP_OBS_URL",
    "ESO_DATAPORTAL_URL",
    "KidsBackend",
    "tile_centre",
    "catalog_query",
    "run_tap_query",
    "query_catalog",
    "download_catalog",
    "kids_tiles",
    "kids_tiles_in_region",
    "find_tile_products",
    "download_tile",
    "write_tile_files",
    "add_download_catalog_arguments",
    "run_download_catalog",
    "add_download_tile_arguments",
    "run_download_tile",
]

log = logging.getLogger(__name__)

ESO_TAP_CAT_URL = "https://archive.eso.org/tap_cat"
ESO_TAP_OBS_URL = "https://archive.eso.org/tap_obs"
#: files by dp_id: {ESO_DATAPORTAL_URL}/{dp_id}
ESO_DATAPORTAL_URL = "https://dataportal.eso.org/dataPortal/file"
#: ESO tap_cat caps every result at this many rows.
ESO_MAX_ROWS = 15_000_000
#: Datalink eso_category of the three products of a coadd.
PRODUCT_CATEGORIES = {"image": "SCIENCE.IMAGE", "weight": "ANCILLARY.WEIGHTMAP", "mask": "ANCILLARY.MASK"}
#: KiDS tiles are 1 x 1 deg; the nearest ObsCore image centre must be this close.
TILE_MATCH_RADIUS_DEG = 0.25

_TILE_RE = re.compile(r"^KIDS_(\d{1,3}(?:\.\d+)?)_(-?\d{1,2}(?:\.\d+)?)$")


def _check_tile(tile: str) -> str:
    if not isinstance(tile, str) or not _TILE_RE.match(tile):
        raise InputError(f"tile: {tile!r} is not a KiDS tile name like 'KIDS_5.6_-28.2'")
    return tile


def tile_centre(tile: str) -> tuple[float, float]:
    """Centre ``(ra_deg, dec_deg)`` of a KiDS tile, read from its name (``KIDS_<ra>_<dec>``)."""
    m = _TILE_RE.match(_check_tile(tile))
    return float(m.group(1)), float(m.group(2))


def _check_region(region) -> tuple[float, float, float]:
    try:
        ra, dec, radius = (float(v) for v in region)
    except (TypeError, ValueError):
        raise InputError(f"region: {region!r}; expected (ra_deg, dec_deg, radius_deg)") from None
    if not (0 <= ra < 360 and -90 <= dec <= 90 and 0 < radius <= 180):
        raise InputError(f"region: ra={ra}, dec={dec}, radius={radius} deg out of range")
    return ra, dec, radius


def catalog_query(release: str = "dr4", *, tile: str | None = None, region=None,
                  columns: list[str] | None = None) -> str:
    """ADQL for one tile (``KIDS_TILE = '...'``) or a circle ``(ra, dec, radius)`` in degrees."""
    cmap = column_map(release)
    table = TAP_TABLES[release.lower()]
    names = ", ".join(columns or cmap.download_columns)
    if (tile is None) == (region is None):
        raise InputError("catalogue query: give exactly one of tile or region")
    if tile is not None:
        where = f"{cmap['tile']} = '{_check_tile(tile)}'"
    else:
        ra, dec, radius = _check_region(region)
        where = (f"CONTAINS(POINT('ICRS', {cmap['ra_deg']}, {cmap['dec_deg']}), "
                 f"CIRCLE('ICRS', {ra!r}, {dec!r}, {radius!r})) = 1")
    return f"SELECT {names} FROM {table} WHERE {where}"


def run_tap_query(query: str, tap_url: str, *, mode: str = "sync", session=None, maxrec: int = ESO_MAX_ROWS,
                  job_timeout_s: float = 6 * 3600.0, what: str = "TAP query"):
    """Run one ADQL query with pyvo, synchronously or as an async UWS job.

    Returns
    -------
    astropy.table.Table
        The result. A result the service cut at ``maxrec`` (overflow) raises
        :class:`DownloadError`: a silently truncated tile would be wrong.
    """
    import pyvo
    from pyvo.dal.exceptions import DALOverflowWarning

    with own_session(session) as session, warnings.catch_warnings():
        service = pyvo.dal.TAPService(tap_url, session=session)
        warnings.simplefilter("ignore", DALOverflowWarning)  # checked explicitly below
        # UWS job documents carry future dates (destruction time) that ERFA
        # calls "dubious" beyond its leap-second table: noise, not an error
        warnings.filterwarnings("ignore", message=r'ERFA function "\w+" yielded .*dubious year')
        if mode == "sync":
            result = service.run_sync(query, maxrec=maxrec)
        elif mode == "async":
            job = service.submit_job(query, maxrec=maxrec)
            try:
                job.run()
                job.wait(phases={"COMPLETED", "ERROR", "ABORTED"}, timeout=job_timeout_s)
                job.raise_if_error()
                result = job.fetch_result()
            finally:
                try:
                    job.delete()
                except Exception as exc:  # a job left behind expires on the server
                    log.debug("%s: could not delete async job: %s", what, exc)
        else:
            raise InputError(f"mode: {mode!r}; expected 'sync', 'async' or 'auto'")
    if result.query_status == "OVERFLOW":
        raise DownloadError(f"{what}: result truncated at {maxrec} rows (OVERFLOW); query a smaller area")
    return result.to_table()


def _table_to_frame(table, columns: list[str], what: str):
    """astropy Table -> DataFrame with NaN for masked floats and the requested column order."""
    import pandas as pd

    missing = [c for c in columns if c not in table.colnames]
    if missing:
        raise DownloadError(f"{what}: the service returned no column(s) {', '.join(missing)}")
    data = {}
    for name in columns:
        col = table[name]
        values = np.ma.asarray(col)
        kind = values.dtype.kind
        if kind in "SUO":
            filled = np.ma.filled(values.astype(str), "")
            data[name] = pd.array([s.decode() if isinstance(s, bytes) else str(s) for s in filled], dtype=str) \
                if len(filled) else pd.array([], dtype=str)
        elif kind == "f":
            data[name] = np.ma.filled(values.astype(np.float64), np.nan)
        elif kind in "iu":
            if np.ma.is_masked(values):
                data[name] = np.ma.filled(values.astype(np.float64), np.nan)
            else:
                data[name] = np.asarray(values).astype(np.int64)
        elif kind == "b":
            data[name] = np.ma.filled(values, False).astype(bool)
        else:
            data[name] = np.asarray(values)
    return pd.DataFrame(data)


def query_catalog(release: str = "dr4", *, tile: str | None = None, region=None, tap_url: str = ESO_TAP_CAT_URL,
                  mode: str = "auto", retries: int = 4, backoff_s: float = 2.0, session=None,
                  columns: list[str] | None = None):
    """Catalogue rows of a tile or region as a DataFrame (release column names).

    ``mode="auto"`` runs sync and switches to an async job after a timeout;
    transient failures are retried (:func:`lensfinder.surveys.base.with_retries`).
    """
    import requests

    cmap = column_map(release)
    columns = columns or cmap.download_columns
    query = catalog_query(release, tile=tile, region=region, columns=columns)
    what = f"KiDS {cmap.release} tile {tile}" if tile else f"KiDS {cmap.release} region {tuple(region)}"
    state = {"mode": "async" if mode == "async" else "sync"}

    def attempt(k: int):
        log.info("%s: TAP %s query (attempt %d)", what, state["mode"], k + 1)
        try:
            return run_tap_query(query, tap_url, mode=state["mode"], session=session, what=what)
        except Exception as exc:
            chain, timed_out = exc, False
            while chain is not None:
                if isinstance(chain, requests.Timeout) or isinstance(getattr(chain, "cause", None), requests.Timeout):
                    timed_out = True
                    break
                chain = chain.__cause__ or chain.__context__
            if mode == "auto" and timed_out:
                state["mode"] = "async"  # long query: no HTTP time limit on a UWS job
            raise

    with own_session(session) as session:
        table = with_retries(attempt, what, retries=retries, backoff_s=backoff_s)
    frame = _table_to_frame(table, columns, what)
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
        return sorted({_check_tile(t) for t in tiles})
    cmap = column_map(release)
    where = ""
    if region is not None:
        ra, dec, radius = _check_region(region)
        where = (f" WHERE CONTAINS(POINT('ICRS', {cmap['ra_deg']}, {cmap['dec_deg']}), "
                 f"CIRCLE('ICRS', {ra!r}, {dec!r}, {radius!r})) = 1")
    query = f"SELECT DISTINCT {cmap['tile']} FROM {TAP_TABLES[release.lower()]}{where}"
    what = f"KiDS {cmap.release} tile list"
    with own_session(session) as session:
        table = with_retries(lambda k: run_tap_query(query, tap_url, mode="async", session=session, what=what),
                             what, retries=retries, backoff_s=backoff_s)
    names = [v.decode() if isinstance(v, bytes) else str(v) for v in np.ma.filled(table[cmap["tile"]], "")]
    return sorted({n for n in names if n})


def kids_tiles_in_region(ra_deg: float, dec_deg: float, radius_deg: float, release: str = "dr4", **kwargs) -> list[str]:
    """Distinct ``KIDS_TILE`` with sources within ``radius_deg`` of ``(ra_deg, dec_deg)``."""
    return kids_tiles(release, region=(ra_deg, dec_deg, radius_deg), **kwargs)


# ---------------------------------------------------------------- tile images


def _str(value) -> str:
    if value is None or value is np.ma.masked:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _dp_id_from(row_id: str, access_url: str) -> str:
    for text in (row_id, access_url):
        m = re.search(r"(ADP\.[0-9T:.\-]+)", text or "")
        if m:
            return m.group(1)
    return ""


def find_tile_products(tile: str, band: str = "r", *, obscore_url: str = ESO_TAP_OBS_URL,
                       dataportal_url: str = ESO_DATAPORTAL_URL, session=None, retries: int = 4,
                       backoff_s: float = 2.0) -> dict:
    """Locate a tile's coadd, weight and mask in the ESO archive.

    Returns
    -------
    dict
        ``{"image"|"weight"|"mask": {"dp_id", "url", "size", "id"}, "soda_url": str or None,
        "obs": {...the ObsCore row...}}``.
    """
    ra, dec = tile_centre(tile)
    if not re.fullmatch(r"[ugriz]", band):
        raise InputError(f"band: {band!r}; expected one of u, g, r, i")
    with own_session(session) as session:
        return _find_tile_products(tile, band, ra, dec, obscore_url, dataportal_url, session, retries, backoff_s)


def _find_tile_products(tile, band, ra, dec, obscore_url, dataportal_url, session, retries, backoff_s) -> dict:
    from pyvo.dal.adhoc import DatalinkResults

    query = ("SELECT dp_id, access_url, s_ra, s_dec, filter, obs_release_date FROM ivoa.ObsCore "
             "WHERE obs_collection = 'KIDS' AND dataproduct_type = 'image' "
             f"AND filter LIKE '{band}%' AND CONTAINS(POINT('ICRS', {ra!r}, {dec!r}), s_region) = 1")
    what = f"KiDS tile {tile} ({band}-band) ObsCore"
    table = with_retries(lambda k: run_tap_query(query, obscore_url, mode="sync", session=session, what=what),
                         what, retries=retries, backoff_s=backoff_s)
    if len(table) == 0:
        raise DownloadError(f"tile {tile}: no KIDS {band}-band image in ObsCore at ({ra}, {dec})")
    s_ra = np.ma.filled(np.asarray(table["s_ra"], dtype=float), np.nan)
    s_dec = np.ma.filled(np.asarray(table["s_dec"], dtype=float), np.nan)
    sep = np.hypot((s_ra - ra) * math.cos(math.radians(dec)), s_dec - dec)
    release = [_str(v) for v in table["obs_release_date"]] if "obs_release_date" in table.colnames else [""] * len(table)
    newest_first = sorted(range(len(table)), key=lambda k: release[k], reverse=True)
    best = min(newest_first, key=lambda k: round(float(sep[k]), 3))  # stable: ties keep the newest
    if not sep[best] <= TILE_MATCH_RADIUS_DEG:
        raise DownloadError(f"tile {tile}: nearest ObsCore {band}-band image is {sep[best]:.2f} deg from the tile centre")
    obs = {name: _str(table[name][best]) for name in table.colnames}
    dl_what = f"KiDS tile {tile} Datalink"
    links = with_retries(lambda k: DatalinkResults.from_result_url(obs["access_url"], session=session),
                         dl_what, retries=retries, backoff_s=backoff_s)
    names = links.fieldnames
    products: dict = {"obs": obs, "soda_url": None}
    for row in links:
        category = _str(row["eso_category"]) if "eso_category" in names else ""
        origfile = _str(row["eso_origfile"]) if "eso_origfile" in names else ""
        semantics = _str(row["semantics"])
        service_def = _str(row["service_def"])
        if service_def and products["soda_url"] is None:
            resource = links.get_adhocservice_by_id(service_def)
            for param in resource.params:
                if param.name == "accessURL":
                    products["soda_url"] = _str(param.value)
            continue
        kind = None
        if category:
            kind = {v: k for k, v in PRODUCT_CATEGORIES.items()}.get(category)
        elif semantics == "#this":
            kind = "image"
        elif origfile.endswith(("_wei.fits", "_wei.fits.fz")):
            kind = "weight"
        elif origfile.endswith(("_msk.fits", "_msk.fits.fz")):
            kind = "mask"
        if kind is None or kind in products:
            continue
        access = _str(row["access_url"])
        dp_id = _dp_id_from(_str(row["ID"]) if kind == "image" else "", access) or (obs["dp_id"] if kind == "image" else "")
        if not dp_id:
            continue
        size = row["content_length"]
        size = int(size) if size is not None and size is not np.ma.masked and int(size) > 0 else None
        products[kind] = {"dp_id": dp_id, "url": f"{dataportal_url.rstrip('/')}/{dp_id}", "size": size,
                          "id": f"ivo://eso.org/ID?{dp_id}", "origfile": origfile}
    lacking = [k for k in PRODUCT_CATEGORIES if k not in products]
    if lacking:
        raise DownloadError(f"tile {tile}: Datalink {obs['access_url']} lists no {', '.join(lacking)} product")
    return products


def _verify_fits(path: Path) -> None:
    """Raise if ``path`` is not a complete FITS file or fails its own checksums."""
    from astropy.io import fits

    with warnings.catch_warnings(record=True) as caught:
        # astropy reports checksum mismatches as warnings: record, then judge
        warnings.simplefilter("always")
        try:
            with fits.open(path, checksum=True, memmap=True) as hdul:
                hdul.verify("exception")
                for hdu in hdul:
                    if hdu.header.get("NAXIS", 0) and hdu.data is not None:
                        hdu.data.shape  # noqa: B018 (data must be all there)
        except Exception as exc:
            raise DownloadError(f"{path}: not a valid FITS file ({type(exc).__name__}: {exc})") from exc
    bad = [str(w.message) for w in caught if "checksum" in str(w.message).lower()
           or "datasum" in str(w.message).lower() or "truncated" in str(w.message).lower()]
    if bad:
        raise DownloadError(f"{path}: {bad[0]}")


def _image_hdu(hdul, path):
    for hdu in hdul:
        if getattr(hdu, "data", None) is not None and getattr(hdu.data, "ndim", 0) >= 2 and hdu.is_image:
            return hdu
    raise DownloadError(f"{path}: no 2-D image HDU")


def _first(header, keys, default=None):
    for key in keys:
        if key in header and header[key] not in (None, ""):
            return header[key]
    return default


def write_tile_files(image_src, weight_src, mask_src, out_image, out_weight, out_mask, *,
                     zeropoint_mag: float | None = None, psf_fwhm_arcsec: float | None = None) -> None:
    """Write downloaded KiDS files in the pipeline's tile format (docs/architecture.md).

    The image gets header keys ``PSF_FWHM`` (arcsec; from ``PSF_FWHM`` or
    ``SEEING`` in the archive header), ``ZEROPT`` (from ``ZEROPT``,
    ``PHOTZP`` or ``MAGZERO``) and ``PIXSCALE`` (arcsec/px, from the WCS).
    Weight is float32, mask int16 with values clipped to 0..32767 (>0 masked).
    """
    from astropy.io import fits
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    with fits.open(image_src, memmap=True) as hdul:
        hdu = _image_hdu(hdul, image_src)
        header = hdu.header.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # archive headers carry non-standard WCS cards
            wcs = WCS(header).celestial
        pixscale = float(np.mean(proj_plane_pixel_scales(wcs)) * 3600.0)
        zp = zeropoint_mag if zeropoint_mag is not None else _first(header, ("ZEROPT", "PHOTZP", "MAGZERO"))
        if zp is None:
            raise DownloadError(f"{image_src}: no photometric zero point (ZEROPT/PHOTZP/MAGZERO) in the header")
        psf = psf_fwhm_arcsec if psf_fwhm_arcsec is not None else _first(header, ("PSF_FWHM", "SEEING"))
        if psf is None:
            raise DownloadError(f"{image_src}: no PSF FWHM (PSF_FWHM/SEEING) in the header")
        out_header = wcs.to_header()
        for key in ("OBJECT", "FILTER", "DATE-OBS", "MJD-OBS", "EXPTIME", "GAIN", "PROV1", "ABMAGLIM"):
            if key in header:
                out_header[key] = header[key]
        out_header["PSF_FWHM"] = (float(psf), "PSF FWHM [arcsec]")
        out_header["ZEROPT"] = (float(zp), "mag = ZEROPT - 2.5 log10(counts)")
        out_header["PIXSCALE"] = (pixscale, "arcsec per pixel")
        data = np.asarray(hdu.data, dtype=np.float32)
        with atomic_path(out_image) as tmp:
            fits.PrimaryHDU(data, header=out_header).writeto(tmp, overwrite=True)
        shape = data.shape
    for src, out, dtype in ((weight_src, out_weight, np.float32), (mask_src, out_mask, np.int16)):
        with fits.open(src, memmap=True) as hdul:
            aux = _image_hdu(hdul, src)
            if aux.data.shape != shape:
                raise DownloadError(f"{src}: shape {aux.data.shape} differs from the image's {shape}")
            values = np.asarray(aux.data)
            if dtype is np.int16:
                values = np.clip(np.nan_to_num(values, nan=1), 0, 32767)
            hdr = wcs.to_header()
            hdr["PIXSCALE"] = (pixscale, "arcsec per pixel")
            with atomic_path(out) as tmp:
                fits.PrimaryHDU(values.astype(dtype), header=hdr).writeto(tmp, overwrite=True)


def download_tile(tile: str, band: str, out_image, out_weight, out_mask, *, cache_dir="results/cache/kids",
                  obscore_url: str = ESO_TAP_OBS_URL, dataportal_url: str = ESO_DATAPORTAL_URL,
                  soda_url: str | None = None, cutout=None, retries: int = 4, backoff_s: float = 2.0,
                  timeout_s: float = DEFAULT_TIMEOUT_S, session=None) -> None:
    """Fetch one tile's coadd, weight and mask (whole files, or SODA cutouts).

    Parameters
    ----------
    cutout : (ra_deg, dec_deg, size_arcsec), optional
        Ask SODA for a square cutout of ``size_arcsec`` (a circle of radius
        ``size_arcsec / 2``) of each product instead of whole files.
    soda_url : str, optional
        SODA endpoint; default: the one the tile's Datalink document names.
    cache_dir : path
        Raw downloads, named by ``dp_id``; kept, so a rerun fetches nothing.
    """
    with own_session(session, timeout_s) as session:
        _download_tile(tile, band, out_image, out_weight, out_mask, cache_dir, obscore_url, dataportal_url,
                       soda_url, cutout, retries, backoff_s, session)


def _download_tile(tile, band, out_image, out_weight, out_mask, cache_dir, obscore_url, dataportal_url,
                   soda_url, cutout, retries, backoff_s, session) -> None:
    from pyvo.dal.adhoc import SodaQuery

    products = find_tile_products(tile, band, obscore_url=obscore_url, dataportal_url=dataportal_url,
                                  session=session, retries=retries, backoff_s=backoff_s)
    cache = Path(cache_dir)
    files = {}
    for kind in ("image", "weight", "mask"):
        product = products[kind]
        what = f"KiDS tile {tile} {kind} {product['dp_id']}"
        if cutout is None:
            files[kind] = download_file(product["url"], cache / f"{product['dp_id']}.fits", session=session,
                                        expected_size=product["size"], retries=retries, backoff_s=backoff_s,
                                        what=what, verify=_verify_fits)
        else:
            ra, dec, size_arcsec = (float(v) for v in cutout)
            url = soda_url or products["soda_url"]
            if not url:
                raise DownloadError(f"tile {tile}: no SODA service in Datalink and none configured")
            soda = SodaQuery(url, id=product["id"], circle=(ra, dec, size_arcsec / 2 / 3600.0), session=session)
            name = f"{product['dp_id']}_cutout_{ra:.6f}_{dec:+.6f}_{size_arcsec:g}.fits"
            files[kind] = download_file(soda.queryurl, cache / name, session=session, params=dict(soda),
                                        retries=retries, backoff_s=backoff_s, what=what + " cutout",
                                        verify=_verify_fits)
    write_tile_files(files["image"], files["weight"], files["mask"], out_image, out_weight, out_mask)
    log.info("tile %s: wrote %s, %s, %s", tile, out_image, out_weight, out_mask)


class KidsBackend(SurveyBackend):
    """KiDS through the ESO archive (see the module docstring)."""

    pixel_scale_arcsec = KIDS_COADD_PIXEL_SCALE_ARCSEC
    bands = ("u", "g", "r", "i")

    def __init__(self, release: str = "dr4", *, tap_url: str = ESO_TAP_CAT_URL, obscore_url: str = ESO_TAP_OBS_URL,
                 dataportal_url: str = ESO_DATAPORTAL_URL, cache_dir="results/cache/kids", retries: int = 4,
                 backoff_s: float = 2.0, session=None):
        self.release = column_map(release).release
        self.name = f"kids_{release.replace('.', '_')}"
        self.tap_url, self.obscore_url, self.dataportal_url = tap_url, obscore_url, dataportal_url
        self.cache_dir, self.retries, self.backoff_s = cache_dir, retries, backoff_s
        self.session = session or make_session()
        self._release_key = release

    def column_map(self):
        return column_map(self._release_key)

    def zeropoint_mag(self, header=None) -> float:
        if header is None:
            raise InputError("KiDS: the zero point is per image; pass the coadd's FITS header")
        zp = _first(header, ("ZEROPT", "PHOTZP", "MAGZERO"))
        if zp is None:
            raise InputError("KiDS header: no ZEROPT/PHOTZP/MAGZERO card")
        return float(zp)

    def query_catalog(self, *, tile=None, region=None):
        return query_catalog(self._release_key, tile=tile, region=region, tap_url=self.tap_url,
                             retries=self.retries, backoff_s=self.backoff_s, session=self.session)

    def fetch_image(self, tile, band, out_image, out_weight=None, out_mask=None):
        out_weight = out_weight or Path(out_image).with_suffix(".weight.fits")
        out_mask = out_mask or Path(out_image).with_suffix(".mask.fits")
        download_tile(tile, band, out_image, out_weight, out_mask, cache_dir=self.cache_dir,
                      obscore_url=self.obscore_url, dataportal_url=self.dataportal_url, retries=self.retries,
                      backoff_s=self.backoff_s, session=self.session)
        return Path(out_image), Path(out_weight), Path(out_mask)

    def fetch_cutout(self, ra_deg, dec_deg, size_arcsec, band, out, *, tile=None):
        if tile is None:
            raise InputError("KiDS cutouts: give the tile that contains the position")
        out = Path(out)
        download_tile(tile, band, out, out.with_suffix(".weight.fits"), out.with_suffix(".mask.fits"),
                      cache_dir=self.cache_dir, obscore_url=self.obscore_url, dataportal_url=self.dataportal_url,
                      cutout=(ra_deg, dec_deg, size_arcsec), retries=self.retries, backoff_s=self.backoff_s,
                      session=self.session)
        return out


# ---------------------------------------------------------------- command line


def add_download_catalog_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder download-catalog``."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tile", help="KiDS tile name, e.g. KIDS_5.6_-28.2")
    where.add_argument("--region", nargs=3, type=float, metavar=("RA", "DEC", "RADIUS_DEG"),
                       help="circle in degrees (ICRS)")
    parser.add_argument("--release", default="dr4", choices=["dr4", "dr4.0", "dr3"],
                        help="dr4 = DR4.1 table, dr4.0 = DR4.0 table, dr3 = DR3 table")
    parser.add_argument("--out", required=True, type=Path, help="catalogue part (Parquet); skipped if it exists")
    parser.add_argument("--tap-url", default=ESO_TAP_CAT_URL, help="TAP service base URL")
    parser.add_argument("--mode", default="auto", choices=["auto", "sync", "async"],
                        help="auto: sync, then an async job after a timeout")
    add_retry_arguments(parser, "timeouts and 5xx")
    parser.add_argument("--columns", default=None,
                        help="comma-separated column list replacing the release's default (columns.py)")


def run_download_catalog(args: argparse.Namespace) -> int:
    """Run ``lensfinder download-catalog``."""
    with make_session(args.timeout) as session:
        download_catalog(args.out, args.release, tile=args.tile, region=args.region, tap_url=args.tap_url,
                         mode=args.mode, retries=args.retries, backoff_s=args.backoff, session=session,
                         columns=args.columns.split(",") if args.columns else None)
    return 0


def add_download_tile_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder download-tile``."""
    parser.add_argument("--tile", required=True, help="KiDS tile name, e.g. KIDS_5.6_-28.2")
    parser.add_argument("--band", default="r", help="band (default r)")
    parser.add_argument("--out-image", required=True, type=Path, help="coadd in the tile format (FITS)")
    parser.add_argument("--out-weight", required=True, type=Path, help="weight map (FITS, float32)")
    parser.add_argument("--out-mask", required=True, type=Path, help="mask (FITS, int16, >0 masked)")
    parser.add_argument("--cache-dir", type=Path, default=Path("results/cache/kids"),
                        help="raw downloads by dp_id (kept; resumes partial files)")
    parser.add_argument("--obscore-url", default=ESO_TAP_OBS_URL, help="ObsCore TAP service base URL")
    parser.add_argument("--dataportal-url", default=ESO_DATAPORTAL_URL, help="file download base URL ({url}/{dp_id})")
    parser.add_argument("--soda-url", default=None, help="SODA endpoint (default: from Datalink)")
    parser.add_argument("--cutout", nargs=3, type=float, metavar=("RA", "DEC", "SIZE_ARCSEC"),
                        help="server-side SODA cutout instead of whole files")
    add_retry_arguments(parser, "timeouts, 5xx and truncated files")


def run_download_tile(args: argparse.Namespace) -> int:
    """Run ``lensfinder download-tile``."""
    with make_session(args.timeout) as session:
        download_tile(args.tile, args.band, args.out_image, args.out_weight, args.out_mask,
                      cache_dir=args.cache_dir, obscore_url=args.obscore_url, dataportal_url=args.dataportal_url,
                      soda_url=args.soda_url, cutout=args.cutout, retries=args.retries, backoff_s=args.backoff,
                      session=session)
    return 0
