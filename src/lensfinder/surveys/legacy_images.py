"""DESI Legacy Surveys images from the viewer's FITS cutout service: image, inverse variance and maskbits.

What the service sends, read from its source (legacysurvey/imagine,
``map/views.py``, ``get_cutout`` and ``write_cutout``): ``size`` is clipped
to 3000 px without an error; the flags ``invvar`` and ``maskbits`` add an
inverse-variance HDU and a maskbits HDU after the image, told apart by the
header card ``IMAGETYP`` (``IMAGE``, ``INVVAR``, ``MASKBITS``), and only at
the native pixel scale; uncovered sky is 0 with inverse variance 0; a
position no brick touches raises on the server (HTTP 500). Details:
``docs/surveys.md``.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from pathlib import Path

import numpy as np

from lensfinder.io import InputError, atomic_path
from lensfinder.surveys.base import DownloadError, cache_folder, download_file, own_session
from lensfinder.surveys.columns import NANOMAGGY_ZEROPOINT_MAG

__all__ = [
    "LEGACY_CUTOUT_URL",
    "LEGACY_PIXEL_SCALE_ARCSEC",
    "LEGACY_ZEROPOINT_MAG",
    "LEGACY_DR10_R_PSF_FWHM_ARCSEC",
    "LEGACY_MAX_SIZE_PIX",
    "LEGACY_MASK_BITS",
    "legacy_mask_bits",
    "assumed_psf_fwhm",
    "NO_DATA_BIT",
    "check_field",
    "cutout_params",
    "read_cutout",
    "check_complete",
    "sky_weight",
    "fetch_cutout",
    "download_field_image",
]

log = logging.getLogger(__name__)

LEGACY_CUTOUT_URL = "https://www.legacysurvey.org/viewer/fits-cutout"
#: Native DECam pixel scale of the Legacy Surveys coadds (Dey et al. 2019).
LEGACY_PIXEL_SCALE_ARCSEC = 0.262
#: Legacy Surveys images are in nanomaggies: mag = 22.5 - 2.5 log10(flux) (Dey et al. 2019).
LEGACY_ZEROPOINT_MAG = NANOMAGGY_ZEROPOINT_MAG
#: Assumed r-band PSF FWHM (arcsec) when the caller gives none: a typical
#: DECaLS r-band seeing of about 1.2" (an assumption, not a measured value;
#: the cutout service reports no PSF).
LEGACY_DR10_R_PSF_FWHM_ARCSEC = 1.2
#: The service clips ``size`` to this without an error (``maxsize = 3000`` in
#: its ``get_cutout``), so a larger request would come back smaller.
LEGACY_MAX_SIZE_PIX = 3000
#: DR10 MASKBITS (legacysurvey.org/dr10/bitmasks) that mask a pixel of an
#: r-band search: BRIGHT (1), SATUR_R (3), ALLMASK_R (6), MEDIUM (11), CLUSTER (13)
LEGACY_MASK_BITS = (1 << 1) | (1 << 3) | (1 << 6) | (1 << 11) | (1 << 13)
#: DR10 MASKBITS saturation and all-mask bits per band (legacysurvey.org/dr10/bitmasks):
#: SATUR_G 2, SATUR_R 3, SATUR_Z 4, ALLMASK_G 5, ALLMASK_R 6, ALLMASK_Z 7, SATUR_I 14, ALLMASK_I 15
_BAND_MASK_BITS = {"g": (2, 5), "r": (3, 6), "z": (4, 7), "i": (14, 15)}


def assumed_psf_fwhm(band: str, r_band_arcsec: float = LEGACY_DR10_R_PSF_FWHM_ARCSEC) -> float:
    """The seeing written as ``PSF_FWHM`` of a ``band`` image (the service reports none): ``r_band_arcsec``
    in r, the Legacy preset's median in g and z (Dey et al. 2019, :mod:`lensfinder.surveys.presets.legacy`),
    the r band's in i (the preset has no i)."""
    from lensfinder.surveys.presets import get_preset

    preset = get_preset("legacy")
    return float(preset.band(band).psf_fwhm_arcsec if band != "r" and band in preset.bands else r_band_arcsec)


