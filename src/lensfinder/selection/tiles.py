"""Survey tiles for stamp cutting: a memory-mapped FITS image, its WCS, PSF, zero point and pixel scale."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from lensfinder.io import InputError

__all__ = ["PSF_KEYS", "ZEROPOINT_KEYS", "open_tile", "celestial_wcs", "tile_properties"]

log = logging.getLogger(__name__)

#: Header keys that hold the PSF FWHM (arcsec) and the zero point, in order of preference.
PSF_KEYS = ("PSF_FWHM", "PSFFWHM", "SEEING")
ZEROPOINT_KEYS = ("ZEROPT", "PHOTZP", "MAGZPT", "MAGZERO")


class _OpenTile:
    """A memory-mapped FITS image and the handles to close after use."""

    def __init__(self, fileobj, hdul, data, header):
        self.fileobj, self.hdul, self.data, self.header = fileobj, hdul, data, header

    def close(self):
        self.data = None
        if self.hdul is not None:
            self.hdul.close()
        self.fileobj.close()


def open_tile(path, what: str = "image") -> _OpenTile:
    """Open the first 2-D image HDU of a FITS file, memory-mapped.

    A missing, truncated or corrupt file raises :class:`InputError` naming it
    (astropy's verification warnings about a broken header count as errors).
    Call ``.close()`` on the result when done.
    """
    from astropy.io import fits
    from astropy.io.fits.verify import VerifyWarning
    from astropy.utils.exceptions import AstropyUserWarning

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found ({what})")
    fileobj = open(path, "rb")  # noqa: SIM115 - closed by _OpenTile.close or below
    hdul = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", VerifyWarning)
            warnings.simplefilter("error", AstropyUserWarning)
            hdul = fits.open(fileobj, memmap=True, lazy_load_hdus=False)
            for hdu in hdul:
                if hdu.is_image and hdu.header.get("NAXIS", 0) == 2 and hdu.data is not None:
                    return _OpenTile(fileobj, hdul, hdu.data, hdu.header)
    except (OSError, ValueError, TypeError, EOFError, VerifyWarning, AstropyUserWarning) as exc:
        if hdul is not None:
            hdul.close()
        fileobj.close()
        raise InputError(f"{path}: not a readable FITS image ({what}): {exc}") from exc
    hdul.close()
    fileobj.close()
    raise InputError(f"{path}: no 2-D image HDU ({what})")


def celestial_wcs(header, path):
    """The celestial WCS of a tile header (astropy's header fixes are not reported).

    Raises
    ------
    lensfinder.io.InputError
        The header has no celestial WCS.
    """
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    if not wcs.has_celestial:
        raise InputError(f"{path}: header: no celestial WCS")
    return wcs


def tile_properties(header, path: str = "tile", psf_fwhm_arcsec=None, zeropoint_mag=None, wcs=None):
    """PSF FWHM (arcsec), zero point (mag) and pixel scale (arcsec) of a tile.

    Header keys :data:`PSF_KEYS` and :data:`ZEROPOINT_KEYS`, ``PIXSCALE`` (else
    from the WCS); explicit values override. A missing zero point is an error
    (simulations must match it); a missing PSF is logged and NaN.
    """
    def first(keys):
        for k in keys:
            if k in header and header[k] is not None:
                try:
                    return float(header[k])
                except (TypeError, ValueError):
                    raise InputError(f"{path}: header {k}: expected a number, got {header[k]!r}") from None
        return None

    psf = psf_fwhm_arcsec if psf_fwhm_arcsec is not None else first(PSF_KEYS)
    if psf is None:
        log.warning("%s: no PSF FWHM in the header (%s); psf_fwhm_arcsec is NaN", path, "/".join(PSF_KEYS))
        psf = np.nan
    zp = zeropoint_mag if zeropoint_mag is not None else first(ZEROPOINT_KEYS)
    if zp is None:
        raise InputError(f"{path}: header: no zero point ({'/'.join(ZEROPOINT_KEYS)}); pass --zeropoint-mag")
    scale = first(("PIXSCALE",))
    if scale is None and wcs is not None:
        from astropy.wcs.utils import proj_plane_pixel_scales

        scale = float(np.mean(proj_plane_pixel_scales(wcs.celestial)) * 3600.0)
    if scale is None:
        raise InputError(f"{path}: header: no PIXSCALE and no celestial WCS")
    return float(psf), float(zp), float(scale)

