"""Stamps: square r-band cutouts of the preselected galaxies of one tile.

The tile is opened once, memory-mapped; every selected object's centre comes
from its catalogue ``RAJ2000``/``DECJ2000`` through the tile's WCS in one
vectorised call (never the catalogue's ``Xpos``/``Ypos``, which live on a
0.213"/px grid), and all stamps are cut in one pass over the tile in row
order (:func:`cut_stamps`).

Geometry
--------
A stamp of ``size`` pixels has its centre pixel at index ``size // 2`` on the
coadd pixel nearest to the object's position (no resampling): stamp pixel
``(i, j)`` is coadd pixel ``(round(y) - size//2 + i, round(x) - size//2 + j)``.

Edges, masks, NaN
-----------------
- A stamp reaching beyond the tile is padded with ``fill_value`` (0, the
  background level of background-subtracted coadds) and flagged ``edge``.
- ``masked_fraction``: fraction of the stamp's pixels with no good data:
  mask > 0, weight <= 0 (when given) or padding.
- ``nan_fraction``: fraction of non-finite pixels in the coadd part of the
  stamp. They are kept as they are in the cube (downstream preprocessing
  decides how to fill them).
- Objects whose centre pixel lies outside the tile are skipped; the log says
  how many.

Outputs
-------
cube (``results/stamps/{tile}.fits``)
    float32 ``(n, size, size)``, :func:`lensfinder.io.write_cube` format, extra
    header ``TILE``, ``PSF_FWHM``.
index (``results/stamps/{tile}.parquet``), one row per cube row
    ``object_id`` (str), ``tile`` (str), ``ra``, ``dec`` (deg), ``x_pix``,
    ``y_pix`` (0-based coadd pixel of the object's position, float; the
    stamp centre is its rounded value), ``edge`` (bool), ``masked_fraction``,
    ``nan_fraction`` (0-1), ``psf_fwhm_arcsec``, ``zeropoint_mag``,
    ``pixel_scale_arcsec``, then one bool column per requested sample.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from lensfinder import constants
from lensfinder.io import InputError, read_table, require_columns, write_cube, write_table

__all__ = [
    "cut_stamps",
    "stamp_fractions",
    "select_objects",
    "tile_properties",
    "extract_stamps",
    "open_tile",
    "INDEX_COLUMNS",
    "add_stamps_arguments",
    "run_stamps",
]

log = logging.getLogger(__name__)

#: Index columns before the sample flags, with dtypes.
INDEX_COLUMNS = {
    "object_id": "str", "tile": "str", "ra": "float64", "dec": "float64",
    "x_pix": "float64", "y_pix": "float64", "edge": "bool",
    "masked_fraction": "float64", "nan_fraction": "float64",
    "psf_fwhm_arcsec": "float64", "zeropoint_mag": "float64", "pixel_scale_arcsec": "float64",
}
#: Header keys that hold the PSF FWHM (arcsec) and the zero point, in order of preference.
PSF_KEYS = ("PSF_FWHM", "PSFFWHM", "SEEING")
#: Stamps per chunk when computing masked/NaN fractions (bounds the memory).
STAMP_CHUNK = 512
ZEROPOINT_KEYS = ("ZEROPT", "PHOTZP", "MAGZPT", "MAGZERO")


def _window_indices(x_pix, y_pix, size: int):
    xc = np.rint(np.asarray(x_pix, dtype=float)).astype(np.int64)
    yc = np.rint(np.asarray(y_pix, dtype=float)).astype(np.int64)
    half = size // 2
    return xc - half, yc - half


def cut_stamps(image, x_pix, y_pix, size: int, fill_value: float = 0.0, dtype=np.float32):
    """Cut square stamps centred on pixel positions, padding at the edges.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Any 2-D array; a memory map is read only where stamps fall.
    x_pix, y_pix : array_like, shape (n,)
        0-based pixel positions (column, row) of the stamp centres; rounded
        to the nearest pixel.
    size : int
        Stamp side, pixels; the centre is at index ``size // 2``.
    fill_value : float
        Value of pixels beyond the image.
    dtype : numpy dtype
        Output dtype (native byte order).

    Returns
    -------
    stamps : ndarray, shape (n, size, size)
    edge : ndarray of bool, shape (n,)
        True where the stamp reached beyond the image and was padded.

    Notes
    -----
    Window corners, edge flags and overlaps are computed for all objects at
    once; the copy itself is one slice assignment per stamp, in row order so
    that a memory-mapped tile is read front to back once. We measured the
    alternatives (``benchmarks/stamps.py``): a single fancy-indexing gather
    from a sliding-window view is memory-bound and needs a second pass to
    turn FITS big-endian data into native floats, which makes it about 1.5x
    slower than slice copies, which convert while they copy.
    """
    if size < 1:
        raise ValueError(f"stamp size must be >= 1, got {size}")
    image = image if isinstance(image, np.ndarray) else np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {image.shape}")
    ny, nx = image.shape
    x0, y0 = _window_indices(x_pix, y_pix, size)
    n = len(x0)
    stamps = np.empty((n, size, size), dtype=dtype)
    # overlap of each window with the image, in image and in stamp coordinates
    ya, yb = np.clip(y0, 0, ny), np.clip(y0 + size, 0, ny)
    xa, xb = np.clip(x0, 0, nx), np.clip(x0 + size, 0, nx)
    edge = (ya != y0) | (xa != x0) | (yb != y0 + size) | (xb != x0 + size)
    order = np.argsort(y0, kind="stable")
    for k, y_lo, y_hi, x_lo, x_hi, e, sy, sx in zip(
            order.tolist(), ya[order].tolist(), yb[order].tolist(), xa[order].tolist(), xb[order].tolist(),
            edge[order].tolist(), y0[order].tolist(), x0[order].tolist()):
        if not e:
            stamps[k] = image[y_lo:y_hi, x_lo:x_hi]
            continue
        stamps[k] = fill_value
        if y_hi > y_lo and x_hi > x_lo:
            stamps[k, y_lo - sy:y_hi - sy, x_lo - sx:x_hi - sx] = image[y_lo:y_hi, x_lo:x_hi]
    return stamps, edge


def stamp_fractions(stamps, x_pix, y_pix, image_shape, size: int, mask=None, weight=None):
    """Masked and NaN fractions of each stamp.

    Parameters
    ----------
    stamps : ndarray, shape (n, size, size)
        Stamps from :func:`cut_stamps`.
    x_pix, y_pix : array_like
        Their centres (as passed to :func:`cut_stamps`).
    image_shape : tuple
        ``(ny, nx)`` of the tile.
    size : int
    mask, weight : ndarray, optional
        Tile mask (> 0 masked) and inverse-variance weight (<= 0 no data).

    Returns
    -------
    masked_fraction, nan_fraction : ndarray, shape (n,)
        Pixels masked, without weight or padded; non-finite pixels of the
        coadd part (padding excluded from both numerator and denominator).
    """
    n = len(stamps)
    masked_fraction = np.zeros(n)
    nan_fraction = np.zeros(n)
    ny, nx = image_shape
    x_pix = np.asarray(x_pix, dtype=float)
    y_pix = np.asarray(y_pix, dtype=float)
    offsets = np.arange(size)
    # chunks bound the memory of the boolean masks (a KiDS tile has ~4000 BG objects)
    for lo in range(0, n, STAMP_CHUNK):
        sl = slice(lo, min(lo + STAMP_CHUNK, n))
        x0, y0 = _window_indices(x_pix[sl], y_pix[sl], size)
        rows_ok = (y0[:, None] + offsets >= 0) & (y0[:, None] + offsets < ny)
        cols_ok = (x0[:, None] + offsets >= 0) & (x0[:, None] + offsets < nx)
        inside = rows_ok[:, :, None] & cols_ok[:, None, :]
        bad = ~inside
        if mask is not None:
            native = mask.dtype.newbyteorder("=")
            bad |= cut_stamps(mask, x_pix[sl], y_pix[sl], size, fill_value=0, dtype=native)[0] > 0
        if weight is not None:
            bad |= cut_stamps(weight, x_pix[sl], y_pix[sl], size, fill_value=1.0, dtype=np.float32)[0] <= 0
        nonfinite = ~np.isfinite(stamps[sl]) & inside
        masked_fraction[sl] = bad.mean(axis=(1, 2))
        nan_fraction[sl] = nonfinite.sum(axis=(1, 2)) / np.maximum(inside.sum(axis=(1, 2)), 1)
    return masked_fraction, nan_fraction


def select_objects(catalog: pd.DataFrame, flags: pd.DataFrame, tile: str, samples, *,
                   catalog_source: str = "catalogue", flags_source: str = "flags") -> pd.DataFrame:
    """Rows of ``tile`` selected by any of ``samples``, with the sample flags joined.

    Returns
    -------
    pandas.DataFrame
        ``ID``, ``RAJ2000``, ``DECJ2000`` and one bool column per sample, in
        catalogue order.
    """
    samples = list(samples)
    if not samples:
        raise InputError(f"{flags_source}: no sample named; expected at least one sample flag column")
    require_columns(catalog, ["ID", "KIDS_TILE", "RAJ2000", "DECJ2000"], catalog_source, "KiDS catalogue")
    require_columns(flags, ["ID", *samples], flags_source, "preselection flags")
    for s in samples:
        if not pd.api.types.is_bool_dtype(flags[s]):
            raise InputError(f"{flags_source}: {s}: expected a bool sample flag column, got dtype {flags[s].dtype}")
    rows = catalog.loc[catalog["KIDS_TILE"].astype(str) == tile, ["ID", "RAJ2000", "DECJ2000"]]
    if flags["ID"].duplicated().any():
        dup = flags.loc[flags["ID"].duplicated(), "ID"].iloc[0]
        raise InputError(f"{flags_source}: ID: expected unique IDs, {dup!r} appears more than once")
    merged = rows.merge(flags[["ID", *samples]], on="ID", how="left", validate="many_to_one")
    n_unflagged = int(merged[samples[0]].isna().sum())
    if n_unflagged:
        log.warning("%s: %d catalogue rows of tile %s have no row in %s; treated as not selected",
                    catalog_source, n_unflagged, tile, flags_source)
    for s in samples:
        merged[s] = merged[s].fillna(False).astype(bool)
    return merged.loc[merged[samples].any(axis=1)].reset_index(drop=True)


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


def extract_stamps(image, wcs, selection: pd.DataFrame, samples, tile: str, size: int,
                   psf_fwhm_arcsec: float, zeropoint_mag: float, pixel_scale_arcsec: float,
                   mask=None, weight=None, fill_value: float = 0.0):
    """Stamps and index of the selected objects of one tile.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        The coadd (a memory map is fine).
    wcs : astropy.wcs.WCS
        Its celestial WCS.
    selection : pandas.DataFrame
        ``ID``, ``RAJ2000``, ``DECJ2000`` and the sample flags
        (:func:`select_objects`).
    samples : sequence of str
    tile : str
    size : int
    psf_fwhm_arcsec, zeropoint_mag, pixel_scale_arcsec : float
    mask, weight : ndarray, optional
        Same shape as ``image``.

    Returns
    -------
    stamps : ndarray, float32, shape (n, size, size)
    index : pandas.DataFrame
        Columns :data:`INDEX_COLUMNS` + samples, one row per stamp.
    n_outside : int
        Selected objects skipped because their centre is off the tile.
    """
    ny, nx = image.shape
    for name, arr in (("mask", mask), ("weight", weight)):
        if arr is not None and arr.shape != image.shape:
            raise InputError(f"{name}: shape {arr.shape} differs from the image's {image.shape}")
    ra = selection["RAJ2000"].to_numpy(dtype=float)
    dec = selection["DECJ2000"].to_numpy(dtype=float)
    if len(selection):
        x, y = wcs.celestial.all_world2pix(ra, dec, 0)
    else:
        x = y = np.zeros(0)
    xi, yi = np.rint(x), np.rint(y)
    on_tile = np.isfinite(x) & np.isfinite(y) & (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny)
    n_outside = int((~on_tile).sum())
    sel = selection.loc[on_tile].reset_index(drop=True)
    x, y = x[on_tile], y[on_tile]
    stamps, edge = cut_stamps(image, x, y, size, fill_value=fill_value)
    masked_fraction, nan_fraction = stamp_fractions(stamps, x, y, image.shape, size, mask=mask, weight=weight)
    index = pd.DataFrame({
        "object_id": sel["ID"].astype(str).to_numpy(),
        "tile": tile,
        "ra": ra[on_tile], "dec": dec[on_tile],
        "x_pix": x, "y_pix": y, "edge": edge,
        "masked_fraction": masked_fraction, "nan_fraction": nan_fraction,
        "psf_fwhm_arcsec": psf_fwhm_arcsec, "zeropoint_mag": zeropoint_mag,
        "pixel_scale_arcsec": pixel_scale_arcsec,
    })
    index = index.astype(INDEX_COLUMNS)
    for s in samples:
        index[s] = sel[s].to_numpy(dtype=bool)
    return stamps, index, n_outside


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
    import warnings

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


# --------------------------------------------------------------------------- CLI

def add_stamps_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder stamps``."""
    parser.add_argument("--image", required=True, help="tile coadd FITS (r band)")
    parser.add_argument("--weight", help="inverse-variance weight FITS (weight <= 0 counts as masked)")
    parser.add_argument("--mask", help="mask FITS (> 0 masked)")
    parser.add_argument("--catalog", required=True, help="catalogue Parquet (ID, KIDS_TILE, RAJ2000, DECJ2000)")
    parser.add_argument("--flags", required=True, help="preselection flags Parquet (ID + sample columns)")
    parser.add_argument("--tile", required=True, help="tile name (catalogue KIDS_TILE)")
    parser.add_argument("--samples", nargs="+", default=["bg_li2020", "lrg_li2020"],
                        help="sample flag columns; an object is cut when any is true")
    parser.add_argument("--size", type=int, default=constants.LI2020_STAMP_SIZE,
                        help=f"stamp side, pixels (default {constants.LI2020_STAMP_SIZE}, Li et al. 2020)")
    parser.add_argument("--psf-fwhm-arcsec", type=float, help="override the header's PSF FWHM")
    parser.add_argument("--zeropoint-mag", type=float, help="override the header's zero point")
    parser.add_argument("--out-cube", required=True, help="output FITS cube")
    parser.add_argument("--out-index", required=True, help="output Parquet index")


