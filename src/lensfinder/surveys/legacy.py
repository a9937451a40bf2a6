"""DESI Legacy Imaging Surveys DR10 as a second survey: Tractor catalogue (TAP) and viewer cutouts.

One Legacy "tile" is a **field** of the config (a name, a centre, a side in
pixels); :func:`download_legacy_field` writes the same four files a KiDS tile
has, with the Tractor rows renamed onto the KiDS DR4 columns
(:func:`tractor_to_kids`). :class:`LegacySurveyBackend` binds the endpoints and
settings. Every approximation of the column mapping, and the image, weight
and mask recipe: ``docs/surveys.md``.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from pathlib import Path

import numpy as np

from lensfinder.io import InputError, atomic_path, write_table
from lensfinder.surveys.base import (DEFAULT_TIMEOUT_S, DownloadError, SurveyBackend, cache_folder, download_file,
                                     make_session, own_session)
from lensfinder.surveys.columns import (LEGACY_DR10_TRACTOR_COLUMNS, LEGACY_TAP_TABLES, NANOMAGGY_ZEROPOINT_MAG,
                                        tractor_to_kids)
from lensfinder.surveys.tap import adql_circle, check_region, query_with_retries, table_to_frame

__all__ = [
    "LEGACY_CUTOUT_URL",
    "LEGACY_PIXEL_SCALE_ARCSEC",
    "LEGACY_ZEROPOINT_MAG",
    "LEGACY_DR10_R_PSF_FWHM_ARCSEC",
    "LEGACY_TAP_URL",
    "LEGACY_MAX_SIZE_PIX",
    "LegacySurveyBackend",
    "cutout_params",
    "fetch_cutout",
    "check_field",
    "tractor_query",
    "query_tractor",
    "sky_weight",
    "download_field_image",
    "download_legacy_field",
]

log = logging.getLogger(__name__)

LEGACY_CUTOUT_URL = "https://www.legacysurvey.org/viewer/fits-cutout"
#: NOIRLab Astro Data Lab TAP service (holds ls_dr10.tractor).
LEGACY_TAP_URL = "https://datalab.noirlab.edu/tap"
#: Native DECam pixel scale of the Legacy Surveys coadds (Dey et al. 2019).
LEGACY_PIXEL_SCALE_ARCSEC = 0.262
#: Legacy Surveys images are in nanomaggies: mag = 22.5 - 2.5 log10(flux) (Dey et al. 2019).
LEGACY_ZEROPOINT_MAG = NANOMAGGY_ZEROPOINT_MAG
#: Assumed r-band PSF FWHM (arcsec) when the caller gives none: a typical
#: DECaLS r-band seeing of about 1.2" (an assumption, not a measured value;
#: the cutout service reports no PSF).
LEGACY_DR10_R_PSF_FWHM_ARCSEC = 1.2
#: the service refuses larger cutouts
LEGACY_MAX_SIZE_PIX = 3000


def cutout_params(ra_deg: float, dec_deg: float, size_pix: int, *, bands: str = "r", layer: str = "ls-dr10",
                  pixscale_arcsec: float = LEGACY_PIXEL_SCALE_ARCSEC) -> dict:
    """Query parameters of one cutout request."""
    if not (0 <= ra_deg < 360 and -90 <= dec_deg <= 90):
        raise InputError(f"cutout: position ({ra_deg}, {dec_deg}) deg out of range")
    if not 1 <= int(size_pix) <= LEGACY_MAX_SIZE_PIX:
        raise InputError(f"cutout: size {size_pix} px; expected 1..{LEGACY_MAX_SIZE_PIX}")
    if not bands or any(b not in "grizY" for b in bands):
        raise InputError(f"cutout: bands {bands!r}; expected letters from 'griz'")
    return {"ra": f"{ra_deg:.7f}", "dec": f"{dec_deg:.7f}", "layer": layer, "pixscale": f"{pixscale_arcsec:g}",
            "bands": bands, "size": str(int(size_pix))}


def fetch_cutout(ra_deg: float, dec_deg: float, size_arcsec: float, out, *, band: str = "r",
                 layer: str = "ls-dr10", base_url: str = LEGACY_CUTOUT_URL,
                 pixscale_arcsec: float = LEGACY_PIXEL_SCALE_ARCSEC,
                 psf_fwhm_arcsec: float = LEGACY_DR10_R_PSF_FWHM_ARCSEC, cache_dir=None,
                 retries: int = 4, backoff_s: float = 2.0, session=None) -> tuple[Path, Path, Path]:
    """Download one band's cutout and write it as a tile (image, unit weight, mask).

    ``cache_dir`` keeps the raw answers (default: a cache folder beside ``out``).

    Returns
    -------
    (image, weight, mask) : tuple of pathlib.Path
        ``out``, ``out`` with ``.weight.fits`` and ``.mask.fits``.
    """
    from astropy.io import fits

    size_pix = int(math.ceil(size_arcsec / pixscale_arcsec))
    params = cutout_params(ra_deg, dec_deg, size_pix, bands=band, layer=layer, pixscale_arcsec=pixscale_arcsec)
    name = f"{layer}_{band}_{ra_deg:.6f}_{dec_deg:+.6f}_{size_pix}_{pixscale_arcsec:g}.fits"
    what = f"Legacy Surveys {layer} {band}-band cutout at ({ra_deg:.5f}, {dec_deg:.5f})"
    with own_session(session) as session:
        raw = download_file(base_url, cache_folder(cache_dir, out) / name, session=session, params=params,
                            retries=retries, backoff_s=backoff_s, what=what)
    data, wcs, _ = _read_cutout(raw, what)
    out_header = _tile_header(wcs, band, layer, psf_fwhm_arcsec, pixscale_arcsec)
    out = Path(out)
    weight = out.with_name(out.name.removesuffix(".fits") + ".weight.fits")
    mask = out.with_name(out.name.removesuffix(".fits") + ".mask.fits")
    bad = ~np.isfinite(data)
    with atomic_path(out) as tmp:
        fits.PrimaryHDU(data, header=out_header).writeto(tmp, overwrite=True)
    with atomic_path(weight) as tmp:
        fits.PrimaryHDU(np.where(bad, 0, 1).astype(np.float32), header=wcs.to_header()).writeto(tmp, overwrite=True)
    with atomic_path(mask) as tmp:
        fits.PrimaryHDU(bad.astype(np.int16), header=wcs.to_header()).writeto(tmp, overwrite=True)
    return out, weight, mask


# ---------------------------------------------------------------- fields: catalogue (mapping: columns.tractor_to_kids)

_FIELD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_field(name: str, ra_deg: float, dec_deg: float, size_pix: int) -> tuple[str, float, float, int]:
    """Validate one field (name, centre in deg, side in pixels); the messages name the field."""
    if not isinstance(name, str) or not _FIELD_RE.match(name):
        raise InputError(f"field: {name!r}: expected a name of letters, digits and _.- (it names files and a wildcard)")
    try:
        ra_deg, dec_deg = float(ra_deg), float(dec_deg)
    except (TypeError, ValueError):
        raise InputError(f"field {name}: ra/dec: expected numbers in degrees, got {ra_deg!r}, {dec_deg!r}") from None
    if not (0 <= ra_deg < 360 and -90 <= dec_deg <= 90):
        raise InputError(f"field {name}: centre ({ra_deg}, {dec_deg}) deg out of range")
    try:
        size = int(float(size_pix))
        whole = float(size_pix) == size
    except (TypeError, ValueError):
        size, whole = 0, False
    if not whole or not 1 <= size <= LEGACY_MAX_SIZE_PIX:
        raise InputError(f"field {name}: size_pix {size_pix}: expected a whole number 1..{LEGACY_MAX_SIZE_PIX} "
                         "(the cutout service's cap; split a larger area into several fields)")
    return name, ra_deg, dec_deg, size


def _field_half_deg(size_pix: int, pixscale_arcsec: float) -> float:
    return size_pix * pixscale_arcsec / 2 / 3600.0


def tractor_query(ra_deg: float, dec_deg: float, radius_deg: float, *, release: str = "dr10",
                  columns=LEGACY_DR10_TRACTOR_COLUMNS) -> str:
    """ADQL for the primary Tractor rows within ``radius_deg`` of ``(ra_deg, dec_deg)``."""
    table = LEGACY_TAP_TABLES[release]
    return (f"SELECT {', '.join(columns)} FROM {table} WHERE {adql_circle('ra', 'dec', ra_deg, dec_deg, radius_deg)} "
            "AND brick_primary = 1")


def _gnomonic_offsets_deg(ra_deg, dec_deg, ra0_deg: float, dec0_deg: float):
    """Tangent-plane offsets (xi east, eta north; deg) of positions from a TAN projection centre."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    ra0, dec0 = math.radians(ra0_deg), math.radians(dec0_deg)
    cos_c = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.cos(dec) * np.sin(ra - ra0) / cos_c
        eta = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cos_c
    xi, eta = np.degrees(xi), np.degrees(eta)
    behind = cos_c <= 0
    return np.where(behind, np.inf, xi), np.where(behind, np.inf, eta)


