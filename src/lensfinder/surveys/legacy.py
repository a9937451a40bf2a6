"""DESI Legacy Imaging Surveys as a second backend: cutouts from the viewer service.

The cutout service (default
``https://www.legacysurvey.org/viewer/fits-cutout``) answers
``?ra=&dec=&layer=ls-dr10&pixscale=0.262&bands=griz&size=N`` with a FITS
image in nanomaggies: one 2-D image for one band, a cube ``(band, y, x)`` for
several. :func:`fetch_cutout` keeps one band and writes it in the pipeline's
tile format (float32, TAN WCS, header ``PSF_FWHM``, ``ZEROPT``, ``PIXSCALE``)
with a unit weight map and an all-zero mask beside it, since the service
serves neither; the stamps step then reads it like any tile.

Units: counts are nanomaggies, so ``ZEROPT = 22.5``
(``mag = 22.5 - 2.5 log10(flux)``). The service gives no PSF; ``PSF_FWHM``
is the value passed in (default :data:`LEGACY_DR10_R_PSF_FWHM_ARCSEC`, an
assumed typical r-band seeing; pass the real one where it matters).

The catalogue side (``ls_dr10.tractor`` through the NOIRLab Astro Data Lab
TAP service) is left to a later issue: :meth:`LegacySurveyBackend.query_catalog`
raises ``NotImplementedError`` naming it.
"""

from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path

import numpy as np

from ..io import InputError, atomic_path
from .base import DEFAULT_TIMEOUT_S, DownloadError, SurveyBackend, download_file, make_session

__all__ = [
    "LEGACY_CUTOUT_URL",
    "LEGACY_PIXEL_SCALE_ARCSEC",
    "LEGACY_ZEROPOINT_MAG",
    "LEGACY_DR10_R_PSF_FWHM_ARCSEC",
    "LegacySurveyBackend",
    "cutout_params",
    "fetch_cutout",
]

log = logging.getLogger(__name__)

LEGACY_CUTOUT_URL = "https://www.legacysurvey.org/viewer/fits-cutout"
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
    from astropy.wcs import WCS

    size_pix = int(math.ceil(size_arcsec / pixscale_arcsec))
    params = cutout_params(ra_deg, dec_deg, size_pix, bands=band, layer=layer, pixscale_arcsec=pixscale_arcsec)
    name = f"{layer}_{band}_{ra_deg:.6f}_{dec_deg:+.6f}_{size_pix}_{pixscale_arcsec:g}.fits"
    what = f"Legacy Surveys {layer} {band}-band cutout at ({ra_deg:.5f}, {dec_deg:.5f})"
    raw = download_file(base_url, Path(cache_dir) / name, session=session or make_session(DEFAULT_TIMEOUT_S),
                        params=params, retries=retries, backoff_s=backoff_s, what=what)
    try:
        with fits.open(raw) as hdul:
            hdu = next((h for h in hdul if h.is_image and h.data is not None), None)
            if hdu is None:
                raise DownloadError(f"{raw}: no image data in the cutout ({what})")
            data = np.asarray(hdu.data, dtype=np.float32)
            header = hdu.header.copy()
    except OSError as exc:
        Path(raw).unlink(missing_ok=True)  # a bad cached file must not stick
        raise DownloadError(f"{raw}: not a readable FITS file ({exc})") from exc
    if data.ndim == 3:
        data = data[0]  # one band asked for: (1, y, x)
    if data.ndim != 2:
        raise DownloadError(f"{raw}: expected a 2-D cutout, got shape {data.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 3-axis header's band axis is dropped below
        wcs = WCS(header).celestial
    out_header = wcs.to_header()
    out_header["BAND"] = (band, "Legacy Surveys band")
    out_header["SURVEY"] = (layer, "Legacy Surveys layer")
    out_header["PSF_FWHM"] = (float(psf_fwhm_arcsec), "PSF FWHM [arcsec] (assumed; service gives none)")
    out_header["ZEROPT"] = (LEGACY_ZEROPOINT_MAG, "nanomaggies: mag = 22.5 - 2.5 log10(counts)")
    out_header["PIXSCALE"] = (float(pixscale_arcsec), "arcsec per pixel")
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


class LegacySurveyBackend(SurveyBackend):
    """DESI Legacy Imaging Surveys (cutout service; see the module docstring)."""

    pixel_scale_arcsec = LEGACY_PIXEL_SCALE_ARCSEC
    bands = ("g", "r", "i", "z")

    def __init__(self, layer: str = "ls-dr10", *, base_url: str = LEGACY_CUTOUT_URL, cache_dir="results/cache/legacy",
                 psf_fwhm_arcsec: float = LEGACY_DR10_R_PSF_FWHM_ARCSEC, retries: int = 4, backoff_s: float = 2.0,
                 session=None):
        self.layer = layer
        self.name = f"legacy_{layer.replace('-', '_')}"
        self.base_url, self.cache_dir, self.psf_fwhm_arcsec = base_url, cache_dir, psf_fwhm_arcsec
        self.retries, self.backoff_s = retries, backoff_s
        self.session = session or make_session()

    def column_map(self):
        # Tractor catalogue names (ls_dr10.tractor), for a later catalogue query
        return {"id": "ls_id", "ra_deg": "ra", "dec_deg": "dec", "type": "type", "flux_r": "flux_r"}

    def zeropoint_mag(self, header=None) -> float:
        return LEGACY_ZEROPOINT_MAG

    def query_catalog(self, *, tile=None, region=None):
        raise NotImplementedError("Legacy Surveys catalogue (ls_dr10.tractor via Astro Data Lab TAP) is not wired yet")

    def fetch_cutout(self, ra_deg, dec_deg, size_arcsec, band, out) -> Path:
        return fetch_cutout(ra_deg, dec_deg, size_arcsec, out, band=band, layer=self.layer, base_url=self.base_url,
                            psf_fwhm_arcsec=self.psf_fwhm_arcsec, cache_dir=self.cache_dir, retries=self.retries,
                            backoff_s=self.backoff_s, session=self.session)[0]
