"""DESI Legacy Imaging Surveys DR10 as a second survey: Tractor catalogue + viewer cutouts.

One Legacy "tile" is a **field** of the config: a name, a centre and a side
in pixels. ``lensfinder download-legacy-field`` writes, for one field, the
same four files a KiDS tile has (``docs/architecture.md``), so merge,
preselection, stamps, scoring and inspection run unchanged.

Catalogue (:func:`query_tractor`)
    The DR10 Tractor catalogue ``ls_dr10.tractor``
    (:data:`lensfinder.surveys.columns.LEGACY_TAP_TABLES`) through pyvo's TAP
    client at NOIRLab Astro Data Lab (default
    :data:`LEGACY_TAP_URL`), rows with ``brick_primary`` (each object once)
    within ``CONTAINS(POINT, CIRCLE)`` of the circle around the field's square,
    then cut to the square itself (gnomonic offsets from the centre, as the
    cutout's TAN WCS). Transient failures are retried with backoff
    (:func:`lensfinder.surveys.base.with_retries`); an empty result is a
    valid, empty part.
Column mapping (:func:`tractor_to_kids`)
    Rows are renamed onto the KiDS DR4 columns the rest of the pipeline
    reads (:data:`lensfinder.surveys.columns.LEGACY_DR10_COLUMN_MAP`), so the
    release is ``dr4`` and the Li et al. 2020 samples apply. Every mapping is
    an approximation:

    - ``ID``: ``"LS10 JHHMMSS.SS+DDMMSS.S"`` from ``ra``, ``dec``; two rows
      that round to the same name get ``_<ls_id>`` appended. ``LS_ID`` and
      ``LS_TYPE`` keep the Tractor values.
    - ``KIDS_TILE``, ``THELI_NAME``: the field name.
    - ``RAJ2000``, ``DECJ2000``: Tractor ``ra``, ``dec`` (ICRS, deg).
    - ``MAG_AUTO``: ``22.5 - 2.5 log10(flux_r)``, the Tractor *model*
      magnitude (not Kron; not dereddened, like KiDS ``MAG_AUTO``);
      ``MAGERR_AUTO`` ``= 1.0857 / (flux_r sqrt(flux_ivar_r))``. A flux <= 0
      or an inverse variance <= 0 gives NaN.
    - ``COLOUR_GAAP_g_r``, ``COLOUR_GAAP_r_i``: differences of Tractor model
      magnitudes (total, not aperture-matched GAaP colours).
      ``MAG_GAAP_{g,r,i}`` and errors likewise; ``MAG_GAAP_u`` is NaN (no u).
      **Missing i band**: DR10 has i only where DECam observed it (mostly the
      south); where ``flux_ivar_i <= 0`` or ``flux_i <= 0`` (or NULL),
      ``COLOUR_GAAP_r_i`` is NaN, so such a galaxy fails the LRG colour cuts
      (the preselection's NaN policy) but can still be in the BG sample,
      which needs no colour.
    - ``SG2DPHOT``: 1 (star) for Tractor ``type`` PSF and DUP (a Gaia
      duplicate), 0 for the extended types (REX, EXP, DEV, SER);
      ``CLASS_STAR`` is the same as 1.0/0.0 (no SExtractor stellarity).
    - ``FLUX_RADIUS``: Tractor half-light radius ``shape_r`` (arcsec) divided
      by 0.213 (:data:`lensfinder.constants.KIDS_CATALOG_PIXEL_SCALE_ARCSEC`),
      so it is in the KiDS catalogue pixels the DR3 size cut expects; 0 for
      PSF sources (Tractor's value).
    - ``MASK``: ``maskbits`` (different bit meanings from KiDS ``MASK``;
      ``mask_cut`` treats any bit as masked); ``Flag``: ``fitbits``;
      ``IMAFLAGS_ISO``: 0 (no equivalent).
    - ``Z_B``: NaN (photo-z are a separate Data Lab table, not joined).
Image (:func:`download_field_image`)
    The r-band image of the field from the viewer's cutout service
    (:data:`LEGACY_CUTOUT_URL`,
    ``?ra=&dec=&layer=ls-dr10&pixscale=0.262&bands=r&size=N``) in one
    request. The service caps ``size`` at :data:`LEGACY_MAX_SIZE_PIX`
    (3000 px = 13.1'), so a field is at most that big: larger sides are
    refused (configure several fields instead; fields are not mosaicked).
    Written in the tile format: float32 image with its TAN WCS, ``PSF_FWHM``
    (the service reports none: the configured assumed seeing, default
    :data:`LEGACY_DR10_R_PSF_FWHM_ARCSEC`), ``ZEROPT`` = 22.5 (nanomaggies),
    ``PIXSCALE`` = 0.262. Weight: the answer's inverse-variance HDU
    (``EXTNAME`` ``INVVAR``/``IVAR``) where the service sends one, else a
    robust sky estimate: ``1 / sigma^2`` with ``sigma = 1.4826 MAD`` of the
    covered pixels, one value for the whole field. Mask (int16): 1 where the
    image is exactly 0 (outside the survey footprint, as the viewer fills
    it) or not finite; weight 0 there too.

:func:`fetch_cutout` keeps the older single-cutout path (unit weight), used
by :class:`LegacySurveyBackend`. The command is deterministic: no seed, the
same answers give the same files.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import warnings
from pathlib import Path

import numpy as np

from lensfinder.constants import KIDS_CATALOG_PIXEL_SCALE_ARCSEC
from lensfinder.io import InputError, atomic_path, write_table
from lensfinder.cli.options import add_retry_arguments
from lensfinder.surveys.base import (DEFAULT_TIMEOUT_S, DownloadError, SurveyBackend, download_file, make_session,
                   own_session, with_retries)
from lensfinder.surveys.columns import LEGACY_DR10_COLUMN_MAP, LEGACY_DR10_TRACTOR_COLUMNS, LEGACY_TAP_TABLES

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
    "tractor_to_kids",
    "query_tractor",
    "sky_weight",
    "download_field_image",
    "download_legacy_field",
    "add_download_legacy_field_arguments",
    "run_download_legacy_field",
]

log = logging.getLogger(__name__)

LEGACY_CUTOUT_URL = "https://www.legacysurvey.org/viewer/fits-cutout"
#: NOIRLab Astro Data Lab TAP service (holds ls_dr10.tractor).
LEGACY_TAP_URL = "https://datalab.noirlab.edu/tap"
#: Native DECam pixel scale of the Legacy Surveys coadds (Dey et al. 2019).
LEGACY_PIXEL_SCALE_ARCSEC = 0.262
#: Legacy Surveys images are in nanomaggies: mag = 22.5 - 2.5 log10(flux) (Dey et al. 2019).
LEGACY_ZEROPOINT_MAG = 22.5
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
                 psf_fwhm_arcsec: float = LEGACY_DR10_R_PSF_FWHM_ARCSEC, cache_dir="results/cache/legacy",
                 retries: int = 4, backoff_s: float = 2.0, session=None) -> tuple[Path, Path, Path]:
    """Download one band's cutout and write it as a tile (image, weight, mask).

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
    raw = download_file(base_url, Path(cache_dir) / name, session=session or make_session(DEFAULT_TIMEOUT_S),
                        params=params, retries=retries, backoff_s=backoff_s, what=what)
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