def _tractor_circle(ra_deg: float, dec_deg: float, radius_deg: float, what: str, *, tap_url: str, retries: int,
                    backoff_s: float, session):
    """Primary Tractor rows (raw columns) within a circle; transient failures retried."""
    query = tractor_query(ra_deg, dec_deg, radius_deg)
    table = query_with_retries(query, tap_url, maxrec=10_000_000, mode="sync", session=session, what=what,
                               retries=retries, backoff_s=backoff_s)
    tractor = table_to_frame(table, list(LEGACY_DR10_TRACTOR_COLUMNS), what)
    # the query asks for primary rows already; a service that ignores the
    # condition must not duplicate objects across brick edges
    primary = np.asarray([str(v).strip().lower() in ("1", "true", "t", "1.0") for v in tractor["brick_primary"]],
                         dtype=bool)
    return tractor.loc[primary].reset_index(drop=True)


def query_tractor(field: str, ra_deg: float, dec_deg: float, size_pix: int, *, tap_url: str = LEGACY_TAP_URL,
                  pixscale_arcsec: float = LEGACY_PIXEL_SCALE_ARCSEC, retries: int = 4, backoff_s: float = 2.0,
                  session=None):
    """The field's Tractor rows mapped to DR4 columns (:func:`tractor_to_kids`), cut to its square."""
    field, ra_deg, dec_deg, size_pix = check_field(field, ra_deg, dec_deg, size_pix)
    half = _field_half_deg(size_pix, pixscale_arcsec)
    radius = half * math.sqrt(2.0) * 1.001  # the circle around the square (corners included)
    what = f"Legacy Surveys DR10 catalogue of field {field}"
    tractor = _tractor_circle(ra_deg, dec_deg, radius, what, tap_url=tap_url, retries=retries, backoff_s=backoff_s,
                              session=session)
    xi, eta = _gnomonic_offsets_deg(tractor["ra"].to_numpy(float), tractor["dec"].to_numpy(float), ra_deg, dec_deg)
    keep = (np.abs(xi) <= half) & (np.abs(eta) <= half)
    log.info("%s: %d primary Tractor rows, %d in the %d px square", what, len(tractor), int(keep.sum()), size_pix)
    return tractor_to_kids(tractor.loc[keep].reset_index(drop=True), field)


