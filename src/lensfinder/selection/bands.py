"""The bands of one tile for stamp cutting: each band's pixels, WCS, mask, weight, PSF and zero point, aligned.

Stamps of every band are centred on the same sky position: the detection
band's nearest coadd pixel to the catalogue position. Bands on the detection
band's pixel grid (the mock survey, the Legacy Surveys cutouts) share its
pixel centre; a band with its own WCS (KiDS coadds of one tile) is cut at
that pixel centre's sky position, at its own nearest pixel (no resampling:
the bands must share the pixel scale).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator, Sequence

import numpy as np

from lensfinder.io import InputError
from lensfinder.selection.tiles import celestial_wcs, open_tile, tile_properties

__all__ = ["BandImage", "open_band_images", "reference_band", "band_positions", "per_band"]

#: Largest relative difference of two bands' pixel scales that still counts as one grid.
PIXEL_SCALE_TOLERANCE = 0.01


@dataclasses.dataclass
class BandImage:
    """One band of a tile.

    Attributes
    ----------
    band : str
    data : numpy.ndarray, shape (ny, nx)
        The coadd in counts (a memory map is fine).
    wcs : astropy.wcs.WCS
        Its celestial WCS.
    psf_fwhm_arcsec, zeropoint_mag, pixel_scale_arcsec : float
    mask, weight : numpy.ndarray or None
        Mask (> 0 masked) and inverse-variance weight (<= 0 no data), same shape as ``data``.
    source : str
        The image file, for messages.
    """

    band: str
    data: np.ndarray
    wcs: object
    psf_fwhm_arcsec: float
    zeropoint_mag: float
    pixel_scale_arcsec: float
    mask: np.ndarray | None = None
    weight: np.ndarray | None = None
    source: str = "image"

    def __post_init__(self):
        for name in ("mask", "weight"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != self.data.shape:
                raise InputError(f"{self.source}: {name}: shape {arr.shape} differs from the image's {self.data.shape}")


def per_band(values, bands: Sequence[str], what: str) -> list:
    """``values`` as one entry per band: None -> Nones, a scalar or path -> itself for a single band."""
    n = len(bands)
    if values is None:
        return [None] * n
    if isinstance(values, (str, bytes, float, int)) or hasattr(values, "__fspath__"):
        values = [values]
    values = [None if v in ("", None) else v for v in values]
    if len(values) != n:
        raise InputError(f"{what}: {len(values)} given for {n} band(s) ({', '.join(bands)}); expected one per band")
    return values


@contextlib.contextmanager
def open_band_images(images, bands: Sequence[str], *, masks=None, weights=None, psf_fwhm_arcsec=None,
                     zeropoint_mag=None) -> Iterator[list[BandImage]]:
    """Open one tile's image (and mask, weight) files per band, memory-mapped; close them on exit.

    Parameters
    ----------
    images : path or sequence of path
        One coadd FITS per band, in ``bands`` order.
    bands : sequence of str
    masks, weights : path or sequence of path, optional
        One per band (None where a band has none).
    psf_fwhm_arcsec, zeropoint_mag : float or sequence of float, optional
        Override the headers' PSF FWHM (arcsec) and zero point (mag), one per band.
    """
    bands = list(bands)
    paths = per_band(images, bands, "images")
    masks, weights = per_band(masks, bands, "masks"), per_band(weights, bands, "weights")
    psfs, zps = per_band(psf_fwhm_arcsec, bands, "PSF FWHMs"), per_band(zeropoint_mag, bands, "zero points")
    handles = []
    try:
        opened = []
        for band, path, mask, weight, psf, zp in zip(bands, paths, masks, weights, psfs, zps):
            coadd = open_tile(path, f"image, band {band}")
            handles.append(coadd)
            wcs = celestial_wcs(coadd.header, path)
            psf, zp, scale = tile_properties(coadd.header, str(path), psf, zp, wcs)
            aux = {}
            for name, aux_path in (("mask", mask), ("weight", weight)):
                if aux_path:
                    aux[name] = open_tile(aux_path, f"{name}, band {band}")
                    handles.append(aux[name])
            opened.append(BandImage(band, coadd.data, wcs, psf, zp, scale,
                                    mask=aux["mask"].data if "mask" in aux else None,
                                    weight=aux["weight"].data if "weight" in aux else None, source=str(path)))
        yield opened
    finally:
        for h in handles:
            h.close()


def reference_band(images: Sequence[BandImage], detection_band: str) -> int:
    """Index of the band the stamps are aligned on: the detection band, else the first band."""
    names = [im.band for im in images]
    return names.index(detection_band) if detection_band in names else 0


def _same_grid(a: BandImage, b: BandImage) -> bool:
    return a.data.shape == b.data.shape and bool(a.wcs.wcs.compare(b.wcs.wcs, tolerance=1e-9))


def band_positions(images: Sequence[BandImage], reference: int, x_pix, y_pix) -> list[tuple]:
    """``(x, y)`` stamp centres in every band, from the reference band's pixel positions.

    A band on the reference grid gets the reference positions; any other gets
    the sky position of the reference's nearest pixel centre, in its own pixels.

    Raises
    ------
    InputError
        A band's pixel scale differs from the reference's (stamps are never resampled).
    """
    ref = images[reference]
    x_pix, y_pix = np.asarray(x_pix, dtype=float), np.asarray(y_pix, dtype=float)
    sky = None
    positions = []
    for im in images:
        if abs(im.pixel_scale_arcsec / ref.pixel_scale_arcsec - 1.0) > PIXEL_SCALE_TOLERANCE:
            raise InputError(f"{im.source}: band {im.band}: {im.pixel_scale_arcsec:.4g}\"/px, but the "
                             f"{ref.band} band has {ref.pixel_scale_arcsec:.4g}\"/px; stamps are not resampled: "
                             "give every band on the same pixel scale")
        if im is ref or _same_grid(im, ref):
            positions.append((x_pix, y_pix))
            continue
        if sky is None:
            sky = ref.wcs.celestial.all_pix2world(np.rint(x_pix), np.rint(y_pix), 0) if len(x_pix) else (x_pix, y_pix)
        x, y = im.wcs.celestial.all_world2pix(*sky, 0) if len(x_pix) else (x_pix, y_pix)
        positions.append((np.asarray(x, dtype=float), np.asarray(y, dtype=float)))
    return positions
