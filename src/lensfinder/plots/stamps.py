"""Stamp images for inspection: asinh-stretched or Lupton g, r, i PNGs, and labelled mosaics."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from lensfinder.io import atomic_path
from lensfinder.plots.style import pyplot, save_figure

__all__ = ["stamp_rgb", "render_stamp_png", "write_mosaic"]


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
    return make_lupton_rgb(*bands, stretch=max(stretch, 1e-12), Q=Q, minimum=0.0)


def render_stamp_png(path, r: np.ndarray, g: np.ndarray | None = None, i: np.ndarray | None = None,
                     upscale: int = 2) -> Path:
    """Write one stamp as PNG atomically: asinh-stretched r band, or g, r, i Lupton RGB.

    North is up (row 0 of the array at the bottom of the image), as in the
    coadd's TAN WCS. ``upscale`` repeats pixels so small stamps stay crisp.
    """
    import matplotlib.image as mpimg

    if g is not None and i is not None:
        img = stamp_rgb(g, r, i)
        cmap = None
    else:
        img = _asinh_norm(np.asarray(r, dtype=float))
        cmap = "gray"
    img = img[::-1]
    if upscale > 1:
        img = np.repeat(np.repeat(img, upscale, axis=0), upscale, axis=1)
    with atomic_path(path) as tmp:
        mpimg.imsave(tmp, img, cmap=cmap, vmin=None if cmap is None else 0.0, vmax=None if cmap is None else 1.0,
                     format="png")
    return Path(path)


def write_mosaic(png_paths: Sequence, labels: Sequence[str], path, *, ncols: int = 10, title: str = "",
                 tile_inches: float = 1.3) -> Path:
    """Grid of stamps with a label over each, written atomically.

    Each item of ``png_paths`` is a PNG path or a 2-D image array (counts;
    shown with the asinh stretch of :func:`render_stamp_png`, north up).
    With no stamps the figure says so, so that the file always exists.
    ``tile_inches`` is the width of one stamp (inches).
    """
    import matplotlib.image as mpimg

    plt = pyplot()
    n = len(png_paths)
    ncols = max(1, min(ncols, n)) if n else 1
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(tile_inches * ncols, (tile_inches + 0.25) * nrows + 0.3),
                             squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    if n == 0:
        axes[0, 0].text(0.5, 0.5, "no candidates", ha="center", va="center", fontsize=9)
    for ax, png, label in zip(axes.ravel(), png_paths, labels):
        if isinstance(png, np.ndarray):
            ax.imshow(_asinh_norm(np.asarray(png, dtype=float)), cmap="gray", origin="lower", vmin=0, vmax=1)
        else:
            ax.imshow(mpimg.imread(png))
        ax.set_title(str(label), fontsize=5, pad=2)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout(pad=0.3)
    return save_figure(fig, path, dpi=150, bbox_inches=None)