# ---------------------------------------------------------------- fields: image


def sky_weight(image) -> float:
    """Inverse variance ``1 / sigma^2`` of the sky, ``sigma = 1.4826 MAD`` of covered pixels.

    Covered pixels are finite and not exactly 0 (the viewer fills uncovered
    sky with 0). Returns 0 when nothing is covered or the MAD is 0.
    """
    values = np.asarray(image, dtype=np.float64)
    values = values[np.isfinite(values) & (values != 0)]
    if values.size < 2:
        return 0.0
    mad = float(np.median(np.abs(values - np.median(values))))
    sigma = 1.4826 * mad
    return 1.0 / sigma**2 if sigma > 0 else 0.0


def _read_cutout(raw, what):
    """``(image, celestial WCS, inverse variance or None)`` of a cutout answer.

    A file that is not FITS, or has no image, is removed from the cache (a bad
    answer must not stick) and raises :class:`DownloadError`.
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    try:
        with fits.open(raw) as hdul:
            hdu = next((h for h in hdul if h.is_image and h.data is not None), None)
            if hdu is None:
                raise DownloadError(f"{raw}: no image data in the cutout ({what})")
            data = np.asarray(hdu.data, dtype=np.float32)
            data = data[0] if data.ndim == 3 else data  # one band asked for: (1, y, x)
            header = hdu.header.copy()
            invvar = _invvar_hdu(hdul, data.shape)
    except (OSError, ValueError) as exc:
        Path(raw).unlink(missing_ok=True)
        raise DownloadError(f"{raw}: not a readable FITS file ({what}: {exc})") from exc
    if data.ndim != 2:
        raise DownloadError(f"{raw}: expected a 2-D cutout, got shape {data.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 3-axis header's band axis is dropped here
        wcs = WCS(header).celestial
    return data, wcs, invvar


def _tile_header(wcs, band, layer, psf_fwhm_arcsec, pixscale_arcsec):
    """Header of a tile image in the pipeline's format (docs/architecture.md)."""
    header = wcs.to_header()
    header["BAND"] = (band, "Legacy Surveys band")
    header["SURVEY"] = (layer, "Legacy Surveys layer")
    header["PSF_FWHM"] = (float(psf_fwhm_arcsec), "PSF FWHM [arcsec] (assumed; service gives none)")
    header["ZEROPT"] = (LEGACY_ZEROPOINT_MAG, "nanomaggies: mag = 22.5 - 2.5 log10(counts)")
    header["PIXSCALE"] = (float(pixscale_arcsec), "arcsec per pixel")
    return header


