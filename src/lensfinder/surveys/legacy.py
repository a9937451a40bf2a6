"""DESI Legacy Imaging Surveys DR10 as a second survey: Tractor catalogue (TAP), fields, and the backend.

One Legacy "tile" is a **field** of the config (a name, a centre, a side in
pixels); :func:`download_legacy_field` writes the same four files a KiDS tile
has, with the Tractor rows renamed onto the KiDS DR4 columns
(:func:`tractor_to_kids`) and the image, inverse variance and maskbits from
the cutout service (:mod:`lensfinder.surveys.legacy_images`).
:class:`LegacySurveyBackend` binds the endpoints and settings. Every
approximation of the column mapping, and the image, weight and mask recipe:
``docs/surveys.md``.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from lensfinder.io import InputError, write_table
from lensfinder.surveys.base import DEFAULT_TIMEOUT_S, DownloadError, SurveyBackend, make_session, own_session
from lensfinder.surveys.columns import LEGACY_DR10_TRACTOR_COLUMNS, LEGACY_TAP_TABLES, tractor_to_kids
from lensfinder.surveys.legacy_images import (LEGACY_CUTOUT_URL, LEGACY_DR10_R_PSF_FWHM_ARCSEC,
                                              LEGACY_PIXEL_SCALE_ARCSEC, LEGACY_ZEROPOINT_MAG, check_field,
                                              assumed_psf_fwhm, download_field_image, fetch_cutout,
                                              legacy_mask_bits)
from lensfinder.surveys.tap import adql_circle, check_region, query_with_retries, table_to_frame

__all__ = [
    "LEGACY_TAP_URL",
    "LegacySurveyBackend",
    "tractor_query",
    "query_tractor",
    "download_legacy_field",
]

log = logging.getLogger(__name__)

#: NOIRLab Astro Data Lab TAP service (holds ls_dr10.tractor).
LEGACY_TAP_URL = "https://datalab.noirlab.edu/tap"


# ---------------------------------------------------------------- fields: catalogue (mapping: columns.tractor_to_kids)

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
    """The field's Tractor rows mapped to DR4 columns (:func:`tractor_to_kids`), cut to its square.

    No primary row in the circle around the field means the field lies outside
    the DR10 footprint: :class:`~lensfinder.surveys.base.DownloadError` says so.
    """
    field, ra_deg, dec_deg, size_pix = check_field(field, ra_deg, dec_deg, size_pix)
    half = _field_half_deg(size_pix, pixscale_arcsec)
    radius = half * math.sqrt(2.0) * 1.001  # the circle around the square (corners included)
    what = f"Legacy Surveys DR10 catalogue of field {field}"
    tractor = _tractor_circle(ra_deg, dec_deg, radius, what, tap_url=tap_url, retries=retries, backoff_s=backoff_s,
                              session=session)
    if tractor.empty:
        # DR10 holds thousands of sources per square degree wherever it has data
        raise DownloadError(f"{what}: no Tractor source within {radius * 3600:.0f}\" of ({ra_deg}, {dec_deg}): "
                            "outside the Legacy Surveys DR10 footprint; check the field's ra/dec")
    xi, eta = _gnomonic_offsets_deg(tractor["ra"].to_numpy(float), tractor["dec"].to_numpy(float), ra_deg, dec_deg)
    keep = (np.abs(xi) <= half) & (np.abs(eta) <= half)
    log.info("%s: %d primary Tractor rows, %d in the %d px square", what, len(tractor), int(keep.sum()), size_pix)
    return tractor_to_kids(tractor.loc[keep].reset_index(drop=True), field)


def download_legacy_field(field: str, ra_deg: float, dec_deg: float, size_pix: int, out_image, out_weight,
                          out_mask, out_catalog, *, tap_url: str = LEGACY_TAP_URL,
                          cutout_url: str = LEGACY_CUTOUT_URL, layer: str = "ls-dr10", band: str = "r",
                          psf_fwhm_arcsec: float = LEGACY_DR10_R_PSF_FWHM_ARCSEC, mask_bits: int | None = None,
                          cache_dir=None, retries: int = 4, backoff_s: float = 2.0, session=None) -> None:
    """Write one field's tile files and catalogue part (``lensfinder download-legacy-field``).

    The catalogue is :func:`query_tractor` (a field outside the footprint
    stops here, before the cutout service is asked), then each band's image,
    inverse variance and maskbits, one cutout request per band,
    :func:`lensfinder.surveys.legacy_images.download_field_image`
    (``cache_dir`` default: a cache folder beside the first image).
    ``out_image``, ``out_weight`` and ``out_mask`` are paths of the ``band``
    image, or ``{band: path}`` mappings (same bands) for several.
    ``psf_fwhm_arcsec`` is the r band's assumed seeing; the other bands take
    :func:`~lensfinder.surveys.legacy_images.assumed_psf_fwhm` (the Legacy preset's medians in g and z).
    ``mask_bits`` default: :func:`~lensfinder.surveys.legacy_images.legacy_mask_bits` of each band.
    Deterministic: the same answers give the same files.
    """
    check_field(field, ra_deg, dec_deg, size_pix)
    paths = [p if isinstance(p, dict) else {band: p} for p in (out_image, out_weight, out_mask)]
    if not paths[0] or any(set(p) != set(paths[0]) for p in paths[1:]):
        raise InputError(f"field {field}: image, weight and mask paths: expected the same bands, got "
                         f"{[sorted(p) for p in paths]}")
    with own_session(session) as session:
        catalog = query_tractor(field, ra_deg, dec_deg, size_pix, tap_url=tap_url, retries=retries,
                                backoff_s=backoff_s, session=session)
        for b in paths[0]:
            download_field_image(field, ra_deg, dec_deg, size_pix, paths[0][b], paths[1][b], paths[2][b],
                                 base_url=cutout_url, layer=layer, band=b,
                                 psf_fwhm_arcsec=assumed_psf_fwhm(b, psf_fwhm_arcsec), mask_bits=mask_bits,
                                 cache_dir=cache_dir, retries=retries, backoff_s=backoff_s, session=session)
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
        Assumed r-band seeing written as ``PSF_FWHM`` (the service reports none); the other bands
        take :func:`lensfinder.surveys.legacy_images.assumed_psf_fwhm`.
    mask_bits : int, optional
        DR10 MASKBITS bits that mask a pixel (default: each band's,
        :func:`lensfinder.surveys.legacy_images.legacy_mask_bits`).
    retries, backoff_s, timeout_s
        Retry and timeout settings of every request.
    session : requests.Session, optional
        Default: a new :func:`lensfinder.surveys.base.make_session` with
        ``timeout_s`` and no credential (the ESO token is not for these hosts).
    """

    pixel_scale_arcsec = LEGACY_PIXEL_SCALE_ARCSEC
    bands = ("g", "r", "i", "z")

    def __init__(self, layer: str = "ls-dr10", *, base_url: str = LEGACY_CUTOUT_URL, tap_url: str = LEGACY_TAP_URL,
                 cache_dir=None, psf_fwhm_arcsec: float = LEGACY_DR10_R_PSF_FWHM_ARCSEC,
                 mask_bits: int | None = None, retries: int = 4, backoff_s: float = 2.0,
                 timeout_s: float = DEFAULT_TIMEOUT_S, session=None):
        self.layer = layer
        self.name = f"legacy_{layer.replace('-', '_')}"
        self.base_url, self.tap_url = base_url, tap_url
        self.cache_dir, self.psf_fwhm_arcsec, self.mask_bits = cache_dir, psf_fwhm_arcsec, mask_bits
        self.retries, self.backoff_s = retries, backoff_s
        self.session = session or make_session(timeout_s, token_env=None)

    def _mask_bits(self, band):
        return legacy_mask_bits(band) if self.mask_bits is None else self.mask_bits

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
                                    band=band, psf_fwhm_arcsec=assumed_psf_fwhm(band, self.psf_fwhm_arcsec),
                                    mask_bits=self._mask_bits(band),
                                    cache_dir=self.cache_dir, retries=self.retries, backoff_s=self.backoff_s,
                                    session=self.session)

    def fetch_field(self, field, ra_deg, dec_deg, size_pix, out_image, out_weight, out_mask, out_catalog, *,
                    band: str = "r") -> None:
        """One field's images and catalogue part (``lensfinder download-legacy-field``).

        ``out_image``, ``out_weight``, ``out_mask``: paths of the ``band`` image, or
        ``{band: path}`` mappings; see :func:`download_legacy_field`.
        """
        download_legacy_field(field, ra_deg, dec_deg, size_pix, out_image, out_weight, out_mask, out_catalog,
                              tap_url=self.tap_url, cutout_url=self.base_url, layer=self.layer, band=band,
                              psf_fwhm_arcsec=self.psf_fwhm_arcsec, mask_bits=self.mask_bits,
                              cache_dir=self.cache_dir, retries=self.retries, backoff_s=self.backoff_s,
                              session=self.session)

    def fetch_cutout(self, ra_deg, dec_deg, size_arcsec, band, out):
        return fetch_cutout(ra_deg, dec_deg, size_arcsec, out, band=band, layer=self.layer, base_url=self.base_url,
                            psf_fwhm_arcsec=assumed_psf_fwhm(band, self.psf_fwhm_arcsec),
                            mask_bits=self._mask_bits(band),
                            cache_dir=self.cache_dir, retries=self.retries, backoff_s=self.backoff_s,
                            session=self.session)[0]