# ---------------------------------------------------------------- fields: catalogue

_FIELD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: Tractor types that are point sources (PSF) or Gaia duplicates (DUP): "stars" for SG2DPHOT.
TRACTOR_POINT_TYPES = ("PSF", "DUP")
#: ``2.5 / ln(10)``: magnitude error of a flux with relative error 1.
_MAG_ERR_FACTOR = 2.5 / math.log(10.0)


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
    return (f"SELECT {', '.join(columns)} FROM {table} WHERE "
            f"CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra_deg!r}, {dec_deg!r}, {radius_deg!r})) = 1 "
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


def _mags(flux, ivar):
    """Magnitudes (ZP 22.5) and errors of nanomaggy fluxes; NaN where unmeasured or <= 0."""
    flux = np.asarray(flux, dtype=float)
    ivar = np.asarray(ivar, dtype=float) if ivar is not None else np.ones_like(flux)
    good = np.isfinite(flux) & (flux > 0) & np.isfinite(ivar) & (ivar > 0)
    safe = np.where(good, flux, 1.0)
    mag = np.where(good, LEGACY_ZEROPOINT_MAG - 2.5 * np.log10(safe), np.nan)
    err = np.where(good, _MAG_ERR_FACTOR / (safe * np.sqrt(np.where(good, ivar, 1.0))), np.nan)
    return mag, err


def _iau_names(ra_deg, dec_deg, prefix: str = "LS10 J") -> list[str]:
    """``JHHMMSS.SS+DDMMSS.S`` names (truncated, IAU style) of positions in degrees."""
    names = []
    for ra, dec in zip(np.asarray(ra_deg, dtype=float), np.asarray(dec_deg, dtype=float)):
        t = int(math.floor(ra / 15.0 * 3600 * 100 + 1e-6))  # hundredths of a second of time
        h, rest = divmod(t, 3600 * 100)
        m, rest = divmod(rest, 60 * 100)
        sign = "-" if dec < 0 else "+"
        d10 = int(math.floor(abs(dec) * 3600 * 10 + 1e-6))  # tenths of an arcsecond
        dd, drest = divmod(d10, 3600 * 10)
        dm, ds10 = divmod(drest, 60 * 10)
        names.append(f"{prefix}{h:02d}{m:02d}{rest // 100:02d}.{rest % 100:02d}"
                     f"{sign}{dd:02d}{dm:02d}{ds10 // 10:02d}.{ds10 % 10:d}")
    return names


def tractor_to_kids(tractor, field: str):
    """Map Tractor rows onto the KiDS DR4 column names (see the module docstring).

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
    ids = pd.Series(_iau_names(ra, dec), dtype=object)
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


def _tractor_circle(ra_deg: float, dec_deg: float, radius_deg: float, what: str, *, tap_url: str, retries: int,
                    backoff_s: float, session):
    """Primary Tractor rows (raw columns) within a circle; transient failures retried."""
    from lensfinder.surveys.kids import _table_to_frame, run_tap_query

    query = tractor_query(ra_deg, dec_deg, radius_deg)
    with own_session(session) as session:
        table = with_retries(lambda k: run_tap_query(query, tap_url, mode="sync", session=session, maxrec=10_000_000,
                                                     what=what), what, retries=retries, backoff_s=backoff_s)
    tractor = _table_to_frame(table, list(LEGACY_DR10_TRACTOR_COLUMNS), what)
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
                         psf_fwhm_arcsec: float = LEGACY_DR10_R_PSF_FWHM_ARCSEC, cache_dir="results/cache/legacy",
                         retries: int = 4, backoff_s: float = 2.0, session=None) -> tuple[Path, Path, Path]:
    """Download one field's image and write it as a tile (image, weight, mask); see the module docstring."""
    from astropy.io import fits

    field, ra_deg, dec_deg, size_pix = check_field(field, ra_deg, dec_deg, size_pix)
    if not (psf_fwhm_arcsec > 0):
        raise InputError(f"field {field}: psf_fwhm_arcsec {psf_fwhm_arcsec}: expected > 0 arcsec")
    params = cutout_params(ra_deg, dec_deg, size_pix, bands=band, layer=layer, pixscale_arcsec=pixscale_arcsec)
    name = f"{layer}_{band}_{ra_deg:.6f}_{dec_deg:+.6f}_{size_pix}_{pixscale_arcsec:g}.fits"
    what = f"Legacy Surveys {layer} {band}-band image of field {field}"
    with own_session(session) as session:
        raw = download_file(base_url, Path(cache_dir) / name, session=session, params=params, retries=retries,
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
                          cutout_url: str = LEGACY_CUTOUT_URL, psf_fwhm_arcsec: float = LEGACY_DR10_R_PSF_FWHM_ARCSEC,
                          cache_dir="results/cache/legacy", retries: int = 4, backoff_s: float = 2.0,
                          session=None) -> None:
    """Write one field's tile files and catalogue part (``lensfinder download-legacy-field``)."""
    check_field(field, ra_deg, dec_deg, size_pix)
    with own_session(session) as session:
        catalog = query_tractor(field, ra_deg, dec_deg, size_pix, tap_url=tap_url, retries=retries,
                                backoff_s=backoff_s, session=session)
        download_field_image(field, ra_deg, dec_deg, size_pix, out_image, out_weight, out_mask, base_url=cutout_url,
                             psf_fwhm_arcsec=psf_fwhm_arcsec, cache_dir=cache_dir, retries=retries,
                             backoff_s=backoff_s, session=session)
    write_table(catalog, out_catalog)
    log.info("field %s: %d catalogue rows -> %s", field, len(catalog), out_catalog)


class LegacySurveyBackend(SurveyBackend):
    """DESI Legacy Imaging Surveys (cutout service; see the module docstring)."""

    pixel_scale_arcsec = LEGACY_PIXEL_SCALE_ARCSEC
    bands = ("g", "r", "i", "z")

    def __init__(self, layer: str = "ls-dr10", *, base_url: str = LEGACY_CUTOUT_URL, tap_url: str = LEGACY_TAP_URL,
                 cache_dir="results/cache/legacy", psf_fwhm_arcsec: float = LEGACY_DR10_R_PSF_FWHM_ARCSEC,
                 retries: int = 4, backoff_s: float = 2.0, session=None):
        self.layer = layer
        self.name = f"legacy_{layer.replace('-', '_')}"
        self.base_url, self.tap_url = base_url, tap_url
        self.cache_dir, self.psf_fwhm_arcsec = cache_dir, psf_fwhm_arcsec
        self.retries, self.backoff_s = retries, backoff_s
        self.session = session or make_session()

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
        from lensfinder.surveys.kids import _check_region

        ra, dec, radius = _check_region(region)
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

    def fetch_cutout(self, ra_deg, dec_deg, size_arcsec, band, out) -> Path:
        return fetch_cutout(ra_deg, dec_deg, size_arcsec, out, band=band, layer=self.layer, base_url=self.base_url,
                            psf_fwhm_arcsec=self.psf_fwhm_arcsec, cache_dir=self.cache_dir, retries=self.retries,
                            backoff_s=self.backoff_s, session=self.session)[0]


# ---------------------------------------------------------------- command line


def add_download_legacy_field_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder download-legacy-field``."""
    parser.add_argument("--field", required=True, help="field name (the pipeline's tile name)")
    parser.add_argument("--ra", required=True, type=float, help="field centre RA (deg, ICRS)")
    parser.add_argument("--dec", required=True, type=float, help="field centre Dec (deg, ICRS)")
    parser.add_argument("--size-pix", required=True, type=int,
                        help=f"field side in 0.262\" pixels, 1..{LEGACY_MAX_SIZE_PIX} (the cutout service's cap)")
    parser.add_argument("--out-image", required=True, type=Path, help="r-band image in the tile format (FITS)")
    parser.add_argument("--out-weight", required=True, type=Path, help="weight map (FITS, float32)")
    parser.add_argument("--out-mask", required=True, type=Path, help="mask (FITS, int16, >0 masked)")
    parser.add_argument("--out-catalog", required=True, type=Path, help="catalogue part (Parquet, KiDS DR4 names)")
    parser.add_argument("--tap-url", default=LEGACY_TAP_URL, help="TAP service holding ls_dr10.tractor")
    parser.add_argument("--cutout-url", default=LEGACY_CUTOUT_URL, help="Legacy Surveys viewer fits-cutout URL")
    parser.add_argument("--psf-fwhm-arcsec", type=float, default=LEGACY_DR10_R_PSF_FWHM_ARCSEC,
                        help="assumed r-band seeing written as PSF_FWHM (the service gives none)")
    parser.add_argument("--cache-dir", type=Path, default=Path("results/cache/legacy"),
                        help="raw cutouts (kept: a rerun fetches nothing)")
    add_retry_arguments(parser, "timeouts, 5xx and truncated answers")


def run_download_legacy_field(args: argparse.Namespace) -> int:
    """Run ``lensfinder download-legacy-field`` (deterministic: no seed)."""
    with make_session(args.timeout) as session:
        download_legacy_field(args.field, args.ra, args.dec, args.size_pix, args.out_image, args.out_weight,
                              args.out_mask, args.out_catalog, tap_url=args.tap_url, cutout_url=args.cutout_url,
                              psf_fwhm_arcsec=args.psf_fwhm_arcsec, cache_dir=args.cache_dir, retries=args.retries,
                              backoff_s=args.backoff, session=session)
    return 0