def _invvar_hdu(hdul, shape):
    for hdu in hdul[1:]:
        name = str(hdu.header.get("EXTNAME", "")).upper()
        if name in ("INVVAR", "IVAR") and hdu.is_image and hdu.data is not None:
            data = np.asarray(hdu.data, dtype=np.float32)
            data = data[0] if data.ndim == 3 else data
            if data.shape == shape:
                return data
    return None


def download_field_image(field: str, ra_deg: float, dec_deg: float, size_pix: int, out_image, out_weight, out_mask,
                         *, base_url: str = LEGACY_CUTOUT_URL, layer: str = "ls-dr10", band: str = "r",
                         pixscale_arcsec: float = LEGACY_PIXEL_SCALE_ARCSEC,
                         psf_fwhm_arcsec: float = LEGACY_DR10_R_PSF_FWHM_ARCSEC, cache_dir=None,
                         retries: int = 4, backoff_s: float = 2.0, session=None) -> tuple[Path, Path, Path]:
    """Download one field's image and write it as a tile (image, weight, mask).

    Parameters
    ----------
    field : str
        Field name (:func:`check_field`).
    ra_deg, dec_deg : float
        Field centre (deg, ICRS).
    size_pix : int
        Side in pixels of ``pixscale_arcsec``, at most :data:`LEGACY_MAX_SIZE_PIX`.
    out_image, out_weight, out_mask : path
        The tile files: image with ``PSF_FWHM`` (``psf_fwhm_arcsec``, assumed),
        ``ZEROPT`` 22.5 and ``PIXSCALE``; the service's inverse variance or a
        robust sky weight (:func:`sky_weight`); mask 1 where not covered.
    cache_dir : path, optional
        Raw answers (default: a cache folder beside ``out_image``).
    """
    from astropy.io import fits

    field, ra_deg, dec_deg, size_pix = check_field(field, ra_deg, dec_deg, size_pix)
    if not (psf_fwhm_arcsec > 0):
        raise InputError(f"field {field}: psf_fwhm_arcsec {psf_fwhm_arcsec}: expected > 0 arcsec")
    params = cutout_params(ra_deg, dec_deg, size_pix, bands=band, layer=layer, pixscale_arcsec=pixscale_arcsec)
    name = f"{layer}_{band}_{ra_deg:.6f}_{dec_deg:+.6f}_{size_pix}_{pixscale_arcsec:g}.fits"
    what = f"Legacy Surveys {layer} {band}-band image of field {field}"
    with own_session(session) as session:
        raw = download_file(base_url, cache_folder(cache_dir, out_image) / name, session=session, params=params,
                            retries=retries,
                            backoff_s=backoff_s, what=what)
    data, wcs, invvar = _read_cutout(raw, what)
    if data.shape != (size_pix, size_pix):
        Path(raw).unlink(missing_ok=True)
        raise DownloadError(f"{raw}: {what}: expected a {size_pix}x{size_pix} image, got shape {data.shape}")
    if not wcs.has_celestial:
        raise DownloadError(f"{raw}: {what}: no celestial WCS in the answer")
    bad = ~np.isfinite(data) | (data == 0)
    if invvar is not None:
        weight = np.where(bad | ~np.isfinite(invvar), 0.0, np.clip(invvar, 0, None)).astype(np.float32)
        weight_note = "inverse variance from the service"
    else:
        weight = np.where(bad, 0.0, sky_weight(data)).astype(np.float32)
        weight_note = "1/sigma^2, sigma = 1.4826 MAD of the sky"
    if bad.all():
        log.warning("%s: no covered pixel (outside the survey footprint?)", what)
    out_header = _tile_header(wcs, band, layer, psf_fwhm_arcsec, pixscale_arcsec)
    out_header["FIELD"] = (field, "Legacy Surveys field (the pipeline's tile)")
    aux_header = wcs.to_header()
    aux_header["PIXSCALE"] = (float(pixscale_arcsec), "arcsec per pixel")
    outs = (Path(out_image), Path(out_weight), Path(out_mask))
    with atomic_path(outs[0]) as tmp:
        fits.PrimaryHDU(data, header=out_header).writeto(tmp, overwrite=True)
    with atomic_path(outs[1]) as tmp:
        hdr = aux_header.copy()
        hdr["WEIGHT"] = (weight_note[:68], "how the weight was made")
        fits.PrimaryHDU(weight, header=hdr).writeto(tmp, overwrite=True)
    with atomic_path(outs[2]) as tmp:
        fits.PrimaryHDU(bad.astype(np.int16), header=aux_header).writeto(tmp, overwrite=True)
    log.info("%s: wrote %s (%d of %d pixels masked)", what, outs[0], int(bad.sum()), bad.size)
    return outs


