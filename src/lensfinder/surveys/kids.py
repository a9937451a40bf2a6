"""KiDS from the ESO archive: catalogue parts through TAP, tile images through ObsCore, Datalink and SODA.

:class:`KidsBackend` binds the endpoints and settings; the functions below do
the work. Access notes (queries, caching, checksums, the tile format):
``docs/surveys.md``.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from pathlib import Path

import numpy as np

from lensfinder.constants import KIDS_COADD_PIXEL_SCALE_ARCSEC
from lensfinder.io import InputError, atomic_path, write_table
from lensfinder.surveys.base import (DEFAULT_TIMEOUT_S, DownloadError, SurveyBackend, cache_folder, download_file,
                                     make_session, own_session, with_retries)
from lensfinder.surveys.columns import TAP_TABLES, column_map
from lensfinder.surveys.tap import adql_circle, as_text, check_region, query_with_retries, run_tap_query, table_to_frame

__all__ = [
    "ESO_TAP_CAT_URL",
    "ESO_TAP_OBS_URL",
    "ESO_DATAPORTAL_URL",
    "ESO_MAX_ROWS",
    "KidsBackend",
    "tile_centre",
    "catalog_query",
    "query_catalog",
    "download_catalog",
    "kids_tiles",
    "kids_tiles_in_region",
    "find_tile_products",
    "download_tile",
    "write_tile_files",
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
        where = adql_circle(cmap["ra_deg"], cmap["dec_deg"], *check_region(region))
    return f"SELECT {names} FROM {table} WHERE {where}"


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
            return run_tap_query(query, tap_url, maxrec=ESO_MAX_ROWS, mode=state["mode"], session=session, what=what)
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
        return sorted({_check_tile(t) for t in tiles})
    cmap = column_map(release)
    where = ""
    if region is not None:
        where = " WHERE " + adql_circle(cmap["ra_deg"], cmap["dec_deg"], *check_region(region))
    query = f"SELECT DISTINCT {cmap['tile']} FROM {TAP_TABLES[release.lower()]}{where}"
    what = f"KiDS {cmap.release} tile list"
    table = query_with_retries(query, tap_url, maxrec=ESO_MAX_ROWS, mode="async", session=session, what=what,
                               retries=retries, backoff_s=backoff_s)
    names = [v.decode() if isinstance(v, bytes) else str(v) for v in np.ma.filled(table[cmap["tile"]], "")]
    return sorted({n for n in names if n})


def kids_tiles_in_region(ra_deg: float, dec_deg: float, radius_deg: float, release: str = "dr4", **kwargs) -> list[str]:
    """Distinct ``KIDS_TILE`` with sources within ``radius_deg`` of ``(ra_deg, dec_deg)``."""
    return kids_tiles(release, region=(ra_deg, dec_deg, radius_deg), **kwargs)


# ---------------------------------------------------------------- tile images


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
    table = query_with_retries(query, obscore_url, maxrec=ESO_MAX_ROWS, mode="sync", session=session, what=what,
                               retries=retries, backoff_s=backoff_s)
    if len(table) == 0:
        raise DownloadError(f"tile {tile}: no KIDS {band}-band image in ObsCore at ({ra}, {dec})")
    s_ra = np.ma.filled(np.asarray(table["s_ra"], dtype=float), np.nan)
    s_dec = np.ma.filled(np.asarray(table["s_dec"], dtype=float), np.nan)
    sep = np.hypot((s_ra - ra) * math.cos(math.radians(dec)), s_dec - dec)
    release = ([as_text(v) for v in table["obs_release_date"]] if "obs_release_date" in table.colnames
               else [""] * len(table))
    newest_first = sorted(range(len(table)), key=lambda k: release[k], reverse=True)
    best = min(newest_first, key=lambda k: round(float(sep[k]), 3))  # stable: ties keep the newest
    if not sep[best] <= TILE_MATCH_RADIUS_DEG:
        raise DownloadError(f"tile {tile}: nearest ObsCore {band}-band image is {sep[best]:.2f} deg "
                            "from the tile centre")
    obs = {name: as_text(table[name][best]) for name in table.colnames}
    dl_what = f"KiDS tile {tile} Datalink"
    links = with_retries(lambda k: DatalinkResults.from_result_url(obs["access_url"], session=session),
                         dl_what, retries=retries, backoff_s=backoff_s)
    names = links.fieldnames
    products: dict = {"obs": obs, "soda_url": None}
    for row in links:
        category = as_text(row["eso_category"]) if "eso_category" in names else ""
        origfile = as_text(row["eso_origfile"]) if "eso_origfile" in names else ""
        semantics = as_text(row["semantics"])
        service_def = as_text(row["service_def"])
        if service_def and products["soda_url"] is None:
            resource = links.get_adhocservice_by_id(service_def)
            for param in resource.params:
                if param.name == "accessURL":
                    products["soda_url"] = as_text(param.value)
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
        access = as_text(row["access_url"])
        dp_id = (_dp_id_from(as_text(row["ID"]) if kind == "image" else "", access)
                 or (obs["dp_id"] if kind == "image" else ""))
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


def download_tile(tile: str, band: str, out_image, out_weight, out_mask, *, cache_dir=None,
                  obscore_url: str = ESO_TAP_OBS_URL, dataportal_url: str = ESO_DATAPORTAL_URL,
                  soda_url: str | None = None, cutout=None, retries: int = 4, backoff_s: float = 2.0,
                  timeout_s: float = DEFAULT_TIMEOUT_S, session=None) -> None:
    """Fetch one tile's coadd, weight and mask (whole files, or SODA cutouts).

    Parameters
    ----------
    tile, band : str
        KiDS tile name (``KIDS_<ra>_<dec>``) and band (u, g, r, i).
    out_image, out_weight, out_mask : path
        The tile files (:func:`write_tile_files`).
    cache_dir : path, optional
        Raw downloads, named by ``dp_id``; kept, so a rerun fetches nothing.
        Default: :func:`lensfinder.surveys.base.cache_folder` beside ``out_image``.
    cutout : (ra_deg, dec_deg, size_arcsec), optional
        Ask SODA for a square cutout of ``size_arcsec`` (a circle of radius
        ``size_arcsec / 2``) of each product instead of whole files.
    soda_url : str, optional
        SODA endpoint; default: the one the tile's Datalink document names.
    retries, backoff_s, timeout_s
        See :func:`lensfinder.surveys.base.with_retries` and :func:`~lensfinder.surveys.base.make_session`.
    """
    with own_session(session, timeout_s) as session:
        _download_tile(tile, band, out_image, out_weight, out_mask, cache_folder(cache_dir, out_image), obscore_url,
                       dataportal_url, soda_url, cutout, retries, backoff_s, session)


def _download_tile(tile, band, out_image, out_weight, out_mask, cache: Path, obscore_url, dataportal_url,
                   soda_url, cutout, retries, backoff_s, session) -> None:
    from pyvo.dal.adhoc import SodaQuery

    products = find_tile_products(tile, band, obscore_url=obscore_url, dataportal_url=dataportal_url,
                                  session=session, retries=retries, backoff_s=backoff_s)
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
    """KiDS through the ESO archive: one release's catalogue and the tiles' images.

    Parameters
    ----------
    release : str
        ``dr4``, ``dr4.0`` or ``dr3`` (:mod:`lensfinder.surveys.columns`).
    tap_url, obscore_url, dataportal_url, soda_url : str
        Endpoints (:func:`query_catalog`, :func:`download_tile`).
    cache_dir : path, optional
        Raw downloads; default a cache folder beside each output image.
    retries, backoff_s, timeout_s
        Retry and timeout settings of every request.
    session : requests.Session, optional
        Default: a new :func:`lensfinder.surveys.base.make_session` with ``timeout_s``.
    """

    pixel_scale_arcsec = KIDS_COADD_PIXEL_SCALE_ARCSEC
    bands = ("u", "g", "r", "i")

    def __init__(self, release: str = "dr4", *, tap_url: str = ESO_TAP_CAT_URL, obscore_url: str = ESO_TAP_OBS_URL,
                 dataportal_url: str = ESO_DATAPORTAL_URL, soda_url: str | None = None, cache_dir=None,
                 retries: int = 4, backoff_s: float = 2.0, timeout_s: float = DEFAULT_TIMEOUT_S, session=None):
        self.release = column_map(release).release
        self.name = f"kids_{release.replace('.', '_')}"
        self.tap_url, self.obscore_url, self.dataportal_url = tap_url, obscore_url, dataportal_url
        self.soda_url = soda_url
        self.cache_dir, self.retries, self.backoff_s = cache_dir, retries, backoff_s
        self.session = session or make_session(timeout_s)
        self.release_key = release

    def column_map(self):
        return column_map(self.release_key)

    def zeropoint_mag(self, header=None) -> float:
        if header is None:
            raise InputError("KiDS: the zero point is per image; pass the coadd's FITS header")
        zp = _first(header, ("ZEROPT", "PHOTZP", "MAGZERO"))
        if zp is None:
            raise InputError("KiDS header: no ZEROPT/PHOTZP/MAGZERO card")
        return float(zp)

    def query_catalog(self, *, tile=None, region=None):
        return query_catalog(self.release_key, tile=tile, region=region, tap_url=self.tap_url,
                             retries=self.retries, backoff_s=self.backoff_s, session=self.session)

    def fetch_image(self, tile, band, out_image, out_weight=None, out_mask=None, *, cutout=None):
        """One tile's coadd, weight and mask in ``band`` (``lensfinder download-tile``); see :func:`download_tile`."""
        out_weight = out_weight or Path(out_image).with_suffix(".weight.fits")
        out_mask = out_mask or Path(out_image).with_suffix(".mask.fits")
        download_tile(tile, band, out_image, out_weight, out_mask, cache_dir=self.cache_dir,
                      obscore_url=self.obscore_url, dataportal_url=self.dataportal_url, soda_url=self.soda_url,
                      cutout=cutout, retries=self.retries, backoff_s=self.backoff_s, session=self.session)
        return Path(out_image), Path(out_weight), Path(out_mask)

    def fetch_cutout(self, ra_deg, dec_deg, size_arcsec, band, out, *, tile=None):
        if tile is None:
            raise InputError("KiDS cutouts: give the tile that contains the position")
        return self.fetch_image(tile, band, out, cutout=(ra_deg, dec_deg, size_arcsec))[0]