def legacy_mask_bits(band: str) -> int:
    """The MASKBITS that mask a pixel of a ``band`` search: BRIGHT, SATUR_<band>, ALLMASK_<band>, MEDIUM, CLUSTER
    (:data:`LEGACY_MASK_BITS` for r)."""
    if band not in _BAND_MASK_BITS:
        raise InputError(f"Legacy Surveys band {band!r}: expected one of {', '.join(_BAND_MASK_BITS)}")
    satur, allmask = _BAND_MASK_BITS[band]
    return (1 << 1) | (1 << satur) | (1 << allmask) | (1 << 11) | (1 << 13)
#: mask value of a pixel without data (outside the footprint, inverse variance
#: 0, not finite); bit 0 (NPRIMARY, a brick edge, not a defect) is never kept
NO_DATA_BIT = 1

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
                         "(the cutout service clips larger requests; split a larger area into several fields)")
    return name, ra_deg, dec_deg, size


def cutout_params(ra_deg: float, dec_deg: float, size_pix: int, *, bands: str = "r", layer: str = "ls-dr10",
                  pixscale_arcsec: float = LEGACY_PIXEL_SCALE_ARCSEC, invvar: bool = True,
                  maskbits: bool = True) -> dict:
    """Query parameters of one cutout request (``invvar``/``maskbits``: ask for those HDUs too)."""
    if not (0 <= ra_deg < 360 and -90 <= dec_deg <= 90):
        raise InputError(f"cutout: position ({ra_deg}, {dec_deg}) deg out of range")
    if not 1 <= int(size_pix) <= LEGACY_MAX_SIZE_PIX:
        raise InputError(f"cutout: size {size_pix} px; expected 1..{LEGACY_MAX_SIZE_PIX} (the service's cap)")
    if not bands or any(b not in "grizY" for b in bands):
        raise InputError(f"cutout: bands {bands!r}; expected letters from 'griz'")
    params = {"ra": f"{ra_deg:.7f}", "dec": f"{dec_deg:.7f}", "layer": layer, "pixscale": f"{pixscale_arcsec:g}",
              "bands": bands, "size": str(int(size_pix))}
    # the service tests only whether the flag is present ('invvar' in req.GET)
    params.update({k: "" for k, on in (("invvar", invvar), ("maskbits", maskbits)) if on})
    return params


def _plane(hdu):
    data = np.asarray(hdu.data)
    return data[0] if data.ndim == 3 else data  # one band asked for: (1, y, x)


def check_complete(raw) -> None:
    """Raise unless ``raw`` is a FITS file holding every byte its headers announce.

    The ``verify`` of a cutout download: the viewer may send no ``Content-Length``, so an answer cut off
    mid-stream is only seen here, before it gets its cache name.
    """
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning

    size = Path(raw).stat().st_size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)  # "may have been truncated": said below
            with fits.open(raw) as hdul:
                ends = [hdul.fileinfo(k)["datLoc"] + hdul.fileinfo(k)["datSpan"] for k in range(len(hdul))]
    except Exception as exc:  # astropy raises several types for a file that is not FITS
        raise ValueError(f"not a readable FITS file: {type(exc).__name__}: {exc}") from exc
    if not ends or max(ends) > size:
        raise ValueError(f"not a readable FITS file: cut off at byte {size} of the {max(ends, default=0)} "
                         "its headers announce")