def download_legacy_field(field: str, ra_deg: float, dec_deg: float, size_pix: int, out_image, out_weight,
                          out_mask, out_catalog, *, tap_url: str = LEGACY_TAP_URL,
                          cutout_url: str = LEGACY_CUTOUT_URL, layer: str = "ls-dr10", band: str = "r",
                          psf_fwhm_arcsec: float = LEGACY_DR10_R_PSF_FWHM_ARCSEC, cache_dir=None, retries: int = 4,
                          backoff_s: float = 2.0, session=None) -> None:
    """Write one field's tile files and catalogue part (``lensfinder download-legacy-field``).

    The catalogue is :func:`query_tractor`, the ``band`` image
    :func:`download_field_image` (``cache_dir`` default: a cache folder beside
    ``out_image``). Deterministic: the same answers give the same files.
    """
    check_field(field, ra_deg, dec_deg, size_pix)
    with own_session(session) as session:
        catalog = query_tractor(field, ra_deg, dec_deg, size_pix, tap_url=tap_url, retries=retries,
                                backoff_s=backoff_s, session=session)
        download_field_image(field, ra_deg, dec_deg, size_pix, out_image, out_weight, out_mask, base_url=cutout_url,
                             layer=layer, band=band, psf_fwhm_arcsec=psf_fwhm_arcsec, cache_dir=cache_dir,
                             retries=retries, backoff_s=backoff_s, session=session)
    write_table(catalog, out_catalog)
    log.info("field %s: %d catalogue rows -> %s", field, len(catalog), out_catalog)


