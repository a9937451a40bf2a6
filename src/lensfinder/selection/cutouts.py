"""Square cutouts of a tile's arrays: the stamps themselves, and their masked and NaN fractions.

A stamp of ``size`` pixels is centred on the nearest pixel of its position
(no resampling); beyond the tile's edge it is padded and flagged. The
fractions read the tile's mask and weight only where stamps fall, in chunks
of :data:`STAMP_CHUNK`. Conventions: docs/selection.md.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STAMP_CHUNK", "cut_stamps", "stamp_fractions", "band_fractions"]

#: Stamps per chunk when computing masked/NaN fractions (bounds the memory).
STAMP_CHUNK = 512


def _window_indices(x_pix, y_pix, size: int):
    xc = np.rint(np.asarray(x_pix, dtype=float)).astype(np.int64)
    yc = np.rint(np.asarray(y_pix, dtype=float)).astype(np.int64)
    half = size // 2
    return xc - half, yc - half


def cut_stamps(image, x_pix, y_pix, size: int, fill_value: float = 0.0, dtype=np.float32, out=None):
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
    out : ndarray, shape (n, size, size), optional
        Where to write the stamps (e.g. one band of a band cube); ``dtype`` is then its dtype.

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
    stamps = np.empty((n, size, size), dtype=dtype) if out is None else out
    if stamps.shape != (n, size, size):
        raise ValueError(f"out has shape {stamps.shape}, expected {(n, size, size)}")
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
    """Masked and NaN fractions of each stamp of one band.

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
    return band_fractions([(stamps, x_pix, y_pix, image_shape, mask, weight)], size)


def band_fractions(bands, size: int):
    """Masked and NaN fractions of each stamp over several bands.

    Parameters
    ----------
    bands : sequence of tuple
        Per band ``(stamps (n, size, size), x_pix, y_pix, image_shape, mask,
        weight)``, as for :func:`stamp_fractions`.
    size : int

    Returns
    -------
    masked_fraction, nan_fraction : ndarray, shape (n,)
        A pixel counts as masked when it is masked, without weight or padded
        in any band; the NaN fraction counts the non-finite coadd pixels of
        all bands together.
    """
    n = len(bands[0][0])
    masked_fraction = np.zeros(n)
    nan_fraction = np.zeros(n)
    offsets = np.arange(size)
    # chunks bound the memory of the boolean masks (a KiDS tile has ~4000 BG objects)
    for lo in range(0, n, STAMP_CHUNK):
        sl = slice(lo, min(lo + STAMP_CHUNK, n))
        bad_any, n_nonfinite, n_inside = None, 0, 0
        for stamps, x_pix, y_pix, (ny, nx), mask, weight in bands:
            x_pix = np.asarray(x_pix, dtype=float)[sl]
            y_pix = np.asarray(y_pix, dtype=float)[sl]
            x0, y0 = _window_indices(x_pix, y_pix, size)
            rows_ok = (y0[:, None] + offsets >= 0) & (y0[:, None] + offsets < ny)
            cols_ok = (x0[:, None] + offsets >= 0) & (x0[:, None] + offsets < nx)
            inside = rows_ok[:, :, None] & cols_ok[:, None, :]
            bad = ~inside
            if mask is not None:
                native = mask.dtype.newbyteorder("=")
                bad |= cut_stamps(mask, x_pix, y_pix, size, fill_value=0, dtype=native)[0] > 0
            if weight is not None:
                bad |= cut_stamps(weight, x_pix, y_pix, size, fill_value=1.0, dtype=np.float32)[0] <= 0
            bad_any = bad if bad_any is None else bad_any | bad
            n_nonfinite = n_nonfinite + (~np.isfinite(stamps[sl]) & inside).sum(axis=(1, 2))
            n_inside = n_inside + inside.sum(axis=(1, 2))
        masked_fraction[sl] = bad_any.mean(axis=(1, 2))
        nan_fraction[sl] = n_nonfinite / np.maximum(n_inside, 1)
    return masked_fraction, nan_fraction