def read_cutout(raw, what: str) -> dict:
    """The HDUs of a cutout answer: ``{"image", "invvar", "maskbits", "wcs", "header"}`` (absent ones ``None``).

    HDUs are told apart by ``IMAGETYP`` as the service writes them (then
    ``EXTNAME``; an untyped first image is the image). A file that cannot be
    read (not FITS, cut off), holds no image or HDUs of different shapes is
    removed from the cache (a bad answer must not stick: a rerun asks again)
    and raises :class:`~lensfinder.surveys.base.DownloadError` naming it.
    """
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning
    from astropy.wcs import WCS

    def bad(message: str) -> DownloadError:
        Path(raw).unlink(missing_ok=True)
        return DownloadError(f"{raw}: {message} ({what}; removed from the cache, a rerun downloads it again)")

    planes: dict = {"image": None, "invvar": None, "maskbits": None}
    header = None
    try:
        check_complete(raw)
    except ValueError as exc:
        raise bad(str(exc)) from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)
            with fits.open(raw) as hdul:
                for hdu in hdul:
                    if hdu.data is None or np.ndim(hdu.data) < 2:
                        continue
                    kind = str(hdu.header.get("IMAGETYP", "") or hdu.header.get("EXTNAME", "")).strip().upper()
                    kind = {"IMAGE": "image", "INVVAR": "invvar", "IVAR": "invvar", "MASKBITS": "maskbits"}.get(
                        kind, "image" if planes["image"] is None else "")
                    if kind and planes[kind] is None:
                        planes[kind] = _plane(hdu)
                        if kind == "image":
                            header = hdu.header.copy()
    except Exception as exc:  # astropy raises many types (OSError, ValueError, TypeError) for a bad file
        raise bad(f"not a readable FITS file: {type(exc).__name__}: {exc}") from exc
    if planes["image"] is None:
        raise bad("no image data in the cutout")
    image = planes["image"].astype(np.float32)
    if image.ndim != 2:
        raise bad(f"expected a 2-D cutout, got shape {image.shape}")
    for kind in ("invvar", "maskbits"):
        if planes[kind] is not None and planes[kind].shape != image.shape:
            raise bad(f"{kind} HDU shape {planes[kind].shape} differs from the image's {image.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 3-axis header's band axis is dropped here
        wcs = WCS(header).celestial
    return {**planes, "image": image, "wcs": wcs, "header": header}


def sky_weight(image) -> float:
    """Inverse variance ``1 / sigma^2`` of the sky, ``sigma = 1.4826 MAD`` of covered pixels.

    Covered pixels are finite and not exactly 0 (the viewer fills uncovered
    sky with 0). Returns 0 when nothing is covered or the MAD is 0. The
    fallback weight when the service sends no inverse variance.
    """
    values = np.asarray(image, dtype=np.float64)
    values = values[np.isfinite(values) & (values != 0)]
    if values.size < 2:
        return 0.0
    mad = float(np.median(np.abs(values - np.median(values))))
    sigma = 1.4826 * mad
    return 1.0 / sigma**2 if sigma > 0 else 0.0


def _weight_and_mask(cutout: dict, mask_bits: int, what: str):
    """Weight (float32), mask (int32: DR10 MASKBITS reach bit 15, ALLMASK_I) and a note on where the weight came
    from."""
    image, invvar, maskbits = cutout["image"], cutout["invvar"], cutout["maskbits"]
    no_data = ~np.isfinite(image) | (image == 0)
    if invvar is not None:
        invvar = np.asarray(invvar, dtype=np.float32)
        no_data |= ~np.isfinite(invvar) | (invvar <= 0)
        weight = np.where(no_data, 0.0, invvar).astype(np.float32)
        note = "INVVAR HDU of the service"
    else:
        log.warning("%s: the service sent no inverse variance (it has none off the native pixel scale); "
                    "using one robust sky weight for the whole image", what)
        weight = np.where(no_data, 0.0, sky_weight(image)).astype(np.float32)
        note = "1/sigma^2, sigma = 1.4826 MAD of the sky"
    mask = np.where(no_data, NO_DATA_BIT, 0)
    if maskbits is not None:
        mask = mask | (np.asarray(maskbits, dtype=np.int64) & (mask_bits & ~NO_DATA_BIT))
    return weight, mask.astype(np.int32), no_data, note


def _tile_header(wcs, band, layer, psf_fwhm_arcsec, pixscale_arcsec):
    """Header of a tile image in the pipeline's format (docs/architecture.md)."""
    header = wcs.to_header()
    header["BAND"] = (band, "Legacy Surveys band")
    header["SURVEY"] = (layer, "Legacy Surveys layer")
    header["PSF_FWHM"] = (float(psf_fwhm_arcsec), "PSF FWHM [arcsec] (assumed; service gives none)")
    header["ZEROPT"] = (LEGACY_ZEROPOINT_MAG, "nanomaggies: mag = 22.5 - 2.5 log10(counts)")
    header["PIXSCALE"] = (float(pixscale_arcsec), "arcsec per pixel")
    return header


def _fetch(ra_deg, dec_deg, size_pix, out, *, band, layer, base_url, pixscale_arcsec, cache_dir, retries,
           backoff_s, session, what) -> dict:
    """Download (or reuse) one cutout answer and read it; a 500 is explained as the footprint's edge."""
    params = cutout_params(ra_deg, dec_deg, size_pix, bands=band, layer=layer, pixscale_arcsec=pixscale_arcsec)
    name = f"{layer}_{band}_{ra_deg:.6f}_{dec_deg:+.6f}_{size_pix}_{pixscale_arcsec:g}_ivm.fits"
    with own_session(session) as session:
        try:
            raw = download_file(base_url, cache_folder(cache_dir, out) / name, session=session, params=params,
                                retries=retries, backoff_s=backoff_s, what=what, verify=check_complete)
        except DownloadError as exc:
            if " 500 " not in str(exc) and "500 Server Error" not in str(exc):
                raise
            raise DownloadError(f"{exc} (the viewer answers HTTP 500 for a position that no {layer} brick "
                                "touches: outside the survey footprint? check ra/dec)") from exc
    return read_cutout(raw, what) | {"raw": raw}


def _write_tile(cutout: dict, out_image, out_weight, out_mask, *, band, layer, psf_fwhm_arcsec, pixscale_arcsec,
                mask_bits, what, extra_cards=()):
    from astropy.io import fits

    weight, mask, no_data, note = _weight_and_mask(cutout, mask_bits, what)
    if no_data.all():
        Path(cutout["raw"]).unlink(missing_ok=True)  # not kept: a rerun asks again
        raise DownloadError(f"{cutout['raw']}: {what}: no covered pixel (all zero or without inverse variance): "
                            f"outside the {layer} footprint; check ra/dec")
    wcs = cutout["wcs"]
    out_header = _tile_header(wcs, band, layer, psf_fwhm_arcsec, pixscale_arcsec)
    for key, value, comment in extra_cards:
        out_header[key] = (value, comment)
    aux_header = wcs.to_header()
    aux_header["PIXSCALE"] = (float(pixscale_arcsec), "arcsec per pixel")
    outs = (Path(out_image), Path(out_weight), Path(out_mask))
    with atomic_path(outs[0]) as tmp:
        fits.PrimaryHDU(cutout["image"], header=out_header).writeto(tmp, overwrite=True)
    with atomic_path(outs[1]) as tmp:
        hdr = aux_header.copy()
        hdr["WEIGHT"] = (note[:68], "how the weight was made")
        fits.PrimaryHDU(weight, header=hdr).writeto(tmp, overwrite=True)
    with atomic_path(outs[2]) as tmp:
        hdr = aux_header.copy()
        hdr["MASKBITS"] = (int(mask_bits & ~NO_DATA_BIT), "DR10 MASKBITS bits kept; 1: no data")
        fits.PrimaryHDU(mask, header=hdr).writeto(tmp, overwrite=True)
    log.info("%s: wrote %s (%d of %d pixels masked; weight: %s)", what, outs[0], int((mask > 0).sum()), mask.size,
             note)
    return outs


def _psf_or_default(psf_fwhm_arcsec: float | None, band: str) -> float:
    return assumed_psf_fwhm(band) if psf_fwhm_arcsec is None else psf_fwhm_arcsec


def _check_mask_bits(mask_bits: int | None, band: str) -> int:
    """``mask_bits``, or the ``band``'s :func:`legacy_mask_bits` where None."""
    if mask_bits is None:
        return legacy_mask_bits(band)
    if not 0 <= int(mask_bits) <= 65535:
        raise InputError(f"mask_bits: {mask_bits}; expected DR10 MASKBITS bits 1..15 (0..65535)")
    return int(mask_bits)


def fetch_cutout(ra_deg: float, dec_deg: float, size_arcsec: float, out, *, band: str = "r",
                 layer: str = "ls-dr10", base_url: str = LEGACY_CUTOUT_URL,
                 pixscale_arcsec: float = LEGACY_PIXEL_SCALE_ARCSEC,
                 psf_fwhm_arcsec: float | None = None, mask_bits: int | None = None,
                 cache_dir=None, retries: int = 4, backoff_s: float = 2.0, session=None) -> tuple[Path, Path, Path]:
    """Download one band's cutout (image, inverse variance, maskbits) and write it as a tile.

    ``cache_dir`` keeps the raw answers (default: a cache folder beside ``out``); ``psf_fwhm_arcsec``
    default: the band's :func:`assumed_psf_fwhm`, ``mask_bits`` default: the band's :func:`legacy_mask_bits`.

    Returns
    -------
    (image, weight, mask) : tuple of pathlib.Path
        ``out``, ``out`` with ``.weight.fits`` and ``.mask.fits``.
    """
    size_pix = int(math.ceil(size_arcsec / pixscale_arcsec))
    what = f"Legacy Surveys {layer} {band}-band cutout at ({ra_deg:.5f}, {dec_deg:.5f})"
    cutout = _fetch(ra_deg, dec_deg, size_pix, out, band=band, layer=layer, base_url=base_url,
                    pixscale_arcsec=pixscale_arcsec, cache_dir=cache_dir, retries=retries, backoff_s=backoff_s,
                    session=session, what=what)
    out = Path(out)
    stem = out.name.removesuffix(".fits")
    return _write_tile(cutout, out, out.with_name(f"{stem}.weight.fits"), out.with_name(f"{stem}.mask.fits"),
                       band=band, layer=layer, psf_fwhm_arcsec=_psf_or_default(psf_fwhm_arcsec, band),
                       pixscale_arcsec=pixscale_arcsec, mask_bits=_check_mask_bits(mask_bits, band), what=what)


def download_field_image(field: str, ra_deg: float, dec_deg: float, size_pix: int, out_image, out_weight, out_mask,
                         *, base_url: str = LEGACY_CUTOUT_URL, layer: str = "ls-dr10", band: str = "r",
                         pixscale_arcsec: float = LEGACY_PIXEL_SCALE_ARCSEC,
                         psf_fwhm_arcsec: float | None = None, mask_bits: int | None = None,
                         cache_dir=None, retries: int = 4, backoff_s: float = 2.0,
                         session=None) -> tuple[Path, Path, Path]:
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
        The tile files: image with ``PSF_FWHM`` (``psf_fwhm_arcsec``, assumed; default the band's
        :func:`assumed_psf_fwhm`),
        ``ZEROPT`` 22.5 and ``PIXSCALE``; weight = the service's inverse
        variance (a robust sky weight, :func:`sky_weight`, with a warning,
        when it sends none); mask int32 = the service's maskbits & ``mask_bits``,
        plus :data:`NO_DATA_BIT` where there is no data.
    mask_bits : int, optional
        DR10 MASKBITS bits that mask a pixel (default: the band's :func:`legacy_mask_bits`;
        :data:`LEGACY_MASK_BITS` in r).
    cache_dir : path, optional
        Raw answers (default: a cache folder beside ``out_image``).

    Raises
    ------
    DownloadError
        Also for a field with no covered pixel (outside the footprint).
    """
    field, ra_deg, dec_deg, size_pix = check_field(field, ra_deg, dec_deg, size_pix)
    psf_fwhm_arcsec = _psf_or_default(psf_fwhm_arcsec, band)
    if not (psf_fwhm_arcsec > 0):
        raise InputError(f"field {field}: psf_fwhm_arcsec {psf_fwhm_arcsec}: expected > 0 arcsec")
    what = f"Legacy Surveys {layer} {band}-band image of field {field}"
    cutout = _fetch(ra_deg, dec_deg, size_pix, out_image, band=band, layer=layer, base_url=base_url,
                    pixscale_arcsec=pixscale_arcsec, cache_dir=cache_dir, retries=retries, backoff_s=backoff_s,
                    session=session, what=what)
    if cutout["image"].shape != (size_pix, size_pix):
        Path(cutout["raw"]).unlink(missing_ok=True)
        raise DownloadError(f"{cutout['raw']}: {what}: expected a {size_pix}x{size_pix} image, got shape "
                            f"{cutout['image'].shape}")
    if not cutout["wcs"].has_celestial:
        raise DownloadError(f"{cutout['raw']}: {what}: no celestial WCS in the answer")
    return _write_tile(cutout, out_image, out_weight, out_mask, band=band, layer=layer,
                       psf_fwhm_arcsec=psf_fwhm_arcsec, pixscale_arcsec=pixscale_arcsec,
                       mask_bits=_check_mask_bits(mask_bits, band), what=what,
                       extra_cards=[("FIELD", field, "Legacy Surveys field (the pipeline's tile)")])
