"""Downloaded survey images -> the pipeline's tile files (image, weight, mask; ``docs/architecture.md``).

:func:`verify_fits` judges a download complete (FITS structure and its own
checksums); :func:`write_tile_files` writes the three files with the header
keys the pipeline reads (``PSF_FWHM``, ``ZEROPT``, ``PIXSCALE``), from memory
maps and without copying a float32 coadd.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from lensfinder.io import atomic_path
from lensfinder.surveys.base import DownloadError

__all__ = ["verify_fits", "write_tile_files"]


def verify_fits(path: Path) -> None:
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


def _zeropoint(header):
    return _first(header, ("ZEROPT", "PHOTZP", "MAGZERO"))


def write_tile_files(image_src, weight_src, mask_src, out_image, out_weight, out_mask, *,
                     zeropoint_mag: float | None = None, psf_fwhm_arcsec: float | None = None,
                     release: str = "") -> None:
    """Write downloaded KiDS files in the pipeline's tile format (docs/architecture.md).

    The image gets header keys ``PSF_FWHM`` (arcsec; from ``PSF_FWHM`` or
    ``SEEING`` in the archive header), ``ZEROPT`` (from ``ZEROPT``,
    ``PHOTZP`` or ``MAGZERO``), ``PIXSCALE`` (arcsec/px, from the WCS) and
    ``KIDSREL`` (``release``, when given); ``OBJECT`` and ``ORIGFILE`` are kept.
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
        zp = zeropoint_mag if zeropoint_mag is not None else _zeropoint(header)
        if zp is None:
            raise DownloadError(f"{image_src}: no photometric zero point (ZEROPT/PHOTZP/MAGZERO) in the header")
        psf = psf_fwhm_arcsec if psf_fwhm_arcsec is not None else _first(header, ("PSF_FWHM", "SEEING"))
        if psf is None:
            raise DownloadError(f"{image_src}: no PSF FWHM (PSF_FWHM/SEEING) in the header")
        out_header = wcs.to_header()
        for key in ("OBJECT", "ORIGFILE", "FILTER", "DATE-OBS", "MJD-OBS", "EXPTIME", "GAIN", "PROV1", "ABMAGLIM"):
            if key in header:
                out_header[key] = header[key]
        out_header["PSF_FWHM"] = (float(psf), "PSF FWHM [arcsec]")
        out_header["ZEROPT"] = (float(zp), "mag = ZEROPT - 2.5 log10(counts)")
        out_header["PIXSCALE"] = (pixscale, "arcsec per pixel")
        if release:
            out_header["KIDSREL"] = (release, "KiDS release of the coadd")
        data = _as_float32(hdu.data)
        with atomic_path(out_image) as tmp:
            fits.PrimaryHDU(data, header=out_header).writeto(tmp, overwrite=True)
        shape = data.shape
    for src, out, kind in ((weight_src, out_weight, "weight"), (mask_src, out_mask, "mask")):
        with fits.open(src, memmap=True) as hdul:
            aux = _image_hdu(hdul, src)
            if aux.data.shape != shape:
                raise DownloadError(f"{src}: shape {aux.data.shape} differs from the image's {shape}")
            values = _as_float32(aux.data) if kind == "weight" else _as_mask(aux.data)
            hdr = wcs.to_header()
            hdr["PIXSCALE"] = (pixscale, "arcsec per pixel")
            with atomic_path(out) as tmp:
                fits.PrimaryHDU(values, header=hdr).writeto(tmp, overwrite=True)


def _as_float32(data):
    """``data`` as float32; a (memory-mapped) float32 array is passed on as it is, not copied (1.5 GB per coadd)."""
    return data if data.dtype.kind == "f" and data.dtype.itemsize == 4 else np.asarray(data, dtype=np.float32)


def _as_mask(data):
    """A mask as int16, > 0 masked: NaN -> 1, values clipped to 0..32767 (KiDS DR4 masks are 8-bit: no clip needed)."""
    if data.dtype.kind in "iu" and 0 <= np.iinfo(data.dtype).min and np.iinfo(data.dtype).max <= 32767:
        return data.astype(np.int16)
    if data.dtype.kind == "f":
        data = np.nan_to_num(data, nan=1)
    return np.clip(data, 0, 32767).astype(np.int16)