class LegacySurveyBackend(SurveyBackend):
    """DESI Legacy Imaging Surveys: Tractor catalogue (TAP) and images from the viewer's cutout service.

    Parameters
    ----------
    layer : str
        Viewer layer (``ls-dr10``).
    base_url, tap_url : str
        Cutout service and TAP service (holding ``ls_dr10.tractor``).
    cache_dir : path, optional
        Raw answers; default a cache folder beside each output image.
    psf_fwhm_arcsec : float
        Assumed seeing written as ``PSF_FWHM`` (the service reports none).
    retries, backoff_s, timeout_s
        Retry and timeout settings of every request.
    session : requests.Session, optional
        Default: a new :func:`lensfinder.surveys.base.make_session` with ``timeout_s``.
    """

    pixel_scale_arcsec = LEGACY_PIXEL_SCALE_ARCSEC
    bands = ("g", "r", "i", "z")

    def __init__(self, layer: str = "ls-dr10", *, base_url: str = LEGACY_CUTOUT_URL, tap_url: str = LEGACY_TAP_URL,
                 cache_dir=None, psf_fwhm_arcsec: float = LEGACY_DR10_R_PSF_FWHM_ARCSEC, retries: int = 4,
                 backoff_s: float = 2.0, timeout_s: float = DEFAULT_TIMEOUT_S, session=None):
        self.layer = layer
        self.name = f"legacy_{layer.replace('-', '_')}"
        self.base_url, self.tap_url = base_url, tap_url
        self.cache_dir, self.psf_fwhm_arcsec = cache_dir, psf_fwhm_arcsec
        self.retries, self.backoff_s = retries, backoff_s
        self.session = session or make_session(timeout_s)

    def column_map(self):
        """The DR4 map: :func:`tractor_to_kids` writes DR4 column names."""
        from lensfinder.surveys.columns import column_map

        return column_map("dr4")

    def zeropoint_mag(self, header=None) -> float:
        return LEGACY_ZEROPOINT_MAG

    def query_catalog(self, *, tile=None, region=None):
        """Tractor rows in a circle ``(ra_deg, dec_deg, radius_deg)``, DR4 names, ``KIDS_TILE = "region"``."""
        if tile is not None or region is None:
            raise InputError("Legacy Surveys: fields are a centre and a size, not named tiles; pass "
                             "region=(ra_deg, dec_deg, radius_deg) or use query_tractor")
        ra, dec, radius = check_region(region)
        what = f"Legacy Surveys DR10 catalogue of region ({ra}, {dec}, {radius})"
        tractor = _tractor_circle(ra, dec, radius, what, tap_url=self.tap_url, retries=self.retries,
                                  backoff_s=self.backoff_s, session=self.session)
        return tractor_to_kids(tractor, "region")

    def fetch_image(self, tile, band, out_image, out_weight=None, out_mask=None, *, ra_deg=None, dec_deg=None,
                    size_pix=None):
        """One field's image (``tile`` = field name; give its centre and side)."""
        if ra_deg is None or dec_deg is None or size_pix is None:
            raise InputError(f"Legacy Surveys field {tile}: give ra_deg, dec_deg and size_pix")
        stem = str(out_image).removesuffix(".fits")
        return download_field_image(tile, ra_deg, dec_deg, size_pix, out_image, out_weight or f"{stem}.weight.fits",
                                    out_mask or f"{stem}.mask.fits", base_url=self.base_url, layer=self.layer,
                                    band=band, psf_fwhm_arcsec=self.psf_fwhm_arcsec, cache_dir=self.cache_dir,
                                    retries=self.retries, backoff_s=self.backoff_s, session=self.session)

    def fetch_field(self, field, ra_deg, dec_deg, size_pix, out_image, out_weight, out_mask, out_catalog, *,
                    band: str = "r") -> None:
        """One field's ``band`` image and catalogue part (``lensfinder download-legacy-field``).

        See :func:`download_legacy_field`.
        """
        download_legacy_field(field, ra_deg, dec_deg, size_pix, out_image, out_weight, out_mask, out_catalog,
                              tap_url=self.tap_url, cutout_url=self.base_url, layer=self.layer, band=band,
                              psf_fwhm_arcsec=self.psf_fwhm_arcsec, cache_dir=self.cache_dir, retries=self.retries,
                              backoff_s=self.backoff_s, session=self.session)

    def fetch_cutout(self, ra_deg, dec_deg, size_arcsec, band, out) -> Path:
        return fetch_cutout(ra_deg, dec_deg, size_arcsec, out, band=band, layer=self.layer, base_url=self.base_url,
                            psf_fwhm_arcsec=self.psf_fwhm_arcsec, cache_dir=self.cache_dir, retries=self.retries,
                            backoff_s=self.backoff_s, session=self.session)[0]
