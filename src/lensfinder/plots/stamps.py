"""Stamp images for inspection: asinh-stretched single bands, Lupton colour composites, labelled mosaics.

Composites follow Lupton et al. (2004) through astropy's ``make_lupton_rgb``:
i, r, g -> R, G, B for g, r, i stamps; z, r, g for g, r, z; in general the
reddest, a middle and the bluest band (:func:`composite_bands`); one band
is grey.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from lensfinder.io import atomic_path
from lensfinder.plots.style import pyplot, save_figure
from lensfinder.surveys.presets.base import band_wavelength_order

__all__ = ["stamp_rgb", "composite_bands", "stamp_composite", "render_stamp_png", "render_band_png", "write_mosaic"]


def _asinh_norm(image: np.ndarray) -> np.ndarray:
    """``image`` scaled to [0, 1]: 99.5 % percentile interval, asinh stretch (a = 0.1); NaN -> median."""
    from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

    finite = np.isfinite(image)
    if not finite.any():
        return np.zeros(image.shape, dtype=float)
    clean = np.where(finite, image, np.nanmedian(image[finite]))
    norm = ImageNormalize(clean, interval=PercentileInterval(99.5), stretch=AsinhStretch(a=0.1), clip=True)
    return np.asarray(norm(clean), dtype=float)


def stamp_rgb(g: np.ndarray, r: np.ndarray, i: np.ndarray, *, stretch: float | None = None,
              Q: float = 8.0) -> np.ndarray:
    """Lupton et al. (2004) colour composite (i, r, g -> R, G, B), uint8 ``(ny, nx, 3)``.

    Parameters
    ----------
    g, r, i : numpy.ndarray
        Stamps of one object in the three bands (counts, same shape).
    stretch : float, optional
        Linear stretch of :func:`astropy.visualization.make_lupton_rgb`
        (counts); defaults to the r-band 99.5th percentile, so that stamps of
        different brightness all show their faint features.
    Q : float
        Asinh softening parameter.
    """
    from astropy.visualization import make_lupton_rgb

    bands = [np.nan_to_num(np.asarray(b, dtype=float)) for b in (i, r, g)]
    if stretch is None:
        stretch = float(np.percentile(bands[1], 99.5)) or 1.0
    # blank pixels (padding beyond the tile edge) are 0/0 inside astropy, which then sets them to 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return make_lupton_rgb(*bands, stretch=max(stretch, 1e-12), Q=Q, minimum=0.0)


def composite_bands(bands) -> tuple:
    """The bands of a composite's red, green and blue channels, each a tuple of band names.

    g, r, i (whatever else there is) -> i, r, g; otherwise the reddest band,
    the middle one and the bluest (g, r, z -> z, r, g; VIS, Y, J, H -> H, J,
    VIS); two bands -> red, both averaged, blue; one band -> itself in all three.
    """
    bands = tuple(bands)
    if {"g", "r", "i"} <= set(bands):
        return ("i",), ("r",), ("g",)
    ordered = band_wavelength_order(bands)
    if len(ordered) == 2:
        return (ordered[1],), ordered, (ordered[0],)
    return (ordered[-1],), (ordered[len(ordered) // 2],), (ordered[0],)


def stamp_composite(stamp: np.ndarray, bands, *, zeropoints=None, Q: float = 8.0) -> np.ndarray:
    """Lupton composite of one object's stamp in several bands, uint8 ``(ny, nx, 3)``.

    Parameters
    ----------
    stamp : numpy.ndarray, shape (n_bands, ny, nx)
        Counts, in ``bands`` order.
    bands : sequence of str
    zeropoints : sequence of float, optional
        Per band (mag): the counts are put on one AB flux scale first, so the
        colours are the sky's, not the zero points'.
    Q : float
        Asinh softening parameter.
    """
    bands = list(bands)
    stamp = np.asarray(stamp, dtype=float)
    if stamp.ndim != 3 or len(stamp) != len(bands):
        raise ValueError(f"stamp of shape {stamp.shape} for bands {bands}: expected (n_bands, ny, nx)")
    if zeropoints is not None:
        scale = 10 ** (-0.4 * (np.asarray(zeropoints, dtype=float) - np.nanmax(zeropoints)))
        stamp = stamp * scale[:, None, None]
    red, green, blue = (np.mean([stamp[bands.index(b)] for b in channel], axis=0)
                        for channel in composite_bands(bands))
    return stamp_rgb(blue, green, red, Q=Q)


def render_stamp_png(path, r: np.ndarray, g: np.ndarray | None = None, i: np.ndarray | None = None,
                     upscale: int = 2) -> Path:
    """Write one stamp as PNG atomically: asinh-stretched r band, or g, r, i Lupton RGB.

    North is up (row 0 of the array at the bottom of the image), as in the
    coadd's TAN WCS. ``upscale`` repeats pixels so small stamps stay crisp.
    """
    if g is not None and i is not None:
        return _write_png(path, stamp_rgb(g, r, i), None, upscale)
    return _write_png(path, _asinh_norm(np.asarray(r, dtype=float)), "gray", upscale)


def render_band_png(path, stamp: np.ndarray, bands, *, zeropoints=None, upscale: int = 2) -> Path:
    """Write one stamp of any bands as PNG atomically: grey for one band, a Lupton composite for several.

    ``stamp`` is ``(ny, nx)`` or ``(n_bands, ny, nx)`` in ``bands`` order
    (:func:`stamp_composite`; ``zeropoints`` per band). North is up.
    """
    stamp = np.asarray(stamp)
    if stamp.ndim == 2 or len(stamp) == 1:
        return render_stamp_png(path, stamp.reshape(stamp.shape[-2:]), upscale=upscale)
    return _write_png(path, stamp_composite(stamp, bands, zeropoints=zeropoints), None, upscale)


def _write_png(path, img, cmap, upscale: int) -> Path:
    import matplotlib.image as mpimg

    img = img[::-1]
    if upscale > 1:
        img = np.repeat(np.repeat(img, upscale, axis=0), upscale, axis=1)
    with atomic_path(path) as tmp:
        # zlib level 1: 1.5x the PNGs per second of the default level 6, files 1.17x as large (benchmarks/mosaic.py)
        mpimg.imsave(tmp, img, cmap=cmap, vmin=None if cmap is None else 0.0, vmax=None if cmap is None else 1.0,
                     format="png", pil_kwargs={"compress_level": 1})
    return Path(path)


#: mosaic geometry, inches: the band above each stamp for its label, and the margin around a stamp
_LABEL_INCHES = 0.25
_MARGIN_INCHES = 0.03


def write_mosaic(png_paths: Sequence, labels: Sequence[str], path, *, ncols: int = 10, title: str = "",
                 tile_inches: float = 1.3) -> Path:
    """Grid of stamps with a label over each, written atomically.

    Each item of ``png_paths`` is a PNG path, a 2-D image array (counts;
    shown with the asinh stretch of :func:`render_stamp_png`, north up) or
    an RGB composite ``(ny, nx, 3)`` uint8 (:func:`stamp_composite`, north up).
    With no stamps the figure says so, so that the file always exists.
    ``tile_inches`` is the width of one stamp (inches). The stamps and labels
    are drawn on one axes in inch coordinates (each cell a stamp with its label
    band above it, the title in a band of its own at the top): a hundred axes
    laid out by ``tight_layout`` took about three times as long, both saved at
    the same zlib level (benchmarks/mosaic.py). The PNG is saved at zlib level 1,
    about 1.2x as fast as the default level 6 for files about 1.26x as large.
    """
    import matplotlib.image as mpimg

    plt = pyplot()
    n = len(png_paths)
    ncols = max(1, min(ncols, n)) if n else 1
    nrows = max(1, -(-n // ncols))
    title_inches = 0.35 if title else 0.0
    cell_height = tile_inches + _LABEL_INCHES
    width, height = tile_inches * ncols, cell_height * nrows + 0.1 + title_inches
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    if n == 0:
        ax.text(0.5 * width, 0.5 * height, "no candidates", ha="center", va="center", fontsize=9)
    side = tile_inches - 2 * _MARGIN_INCHES
    for k, (png, label) in enumerate(zip(png_paths, labels)):
        row, col = divmod(k, ncols)
        x0 = col * tile_inches + _MARGIN_INCHES
        y0 = height - title_inches - (row + 1) * cell_height + _MARGIN_INCHES
        extent = (x0, x0 + side, y0, y0 + side)
        if isinstance(png, np.ndarray) and png.ndim == 3:
            ax.imshow(png, origin="lower", extent=extent)
        elif isinstance(png, np.ndarray):
            ax.imshow(_asinh_norm(np.asarray(png, dtype=float)), cmap="gray", origin="lower", vmin=0, vmax=1,
                      extent=extent)
        else:
            ax.imshow(mpimg.imread(png), origin="upper", extent=extent)
        ax.text(x0 + side / 2, y0 + side + 0.03, str(label), ha="center", va="bottom", fontsize=5)
    # inch coordinates, set once all is drawn (each imshow sets its own limits and aspect)
    ax.set(xlim=(0, width), ylim=(0, height), aspect="auto")
    if title:  # centred in its own band, above every label
        fig.suptitle(title, fontsize=8, y=1 - 0.5 * title_inches / height, va="center")
    png = Path(path).suffix.lower() in ("", ".png")
    return save_figure(fig, path, dpi=150, bbox_inches=None, **({"pil_kwargs": {"compress_level": 1}} if png else {}))