def run_stamps(args: argparse.Namespace) -> int:
    """Cut one tile's stamps and write the cube and its index."""
    from astropy.wcs import WCS, FITSFixedWarning
    import warnings

    if args.size < 1:
        raise InputError(f"--size: expected a positive number of pixels, got {args.size}")
    catalog = read_table(args.catalog, required=["ID", "KIDS_TILE", "RAJ2000", "DECJ2000"])
    flags = read_table(args.flags, required=["ID", *args.samples])
    selection = select_objects(catalog, flags, args.tile, args.samples,
                               catalog_source=str(args.catalog), flags_source=str(args.flags))
    handles = []
    try:
        tile = open_tile(args.image, "image")
        handles.append(tile)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(tile.header)
        if not wcs.has_celestial:
            raise InputError(f"{args.image}: header: no celestial WCS")
        psf, zp, scale = tile_properties(tile.header, str(args.image), args.psf_fwhm_arcsec, args.zeropoint_mag,
                                         wcs)
        aux = {}
        for name in ("mask", "weight"):
            if getattr(args, name):
                aux[name] = open_tile(getattr(args, name), name)
                handles.append(aux[name])
        try:
            stamps, index, n_outside = extract_stamps(
                tile.data, wcs, selection, args.samples, args.tile, args.size, psf, zp, scale,
                mask=aux["mask"].data if "mask" in aux else None,
                weight=aux["weight"].data if "weight" in aux else None)
        except InputError as exc:
            raise InputError(f"{args.image}: {exc}") from exc
    finally:
        for h in handles:
            h.close()
    if n_outside:
        log.warning("%s: %d selected objects lie outside the tile and were skipped", args.tile, n_outside)
    log.info("%s: %d stamps of %dx%d (%d selected, %d padded at the edge)", args.tile, len(stamps),
             args.size, args.size, len(selection), int(index["edge"].sum()))
    cards = {"TILE": (args.tile, "tile name")}
    if np.isfinite(psf):
        cards["PSF_FWHM"] = (psf, "PSF FWHM of the tile, arcsec")
    write_cube(stamps, args.out_cube, scale, zp, header_cards=cards)
    write_table(index, args.out_index)
    return 0
